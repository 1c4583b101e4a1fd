package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"

	"coracle.dev/apiserver/internal/authn"
)

// The extra keys of ServiceAccount users' tokens' bindings, as
// k8s.io/apiserver's serviceaccount package has them (their names and
// groups are authn.ServiceAccountUsername and ServiceAccountGroups).
const (
	PodNameKey      = "authentication.kubernetes.io/pod-name"
	PodUIDKey       = "authentication.kubernetes.io/pod-uid"
	NodeNameKey     = "authentication.kubernetes.io/node-name"
	NodeUIDKey      = "authentication.kubernetes.io/node-uid"
	CredentialIDKey = "authentication.kubernetes.io/credential-id"
	// IssuedCredentialIDAuditAnnotationKey is the audit annotation that
	// records the credential ID of a token the TokenRequest API issued.
	IssuedCredentialIDAuditAnnotationKey = "authentication.kubernetes.io/issued-credential-id"
)

const (
	// WarnOnlyBoundTokenExpirationSeconds is the lifetime the ServiceAccount
	// admission plugin asks for in the token volumes it adds: a token asked
	// for with exactly this lifetime, bound to a pod, is given
	// ExpirationExtensionSeconds instead (see TokenRequests).
	WarnOnlyBoundTokenExpirationSeconds = 60*60 + 7
	// ExpirationExtensionSeconds is the lifetime of such an extended token:
	// a year.
	ExpirationExtensionSeconds = 24 * 365 * 60 * 60
	// LegacyIssuer is the issuer of the secret-based tokens Kubernetes wrote
	// into kubernetes.io/service-account-token Secrets.
	LegacyIssuer = "kubernetes/serviceaccount"
)

// CredentialID is the credential ID of a token with ID jti, recorded in
// its user's extra and in audit events, as Kubernetes' CredentialIDForJTI.
func CredentialID(jti string) string {
	if jti == "" {
		return ""
	}
	return "JTI=" + jti
}

// privateClaims are a bound token's claims under "kubernetes.io".
type privateClaims struct {
	Kubernetes kubernetesClaims `json:"kubernetes.io,omitempty"`
}

type kubernetesClaims struct {
	Namespace string           `json:"namespace,omitempty"`
	Svcacct   ref              `json:"serviceaccount,omitempty"`
	Pod       *ref             `json:"pod,omitempty"`
	Secret    *ref             `json:"secret,omitempty"`
	Node      *ref             `json:"node,omitempty"`
	WarnAfter *jwt.NumericDate `json:"warnafter,omitempty"`
}

type ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// legacyClaims are the claims of a secret-based token.
type legacyClaims struct {
	ServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name"`
	ServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid"`
	SecretName         string `json:"kubernetes.io/serviceaccount/secret.name"`
	Namespace          string `json:"kubernetes.io/serviceaccount/namespace"`
}

// Issuer signs tokens.
type Issuer struct {
	// Issuer is the "iss" of the tokens: the first --service-account-issuer.
	Issuer string
	// Signer is the --service-account-signing-key-file key, RSA (RS256)
	// or ECDSA (ES256/384/512 by curve).
	Signer crypto.Signer
}

// Token describes a token to mint.
type Token struct {
	ServiceAccount *corev1.ServiceAccount
	// Pod, Secret or Node is the object the token is bound to, if any; a
	// pod-bound token may also carry the pod's Node, to name it.
	Pod    *corev1.Pod
	Secret *corev1.Secret
	Node   *corev1.Node
	// Audiences is the "aud" claim.
	Audiences []string
	// IssuedAt is "iat" and "nbf"; Expiration after it is "exp".
	IssuedAt   time.Time
	Expiration time.Duration
	// WarnAfter, when not zero, is when after IssuedAt the token counts
	// as stale though it is still accepted (an extended token).
	WarnAfter time.Duration
}

// Mint signs t and returns the token and its ID ("jti", a random UUID).
// Its claims are Kubernetes' bound token claims: iss, sub
// system:serviceaccount:NS:NAME, aud, exp, iat, nbf, jti and
// "kubernetes.io" (namespace, serviceaccount, and pod, secret, node and
// warnafter when set).
func (i *Issuer) Mint(t Token) (token, jti string, err error) {
	sa := t.ServiceAccount
	if t.Secret != nil && (t.Pod != nil || t.Node != nil) {
		return "", "", errors.New("internal error, token can only be bound to one object type")
	}
	jti = uuid.NewString()
	public := &jwt.Claims{
		Issuer:    i.Issuer,
		Subject:   authn.ServiceAccountUsername(sa.Namespace, sa.Name),
		Audience:  jwt.Audience(t.Audiences),
		IssuedAt:  jwt.NewNumericDate(t.IssuedAt),
		NotBefore: jwt.NewNumericDate(t.IssuedAt),
		Expiry:    jwt.NewNumericDate(t.IssuedAt.Add(t.Expiration)),
		ID:        jti,
	}
	private := &privateClaims{Kubernetes: kubernetesClaims{
		Namespace: sa.Namespace,
		Svcacct:   ref{Name: sa.Name, UID: string(sa.UID)},
	}}
	k := &private.Kubernetes
	switch {
	case t.Pod != nil:
		k.Pod = &ref{Name: t.Pod.Name, UID: string(t.Pod.UID)}
		if t.Node != nil {
			k.Node = &ref{Name: t.Node.Name, UID: string(t.Node.UID)}
		}
	case t.Secret != nil:
		k.Secret = &ref{Name: t.Secret.Name, UID: string(t.Secret.UID)}
	case t.Node != nil:
		k.Node = &ref{Name: t.Node.Name, UID: string(t.Node.UID)}
	}
	if t.WarnAfter != 0 {
		k.WarnAfter = jwt.NewNumericDate(t.IssuedAt.Add(t.WarnAfter))
	}
	token, err = i.sign(private, public)
	return token, jti, err
}

// sign serializes claims, a later one winning over an earlier one where
// they share a name (so the registered claims go last), with a kid header
// naming the key.
func (i *Issuer) sign(claims ...any) (string, error) {
	signer, err := joseSigner(i.Signer)
	if err != nil {
		return "", err
	}
	b := jwt.Signed(signer)
	for _, c := range claims {
		b = b.Claims(c)
	}
	return b.Serialize()
}

// joseSigner signs with key under its Kubernetes key ID.
func joseSigner(key crypto.Signer) (jose.Signer, error) {
	if key == nil {
		return nil, errors.New("no service account signing key")
	}
	alg, err := algorithm(key.Public())
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("failed to derive keyID: %w", err)
	}
	jwk := &jose.JSONWebKey{Algorithm: string(alg), Key: key, KeyID: kid, Use: "sig"}
	return jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk}, nil)
}

// algorithm is the JWS algorithm of a key: RS256 for RSA keys, and the
// ECDSA algorithm of the key's curve.
func algorithm(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
		return "", errors.New("unknown private key curve, must be 256, 384, or 521")
	}
	return "", fmt.Errorf("unknown key type %T, must be RSA or ECDSA", pub)
}

// signatureAlgorithms are those the authenticator accepts.
var signatureAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.ES384, jose.ES512}
