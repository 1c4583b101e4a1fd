package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"

	"coracle.dev/controller-manager/internal/controller/bootstrapsigner"
	"coracle.dev/controller-manager/internal/controller/tokencleaner"
)

// createToken creates the bootstrap token Secret of id in namespace ns;
// data adds to or overrides its keys.
func (e *env) createToken(ns, id string, data map[string]string) *corev1.Secret {
	e.t.Helper()
	sd := map[string]string{
		bootstrapapi.BootstrapTokenIDKey:               id,
		bootstrapapi.BootstrapTokenSecretKey:           "0123456789abcdef",
		bootstrapapi.BootstrapTokenUsageAuthentication: "true",
		bootstrapapi.BootstrapTokenUsageSigningKey:     "true",
	}
	for k, v := range data {
		sd[k] = v
	}
	s, err := e.client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.BootstrapTokenSecretPrefix + id, Namespace: ns},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		StringData: sd,
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create token %s/%s: %v", ns, id, err)
	}
	return s
}

// rfc3339 is t as a token's expiration.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// clusterInfo returns kube-public/cluster-info, made with kubeconfig if
// the apiserver has not made one.
func (e *env) clusterInfo(kubeconfig string) *corev1.ConfigMap {
	e.t.Helper()
	ctx := context.Background()
	cms := e.client.CoreV1().ConfigMaps(metav1.NamespacePublic)
	cm, err := cms.Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.ConfigMapClusterInfo, Namespace: metav1.NamespacePublic},
			Data:       map[string]string{bootstrapapi.KubeConfigKey: kubeconfig},
		}, metav1.CreateOptions{})
	}
	if err != nil {
		e.t.Fatalf("cluster-info: %v", err)
	}
	return cm
}

// waitSignatures waits until cluster-info carries valid signatures by
// exactly the tokens ids (each with the test's token secret).
func (e *env) waitSignatures(what string, ids ...string) *corev1.ConfigMap {
	e.t.Helper()
	var cm *corev1.ConfigMap
	eventually(e.t, 30*time.Second, "cluster-info signatures: "+what, func() (bool, error) {
		var err error
		cm, err = e.client.CoreV1().ConfigMaps(metav1.NamespacePublic).Get(context.Background(), bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		n := 0
		for k := range cm.Data {
			if len(k) > len(bootstrapapi.JWSSignatureKeyPrefix) && k[:len(bootstrapapi.JWSSignatureKeyPrefix)] == bootstrapapi.JWSSignatureKeyPrefix {
				n++
			}
		}
		if n != len(ids) {
			return false, fmt.Errorf("%d signatures in %v", n, keys(cm.Data))
		}
		for _, id := range ids {
			sig, ok := cm.Data[bootstrapapi.JWSSignatureKeyPrefix+id]
			if !ok || !jws.DetachedTokenIsValid(sig, cm.Data[bootstrapapi.KubeConfigKey], id, "0123456789abcdef") {
				return false, fmt.Errorf("no valid signature by %s in %v", id, keys(cm.Data))
			}
		}
		return true, nil
	})
	return cm
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The bootstrap signer keeps cluster-info signed by exactly the tokens
// allowed to sign: new tokens sign, a changed kubeconfig is signed again,
// and tokens deleted, expired or no longer for signing lose their
// signature.
func TestBootstrapSigner(t *testing.T) {
	e := start(t, withControllers(bootstrapsigner.Name))
	ctx := e.ctx()
	cms := e.client.CoreV1().ConfigMaps(metav1.NamespacePublic)
	secrets := e.client.CoreV1().Secrets(metav1.NamespaceSystem)
	e.clusterInfo("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: \"\"\n")

	e.createToken(metav1.NamespaceSystem, "aaaaaa", nil)
	e.createToken(metav1.NamespaceSystem, "nosign", map[string]string{bootstrapapi.BootstrapTokenUsageSigningKey: "false"})
	e.createToken(metav1.NamespaceSystem, "oldone", map[string]string{bootstrapapi.BootstrapTokenExpirationKey: rfc3339(time.Now().Add(-time.Hour))})
	e.createToken(metav1.NamespaceDefault, "elsewh", nil)
	cm := e.waitSignatures("the signing token", "aaaaaa")

	t.Run("a changed kubeconfig is signed again", func(t *testing.T) {
		cm.Data[bootstrapapi.KubeConfigKey] += "# changed\n"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitSignatures("the changed kubeconfig", "aaaaaa")
	})
	t.Run("a forged signature is removed", func(t *testing.T) {
		cm, err := cms.Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data[bootstrapapi.JWSSignatureKeyPrefix+"forged"] = "eyJhbGciOiJIUzI1NiJ9..x"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitSignatures("without the forged one", "aaaaaa")
	})
	t.Run("a token expiring soon signs until it expires", func(t *testing.T) {
		// Whole seconds, at least 5 s ahead: the signature is seen before
		// it goes. The signer removes it at expiry on its own (no token
		// cleaner runs here).
		expiry := time.Now().Add(6 * time.Second).Truncate(time.Second)
		e.createToken(metav1.NamespaceSystem, "bbbbbb", map[string]string{bootstrapapi.BootstrapTokenExpirationKey: rfc3339(expiry)})
		e.waitSignatures("the expiring token too", "aaaaaa", "bbbbbb")
		e.waitSignatures("the expired token gone", "aaaaaa")
		if time.Now().Before(expiry) {
			t.Errorf("signature removed before the token expired at %v", expiry)
		}
	})
	t.Run("a token no longer for signing loses its signature", func(t *testing.T) {
		s, err := secrets.Get(ctx, "bootstrap-token-aaaaaa", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Data[bootstrapapi.BootstrapTokenUsageSigningKey] = []byte("false")
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitSignatures("none")
	})
	t.Run("a deleted token loses its signature", func(t *testing.T) {
		e.createToken(metav1.NamespaceSystem, "cccccc", nil)
		e.waitSignatures("the new token", "cccccc")
		if err := secrets.Delete(ctx, "bootstrap-token-cccccc", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitSignatures("none after the delete")
	})
}

// The token cleaner deletes expired bootstrap tokens in kube-system, at
// their expiry, and nothing else.
func TestTokenCleaner(t *testing.T) {
	e := start(t, withControllers(tokencleaner.Name))
	ctx := e.ctx()
	secrets := e.client.CoreV1().Secrets(metav1.NamespaceSystem)
	gone := func(ns, name string) func() (bool, error) {
		return func() (bool, error) {
			_, err := e.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		}
	}

	e.createToken(metav1.NamespaceSystem, "forevr", nil)
	e.createToken(metav1.NamespaceDefault, "elsewh", map[string]string{bootstrapapi.BootstrapTokenExpirationKey: rfc3339(time.Now().Add(-time.Hour))})
	if _, err := secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "not-a-token", Namespace: metav1.NamespaceSystem},
		StringData: map[string]string{bootstrapapi.BootstrapTokenExpirationKey: rfc3339(time.Now().Add(-time.Hour))},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.createToken(metav1.NamespaceSystem, "expird", map[string]string{bootstrapapi.BootstrapTokenExpirationKey: rfc3339(time.Now().Add(-time.Hour))})
	eventually(t, 30*time.Second, "the expired token deleted", gone(metav1.NamespaceSystem, "bootstrap-token-expird"))

	expiry := time.Now().Add(3 * time.Second).Truncate(time.Second)
	e.createToken(metav1.NamespaceSystem, "soonxx", map[string]string{bootstrapapi.BootstrapTokenExpirationKey: rfc3339(expiry)})
	eventually(t, 30*time.Second, "the token deleted at its expiry", gone(metav1.NamespaceSystem, "bootstrap-token-soonxx"))
	if time.Now().Before(expiry) {
		t.Errorf("token deleted before it expired at %v", expiry)
	}

	for _, s := range []struct{ ns, name string }{
		{metav1.NamespaceSystem, "bootstrap-token-forevr"},
		{metav1.NamespaceDefault, "bootstrap-token-elsewh"},
		{metav1.NamespaceSystem, "not-a-token"},
	} {
		if _, err := e.client.CoreV1().Secrets(s.ns).Get(ctx, s.name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s/%s: %v (it should be kept)", s.ns, s.name, err)
		}
	}
}
