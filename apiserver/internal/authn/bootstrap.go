package authn

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	bootstrapsecrets "k8s.io/cluster-bootstrap/util/secrets"
	"k8s.io/cluster-bootstrap/util/tokens"
)

// SecretGetter returns the Secret namespace/name, or nil and no error when
// there is none.
type SecretGetter func(ctx context.Context, namespace, name string) (*corev1.Secret, error)

// BootstrapTokens authenticates bootstrap tokens, "<id>.<secret>" with a
// six- and a sixteen-character part of [a-z0-9], as Kubernetes' bootstrap
// token authenticator: the token is the Secret kube-system/
// bootstrap-token-<id> of type bootstrap.kubernetes.io/token, marked
// usage-bootstrap-authentication=true, not expired and not being deleted,
// whose token-secret matches. Its user is system:bootstrap:<id>, in
// system:bootstrappers and the groups its auth-extra-groups lists.
type BootstrapTokens struct {
	// Secrets reads the token Secrets (the apiserver's own store).
	Secrets SecretGetter
	// Now is the clock expirations are read against; nil means time.Now.
	Now func() time.Time
}

var _ TokenAuthenticator = (*BootstrapTokens)(nil)

// AuthenticateToken implements TokenAuthenticator. A token of another
// shape is not its own (ok false, no error); one of its shape that is
// refused comes with the reason, for the log, never for the client.
func (b *BootstrapTokens) AuthenticateToken(ctx context.Context, token string) (*User, bool, error) {
	id, secret, err := tokens.ParseToken(token)
	if err != nil {
		return nil, false, nil
	}
	name := bootstraputil.BootstrapTokenSecretName(id)
	s, err := b.Secrets(ctx, metav1.NamespaceSystem, name)
	if err != nil {
		return nil, false, fmt.Errorf("bootstrap token %s: %w", id, err)
	}
	refuse := func(format string, args ...any) (*User, bool, error) {
		return nil, false, fmt.Errorf("bootstrap secret %s/%s matching bearer token %s", metav1.NamespaceSystem, name, fmt.Sprintf(format, args...))
	}
	switch {
	case s == nil:
		return nil, false, fmt.Errorf("no secret of name %s to match bootstrap bearer token", name)
	case s.DeletionTimestamp != nil:
		return refuse("is deleted and awaiting removal")
	case s.Type != bootstrapapi.SecretTypeBootstrapToken || s.Data == nil:
		return refuse("has invalid type, expected %s", bootstrapapi.SecretTypeBootstrapToken)
	}
	stored := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenSecretKey)
	if subtle.ConstantTimeCompare([]byte(stored), []byte(secret)) != 1 {
		return refuse("has invalid value for key %s", bootstrapapi.BootstrapTokenSecretKey)
	}
	if got := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenIDKey); got != id {
		return refuse("has invalid value for key %s", bootstrapapi.BootstrapTokenIDKey)
	}
	if bootstrapsecrets.HasExpired(s, b.now()) {
		return refuse("has expired or an unparsable %s", bootstrapapi.BootstrapTokenExpirationKey)
	}
	if bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenUsageAuthentication) != "true" {
		return refuse("not marked %s=true", bootstrapapi.BootstrapTokenUsageAuthentication)
	}
	groups, err := bootstrapsecrets.GetGroups(s)
	if err != nil {
		return refuse("has invalid value for key %s: %v", bootstrapapi.BootstrapTokenExtraGroupsKey, err)
	}
	return &User{Name: bootstrapapi.BootstrapUserPrefix + id, Groups: append(groups, AllAuthenticated)}, true, nil
}

func (b *BootstrapTokens) now() time.Time {
	if b.Now == nil {
		return time.Now()
	}
	return b.Now()
}
