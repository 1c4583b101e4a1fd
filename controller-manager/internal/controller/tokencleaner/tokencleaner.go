// Package tokencleaner is the token cleaner: a bootstrap token Secret in
// kube-system is deleted once its expiration has passed, and looked at
// again at the moment it expires. It is Kubernetes' token cleaner
// (pkg/controller/bootstrap/tokencleaner.go).
//
// Kubernetes runs it only when asked (--controllers=tokencleaner, as
// kubeadm does); Coracle runs it by default, since `ctl token create`
// hands out tokens that must stop existing when they expire.
package tokencleaner

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstrapsecret "k8s.io/cluster-bootstrap/util/secrets"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "tokencleaner"

// TokenNamespace is where bootstrap tokens live.
const TokenNamespace = metav1.NamespaceSystem

// Plan is what to do with one Secret.
type Plan struct {
	// Delete is true when the token has expired (or its expiration
	// does not parse, which Kubernetes treats as expired).
	Delete bool
	// RequeueAfter is how long until the token expires; zero if it never
	// does or is to be deleted now.
	RequeueAfter time.Duration
}

// Decide is the pure part: whether s is a bootstrap token past its
// expiration at now, or when to look again.
func Decide(s *corev1.Secret, now time.Time) Plan {
	if s.Namespace != TokenNamespace || s.Type != bootstrapapi.SecretTypeBootstrapToken || s.DeletionTimestamp != nil {
		return Plan{}
	}
	left, expired := bootstrapsecret.GetExpiration(s, now)
	if expired {
		return Plan{Delete: true}
	}
	return Plan{RequeueAfter: left}
}

// Controller deletes expired bootstrap tokens.
type Controller struct {
	*controller.Base
	client  kubernetes.Interface
	secrets corelisters.SecretLister
	log     *zap.Logger
	clock   clock.PassiveClock
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	inf := c.Informers.Core().V1().Secrets()
	ctl := &Controller{client: c.Client, secrets: inf.Lister(), log: c.Log, clock: c.Clock}
	ctl.Base = controller.NewBase(c, ctl.sync)
	enqueue := func(s *corev1.Secret) {
		if s.Namespace == TokenNamespace && s.Type == bootstrapapi.SecretTypeBootstrapToken {
			ctl.Enqueue(controller.Key(s))
		}
	}
	return ctl, ctl.Watch(inf.Informer(), controller.Handlers[*corev1.Secret]{
		Add:    enqueue,
		Update: func(_, s *corev1.Secret) { enqueue(s) },
	})
}

func (c *Controller) sync(ctx context.Context, key string) error {
	s, ok, err := controller.Get[*corev1.Secret](key, c.secrets.Secrets)
	if !ok {
		return err
	}
	plan := Decide(s, c.clock.Now())
	if plan.RequeueAfter > 0 {
		c.EnqueueAfter(key, plan.RequeueAfter)
	}
	if !plan.Delete {
		return nil
	}
	// Preconditioned on the UID, as Kubernetes does, so a token made
	// again under the same name is not deleted for the old one; and on
	// the resourceVersion we decided on, so an expiration pushed back
	// meanwhile is not overruled by a stale cache (its update event
	// brings the key back).
	err = c.client.CoreV1().Secrets(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &s.UID, ResourceVersion: &s.ResourceVersion},
	})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("delete expired bootstrap token %s: %w", key, err)
	}
	c.log.Info("deleted expired bootstrap token", zap.String("secret", key),
		zap.String("expiration", bootstrapsecret.GetData(s, bootstrapapi.BootstrapTokenExpirationKey)))
	return nil
}
