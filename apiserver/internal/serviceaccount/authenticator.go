package serviceaccount

import (
	"context"
	"crypto"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/authn"
)

// Getter reads the objects a token names, from the apiserver's own
// stores. Each method returns the object, or an apierrors NotFound error
// when there is none.
type Getter interface {
	GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
}

// AuthenticatorOptions configure an Authenticator.
type AuthenticatorOptions struct {
	// Issuers are the accepted "iss" values: every --service-account-issuer.
	Issuers []string
	// Keys verify signatures: the --service-account-key-file keys and the
	// signing key's public half (private keys are reduced to theirs).
	Keys []crypto.PublicKey
	// APIAudiences are the audiences a token must share one with, unless
	// the request context names others (authn.WithAudiences): the
	// --api-audiences, which default to the issuers.
	APIAudiences []string
	// Objects reads the ServiceAccounts and the objects tokens are bound
	// to.
	Objects Getter
	// Legacy also accepts the secret-based tokens of issuer
	// "kubernetes/serviceaccount" while their Secret exists and holds them.
	Legacy bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Authenticator authenticates ServiceAccount tokens, as kube-apiserver's
// service account token authenticator with --service-account-lookup: a
// token is good while its signature, issuer, audience and lifetime are,
// and while the ServiceAccount and the object it is bound to exist with
// the UIDs it names and are not deleted.
type Authenticator struct {
	issuers      map[string]bool
	keys         []publicKey
	keysByID     map[string][]publicKey
	apiAudiences []string
	objects      Getter
	legacy       bool
	now          func() time.Time
}

var _ authn.TokenAuthenticator = (*Authenticator)(nil)

// NewAuthenticator returns an Authenticator for o.
func NewAuthenticator(o AuthenticatorOptions) (*Authenticator, error) {
	if len(o.Issuers) == 0 {
		return nil, errors.New("service-account-issuer is a required flag")
	}
	if o.Objects == nil {
		return nil, errors.New("no object getter for service account token lookup")
	}
	keys, err := indexKeys(o.Keys)
	if err != nil {
		return nil, fmt.Errorf("failed to set up public service account keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("no service account verification keys")
	}
	a := &Authenticator{
		issuers:      map[string]bool{},
		keys:         keys,
		keysByID:     map[string][]publicKey{},
		apiAudiences: o.APIAudiences,
		objects:      o.Objects,
		legacy:       o.Legacy,
		now:          o.Now,
	}
	for _, iss := range o.Issuers {
		a.issuers[iss] = true
	}
	for _, k := range keys {
		a.keysByID[k.id] = append(a.keysByID[k.id], k)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// AuthenticateToken implements authn.TokenAuthenticator. A token that is
// not a JWT of one of its issuers is not its own (ok false, no error), so
// other authenticators may try it; one of its own that fails a check
// comes with the reason.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authn.User, bool, error) {
	iss, ok := unverifiedIssuer(token)
	legacy := a.legacy && iss == LegacyIssuer
	if !ok || (!a.issuers[iss] && !legacy) {
		return nil, false, nil
	}
	tok, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil {
		return nil, false, nil
	}
	var kid string
	for _, h := range tok.Headers {
		if h.KeyID != "" {
			kid = h.KeyID
			break
		}
	}
	keys := a.keys
	if kid != "" {
		keys = a.keysByID[kid]
	}
	if len(keys) == 0 {
		return nil, false, errors.New("invalid signature, no keys found")
	}
	public := &jwt.Claims{}
	var private any = &privateClaims{}
	if legacy {
		private = &legacyClaims{}
	}
	var errs []error
	verified := false
	for _, k := range keys {
		if err := tok.Claims(k.key, public, private); err != nil {
			errs = append(errs, err)
			continue
		}
		verified = true
		break
	}
	if !verified {
		return nil, false, errors.Join(errs...)
	}
	// The issuer was read before the signature was checked; check it again.
	if public.Issuer != iss {
		return nil, false, fmt.Errorf("token issuer %q is invalid", public.Issuer)
	}
	auds, err := a.audiences(ctx, public.Audience)
	if err != nil {
		return nil, false, err
	}
	var user *authn.User
	if legacy {
		user, err = a.validateLegacy(ctx, token, public, private.(*legacyClaims))
	} else {
		user, err = a.validate(ctx, public, private.(*privateClaims))
	}
	if err != nil {
		return nil, false, err
	}
	user.Audiences = auds
	return user, true, nil
}

// audiences returns the audiences of the token that the request accepts:
// those of authn.WithAudiences, else the API audiences. A token without
// audiences (a legacy one) is for the API audiences.
func (a *Authenticator) audiences(ctx context.Context, tokenAuds jwt.Audience) ([]string, error) {
	have := []string(tokenAuds)
	if len(have) == 0 {
		have = a.apiAudiences
	}
	want, ok := authn.AudiencesFrom(ctx)
	if !ok {
		want = a.apiAudiences
	}
	var both []string
	for _, h := range have {
		if slices.Contains(want, h) {
			both = append(both, h)
		}
	}
	if len(both) == 0 && len(a.apiAudiences) != 0 {
		return nil, fmt.Errorf("token audiences %q is invalid for the target audiences %q", have, want)
	}
	return both, nil
}

// validate checks a bound token's lifetime and that what it names still
// exists, as Kubernetes' bound token validator. Objects deleted less than
// the clock leeway ago still count, as upstream: a pod being deleted
// gracefully keeps its tokens until its grace period ends.
func (a *Authenticator) validate(ctx context.Context, public *jwt.Claims, private *privateClaims) (*authn.User, error) {
	now := a.now()
	switch err := public.ValidateWithLeeway(jwt.Expected{Time: now}, jwt.DefaultLeeway); {
	case err == nil:
	case errors.Is(err, jwt.ErrExpired):
		return nil, errors.New("service account token has expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, errors.New("service account token is not valid yet")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, errors.New("service account token is issued in the future")
	default:
		return nil, fmt.Errorf("service account token claims could not be validated: %w", err)
	}
	deletedBefore := now.Add(-jwt.DefaultLeeway)
	k := private.Kubernetes
	ns, saRef := k.Namespace, k.Svcacct
	sa, err := a.objects.GetServiceAccount(ctx, ns, saRef.Name)
	if err != nil {
		return nil, err
	}
	if string(sa.UID) != saRef.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, saRef.UID)
	}
	if deletedAt(sa.DeletionTimestamp, deletedBefore) {
		return nil, fmt.Errorf("service account %s/%s has been deleted", ns, saRef.Name)
	}
	invalidated := errors.New("service account token has been invalidated")
	if r := k.Secret; r != nil {
		secret, err := a.objects.GetSecret(ctx, ns, r.Name)
		if err != nil {
			return nil, invalidated
		}
		if string(secret.UID) != r.UID {
			return nil, fmt.Errorf("secret UID (%s) does not match service account secret ref claim (%s)", secret.UID, r.UID)
		}
		if deletedAt(secret.DeletionTimestamp, deletedBefore) {
			return nil, invalidated
		}
	}
	user := &authn.User{
		Name:   authn.ServiceAccountUsername(ns, saRef.Name),
		UID:    saRef.UID,
		Groups: append(authn.ServiceAccountGroups(ns), authn.AllAuthenticated),
		Extra:  map[string][]string{},
	}
	if r := k.Pod; r != nil {
		pod, err := a.objects.GetPod(ctx, ns, r.Name)
		if err != nil {
			return nil, invalidated
		}
		if string(pod.UID) != r.UID {
			return nil, fmt.Errorf("pod UID (%s) does not match service account pod ref claim (%s)", pod.UID, r.UID)
		}
		if deletedAt(pod.DeletionTimestamp, deletedBefore) {
			return nil, invalidated
		}
		if r.Name != "" && r.UID != "" {
			user.Extra[PodNameKey] = []string{r.Name}
			user.Extra[PodUIDKey] = []string{r.UID}
		}
	}
	if r := k.Node; r != nil {
		// A pod-bound token only names its pod's node; a node-bound one
		// lives as long as the node.
		if k.Pod == nil {
			node, err := a.objects.GetNode(ctx, r.Name)
			if err != nil {
				return nil, invalidated
			}
			if string(node.UID) != r.UID {
				return nil, fmt.Errorf("node UID (%s) does not match service account node ref claim (%s)", node.UID, r.UID)
			}
			if deletedAt(node.DeletionTimestamp, deletedBefore) {
				return nil, invalidated
			}
		}
		if r.Name != "" {
			user.Extra[NodeNameKey] = []string{r.Name}
			if r.UID != "" {
				user.Extra[NodeUIDKey] = []string{r.UID}
			}
		}
	}
	if id := CredentialID(public.ID); id != "" {
		user.Extra[CredentialIDKey] = []string{id}
	}
	if len(user.Extra) == 0 {
		user.Extra = nil
	}
	return user, nil
}

// validateLegacy checks a secret-based token, as Kubernetes' legacy
// validator with lookup: its Secret must exist, not be deleted and hold
// this very token, and its ServiceAccount must exist with the UID it
// names. (Upstream also stamps the Secret with a last-used label; this
// one only reads.)
func (a *Authenticator) validateLegacy(ctx context.Context, token string, public *jwt.Claims, c *legacyClaims) (*authn.User, error) {
	switch {
	case public.Subject == "":
		return nil, errors.New("sub claim is missing")
	case c.Namespace == "":
		return nil, errors.New("namespace claim is missing")
	case c.SecretName == "":
		return nil, errors.New("secretName claim is missing")
	case c.ServiceAccountName == "":
		return nil, errors.New("serviceAccountName claim is missing")
	case c.ServiceAccountUID == "":
		return nil, errors.New("serviceAccountUID claim is missing")
	case public.Subject != authn.ServiceAccountUsername(c.Namespace, c.ServiceAccountName):
		return nil, errors.New("sub claim is invalid")
	}
	ns := c.Namespace
	secret, err := a.objects.GetSecret(ctx, ns, c.SecretName)
	if err != nil || secret.DeletionTimestamp != nil {
		return nil, errors.New("Token has been invalidated") //nolint:staticcheck // upstream's message
	}
	if subtle.ConstantTimeCompare(secret.Data[corev1.ServiceAccountTokenKey], []byte(token)) == 0 {
		return nil, errors.New("Token does not match server's copy") //nolint:staticcheck // upstream's message
	}
	sa, err := a.objects.GetServiceAccount(ctx, ns, c.ServiceAccountName)
	if err != nil {
		return nil, err
	}
	if sa.DeletionTimestamp != nil {
		return nil, fmt.Errorf("ServiceAccount %s/%s has been deleted", ns, c.ServiceAccountName)
	}
	if string(sa.UID) != c.ServiceAccountUID {
		return nil, fmt.Errorf("ServiceAccount UID (%s) does not match claim (%s)", sa.UID, c.ServiceAccountUID)
	}
	if secret.Labels[LegacyTokenInvalidSinceLabel] != "" {
		return nil, fmt.Errorf("the token in secret %s/%s for service account %s/%s has been marked invalid. Use tokens from the TokenRequest API or manually created secret-based tokens, or remove the '%s' label from the secret to temporarily allow use of this token", ns, c.SecretName, ns, c.ServiceAccountName, LegacyTokenInvalidSinceLabel)
	}
	return &authn.User{
		Name:   authn.ServiceAccountUsername(ns, c.ServiceAccountName),
		UID:    c.ServiceAccountUID,
		Groups: append(authn.ServiceAccountGroups(ns), authn.AllAuthenticated),
	}, nil
}

// LegacyTokenInvalidSinceLabel marks a secret-based token as no longer
// accepted.
const LegacyTokenInvalidSinceLabel = "kubernetes.io/legacy-token-invalid-since"

// deletedAt reports whether an object with deletionTimestamp t was
// deleted before before.
func deletedAt(t *metav1.Time, before time.Time) bool {
	return t != nil && t.Time.Before(before)
}

// unverifiedIssuer returns the "iss" of a compact JWS, unverified: only to
// pick the authenticator the token is for.
func unverifiedIssuer(token string) (string, bool) {
	if strings.HasPrefix(strings.TrimSpace(token), "{") {
		return "", false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", false
	}
	return claims.Issuer, true
}
