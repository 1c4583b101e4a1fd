// Package bootstraptoken is the bootstrap token as Kubernetes stores it: a
// Secret kube-system/bootstrap-token-<id> of type
// bootstrap.kubernetes.io/token whose data holds the token's id and secret,
// its expiration, its usages and its extra groups. The apiserver
// authenticates joining nodes with such tokens, the bootstrap signer signs
// the cluster-info ConfigMap with them and the token cleaner deletes them
// once expired; `ctl token` writes and reads them. The rules (defaults,
// validation and their messages) are kubeadm's, on top of
// k8s.io/cluster-bootstrap.
package bootstraptoken

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	bootstrapsecrets "k8s.io/cluster-bootstrap/util/secrets"
)

// Defaults of `token create`, kubeadm's.
var (
	// DefaultTTL is how long a new token lives.
	DefaultTTL = 24 * time.Hour
	// DefaultUsages lets a token both sign cluster-info (discovery) and
	// authenticate its node (TLS bootstrap).
	DefaultUsages = bootstrapapi.KnownTokenUsages
	// DefaultGroups is the group the RBAC bindings for joining nodes name
	// (their CSRs are created and auto-approved under it).
	DefaultGroups = []string{"system:bootstrappers:kubeadm:default-node-token"}
)

// Token is one bootstrap token.
type Token struct {
	ID     string
	Secret string
	// Description says what the token is for; optional.
	Description string
	// Expires is when the token stops working; nil for never.
	Expires *time.Time
	// Usages are "signing" and "authentication" (the usage-bootstrap-*
	// keys that are "true"), sorted.
	Usages []string
	// Groups are the extra groups the token authenticates as, besides
	// system:bootstrappers.
	Groups []string
}

// String is the token as a person types it: "<id>.<secret>".
func (t *Token) String() string { return bootstraputil.TokenFromIDAndSecret(t.ID, t.Secret) }

// Parse splits "<id>.<secret>", refusing any other shape with kubeadm's
// message.
func Parse(s string) (id, secret string, err error) {
	m := bootstraputil.BootstrapTokenRegexp.FindStringSubmatch(s)
	if len(m) != 3 {
		return "", "", fmt.Errorf("the bootstrap token %q was not of the form %q", s, bootstrapapi.BootstrapTokenPattern)
	}
	return m[1], m[2], nil
}

// Spec is what `token create` is asked for.
type Spec struct {
	// Token is "<id>.<secret>"; empty to generate one.
	Token string
	// TTL is the token's life from now; 0 for a token that never expires.
	TTL         time.Duration
	Usages      []string
	Groups      []string
	Description string
}

// New validates spec and returns the token it describes, generating the
// id and secret unless spec names them. Every problem is reported, each as
// kubeadm words it.
func New(spec Spec, now time.Time) (*Token, error) {
	t := &Token{Description: spec.Description, Usages: spec.Usages, Groups: spec.Groups}
	if spec.Token == "" {
		generated, err := bootstraputil.GenerateBootstrapToken()
		if err != nil {
			return nil, fmt.Errorf("generate bootstrap token: %w", err)
		}
		spec.Token = generated
	}
	var err error
	if t.ID, t.Secret, err = Parse(spec.Token); err != nil {
		return nil, err
	}
	if errs := validate(spec); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	if spec.TTL > 0 {
		// Whole seconds: the Secret keeps RFC 3339 without fractions.
		exp := now.Add(spec.TTL).UTC().Truncate(time.Second)
		t.Expires = &exp
	}
	t.Usages = append([]string(nil), spec.Usages...)
	sort.Strings(t.Usages)
	return t, nil
}

// validate is kubeadm's ValidateBootstrapTokens for one token: known
// usages; extra groups only for an authentication token, each in the
// system:bootstrappers: tree. The field names are the flags'.
func validate(spec Spec) field.ErrorList {
	var errs field.ErrorList
	if spec.TTL < 0 {
		errs = append(errs, field.Invalid(field.NewPath("ttl"), spec.TTL.String(), "must not be negative"))
	}
	if err := bootstraputil.ValidateUsages(spec.Usages); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("usages"), spec.Usages, err.Error()))
	}
	authentication := strings.TrimPrefix(bootstrapapi.BootstrapTokenUsageAuthentication, bootstrapapi.BootstrapTokenUsagePrefix)
	if len(spec.Groups) > 0 && !slices.Contains(spec.Usages, authentication) {
		errs = append(errs, field.Invalid(field.NewPath("groups"), spec.Groups, fmt.Sprintf("token groups cannot be specified unless --usages includes %q", authentication)))
	}
	for _, g := range spec.Groups {
		if err := bootstraputil.ValidateBootstrapGroupName(g); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("groups"), spec.Groups, err.Error()))
		}
	}
	return errs
}

// SecretName is the name of the Secret that stores the token with id.
func SecretName(id string) string { return bootstraputil.BootstrapTokenSecretName(id) }

// ToSecret is the Secret that stores t, as kubeadm writes it: expiration
// only for a token that expires, a usage-bootstrap-<usage>: "true" key
// per usage, auth-extra-groups comma-separated.
func (t *Token) ToSecret() *corev1.Secret {
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:     []byte(t.ID),
		bootstrapapi.BootstrapTokenSecretKey: []byte(t.Secret),
	}
	if t.Description != "" {
		data[bootstrapapi.BootstrapTokenDescriptionKey] = []byte(t.Description)
	}
	if t.Expires != nil {
		data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(t.Expires.UTC().Format(time.RFC3339))
	}
	for _, u := range t.Usages {
		data[bootstrapapi.BootstrapTokenUsagePrefix+u] = []byte("true")
	}
	if len(t.Groups) > 0 {
		data[bootstrapapi.BootstrapTokenExtraGroupsKey] = []byte(strings.Join(t.Groups, ","))
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: SecretName(t.ID), Namespace: metav1.NamespaceSystem},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data:       data,
	}
}

// FromSecret reads a token back from its Secret, refusing a Secret that
// is not a well-formed token with kubeadm's messages.
func FromSecret(s *corev1.Secret) (*Token, error) {
	id := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenIDKey)
	if id == "" {
		return nil, fmt.Errorf("bootstrap Token Secret has no token-id data: %s", s.Name)
	}
	if s.Name != SecretName(id) {
		return nil, fmt.Errorf("bootstrap token name is not of the form '%s(token-id)'. Actual: %q. Expected: %q",
			bootstrapapi.BootstrapTokenSecretPrefix, s.Name, SecretName(id))
	}
	secret := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenSecretKey)
	if secret == "" {
		return nil, fmt.Errorf("bootstrap Token Secret has no token-secret data: %s", s.Name)
	}
	if _, _, err := Parse(bootstraputil.TokenFromIDAndSecret(id, secret)); err != nil {
		return nil, fmt.Errorf("bootstrap Token Secret is invalid and couldn't be parsed: %w", err)
	}
	t := &Token{ID: id, Secret: secret, Description: bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenDescriptionKey)}
	if exp := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenExpirationKey); exp != "" {
		when, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			return nil, fmt.Errorf("can't parse expiration time of bootstrap token %q: %w", s.Name, err)
		}
		t.Expires = &when
	}
	for k, v := range s.Data {
		if strings.HasPrefix(k, bootstrapapi.BootstrapTokenUsagePrefix) && string(v) == "true" {
			t.Usages = append(t.Usages, strings.TrimPrefix(k, bootstrapapi.BootstrapTokenUsagePrefix))
		}
	}
	sort.Strings(t.Usages)
	if g := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenExtraGroupsKey); g != "" {
		t.Groups = strings.Split(g, ",")
	}
	return t, nil
}
