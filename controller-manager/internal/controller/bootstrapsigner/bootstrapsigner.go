// Package bootstrapsigner is the bootstrap signer: it signs the
// kubeconfig in kube-public/cluster-info with every bootstrap token
// allowed to sign (a detached JWS per token, key jws-kubeconfig-<id>),
// so a joining node that knows a token can tell the cluster-info it
// fetched anonymously is genuine before it trusts the CA inside.
// Signatures of tokens gone, expired or no longer allowed to sign are
// removed. It is Kubernetes' bootstrap signer
// (pkg/controller/bootstrap/bootstrapsigner.go).
//
// Kubernetes runs it only when asked (--controllers=bootstrapsigner,
// as kubeadm does); Coracle runs it by default, since its nodes join
// only through this discovery.
package bootstrapsigner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
	bootstrapsecret "k8s.io/cluster-bootstrap/util/secrets"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "bootstrapsigner"

// Where the signed ConfigMap and the tokens live.
const (
	ConfigMapNamespace = metav1.NamespacePublic
	ConfigMapName      = bootstrapapi.ConfigMapClusterInfo
	TokenNamespace     = metav1.NamespaceSystem
)

// key is the one work key: everything comes down to one ConfigMap.
const key = ConfigMapNamespace + "/" + ConfigMapName

// SigningToken reads a bootstrap token Secret: its ID and secret if it
// may sign now (its name matches its token-id, it has a token-secret,
// usage-bootstrap-signing is "true" and it has not expired), and when
// it expires (zero if never). ok is false for a Secret that may not sign.
func SigningToken(s *corev1.Secret, now time.Time) (id, secret string, expires time.Time, ok bool) {
	if s.Type != bootstrapapi.SecretTypeBootstrapToken {
		return "", "", time.Time{}, false
	}
	nameID, ok := bootstrapsecret.ParseName(s.Name)
	if !ok {
		return "", "", time.Time{}, false
	}
	id = bootstrapsecret.GetData(s, bootstrapapi.BootstrapTokenIDKey)
	secret = bootstrapsecret.GetData(s, bootstrapapi.BootstrapTokenSecretKey)
	if id == "" || id != nameID || secret == "" {
		return "", "", time.Time{}, false
	}
	if bootstrapsecret.GetData(s, bootstrapapi.BootstrapTokenUsageSigningKey) != "true" {
		return "", "", time.Time{}, false
	}
	left, expired := bootstrapsecret.GetExpiration(s, now)
	if expired {
		return "", "", time.Time{}, false
	}
	if left > 0 {
		expires = now.Add(left)
	}
	return id, secret, expires, true
}

// Signatures is the pure part: the jws-kubeconfig-<id> entries the
// ConfigMap should hold for kubeconfig and these tokens at now, and when
// the first of the signing tokens expires (zero if none does), the time
// to look again.
func Signatures(kubeconfig string, tokens []*corev1.Secret, now time.Time) (map[string]string, time.Time, error) {
	want := map[string]string{}
	var next time.Time
	var errs []error
	for _, s := range tokens {
		id, secret, expires, ok := SigningToken(s, now)
		if !ok {
			continue
		}
		sig, err := jws.ComputeDetachedSignature(kubeconfig, id, secret)
		if err != nil {
			errs = append(errs, fmt.Errorf("sign with token %s: %w", id, err))
			continue
		}
		want[bootstrapapi.JWSSignatureKeyPrefix+id] = sig
		if !expires.IsZero() && (next.IsZero() || expires.Before(next)) {
			next = expires
		}
	}
	return want, next, errors.Join(errs...)
}

// Plan is what to do with cluster-info.
type Plan struct {
	// Data is the ConfigMap's new data; nil if it needs no update.
	Data map[string]string
	// Recheck is when a signing token expires and its signature must
	// go; zero if none will.
	Recheck time.Time
}

// Decide compares cluster-info's data with the signatures it should
// carry. A ConfigMap without a kubeconfig is left alone, as Kubernetes
// leaves it.
func Decide(data map[string]string, tokens []*corev1.Secret, now time.Time) (Plan, error) {
	kubeconfig, ok := data[bootstrapapi.KubeConfigKey]
	if !ok {
		return Plan{}, nil
	}
	want, next, err := Signatures(kubeconfig, tokens, now)
	plan := Plan{Recheck: next}
	newData := map[string]string{}
	for k, v := range data {
		if !strings.HasPrefix(k, bootstrapapi.JWSSignatureKeyPrefix) {
			newData[k] = v
		}
	}
	maps.Copy(newData, want)
	if !maps.Equal(newData, data) {
		plan.Data = newData
	}
	return plan, err
}

// Controller keeps cluster-info signed.
type Controller struct {
	*controller.Base
	client     kubernetes.Interface
	configMaps corelisters.ConfigMapLister
	secrets    corelisters.SecretLister
	log        *zap.Logger
	clock      clock.PassiveClock
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	cmInf := c.Informers.Core().V1().ConfigMaps()
	secretInf := c.Informers.Core().V1().Secrets()
	ctl := &Controller{client: c.Client, configMaps: cmInf.Lister(), secrets: secretInf.Lister(), log: c.Log, clock: c.Clock}
	ctl.Base = controller.NewBase(c, ctl.sync)
	poke := func() { ctl.Enqueue(key) }
	onCM := func(cm *corev1.ConfigMap) {
		if cm.Namespace == ConfigMapNamespace && cm.Name == ConfigMapName {
			poke()
		}
	}
	onSecret := func(s *corev1.Secret) {
		if s.Namespace == TokenNamespace && s.Type == bootstrapapi.SecretTypeBootstrapToken {
			poke()
		}
	}
	return ctl, errors.Join(
		ctl.Watch(cmInf.Informer(), controller.Handlers[*corev1.ConfigMap]{Add: onCM, Update: func(_, cm *corev1.ConfigMap) { onCM(cm) }}),
		ctl.Watch(secretInf.Informer(), controller.OnAll(onSecret)),
	)
}

func (c *Controller) sync(ctx context.Context, _ string) error {
	cm, err := c.configMaps.ConfigMaps(ConfigMapNamespace).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	tokens, err := c.secrets.Secrets(TokenNamespace).List(labels.Everything())
	if err != nil {
		return err
	}
	now := c.clock.Now()
	plan, signErr := Decide(cm.Data, tokens, now)
	if signErr != nil {
		c.log.Warn("bootstrap token cannot sign", zap.Error(signErr))
	}
	if !plan.Recheck.IsZero() {
		c.EnqueueAfter(key, plan.Recheck.Sub(now))
	}
	if plan.Data == nil {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = plan.Data
	_, err = c.client.CoreV1().ConfigMaps(ConfigMapNamespace).Update(ctx, cm, metav1.UpdateOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		// A conflict too: the update event will bring the key back, but
		// a retry with back-off costs nothing and does not depend on it.
		return fmt.Errorf("update configmap %s: %w", key, err)
	}
	c.log.Info("cluster-info signatures updated", zap.Int("signatures", countSignatures(plan.Data)))
	return nil
}

func countSignatures(data map[string]string) int {
	n := 0
	for k := range data {
		if strings.HasPrefix(k, bootstrapapi.JWSSignatureKeyPrefix) {
			n++
		}
	}
	return n
}
