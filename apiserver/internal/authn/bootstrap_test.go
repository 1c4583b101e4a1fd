package authn

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testNow is the instant tokens expire against.
var testNow = time.Date(2030, time.June, 1, 12, 0, 0, 0, time.UTC)

func tokenSecret(mutate func(s *corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-abcdef", Namespace: "kube-system"},
		Type:       "bootstrap.kubernetes.io/token",
		Data: map[string][]byte{
			"token-id":                       []byte("abcdef"),
			"token-secret":                   []byte("0123456789abcdef"),
			"usage-bootstrap-authentication": []byte("true"),
			"usage-bootstrap-signing":        []byte("true"),
			"expiration":                     []byte(testNow.Add(time.Hour).Format(time.RFC3339)),
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

// secrets serves one Secret, or an error.
func secrets(s *corev1.Secret, err error) SecretGetter {
	return func(_ context.Context, namespace, name string) (*corev1.Secret, error) {
		if err != nil {
			return nil, err
		}
		if s == nil || s.Namespace != namespace || s.Name != name {
			return nil, nil
		}
		return s, nil
	}
}

func TestBootstrapTokens(t *testing.T) {
	const token = "abcdef.0123456789abcdef"
	tests := []struct {
		name   string
		secret *corev1.Secret
		getErr error
		token  string
		groups []string // nil: refused
		mine   bool     // a refusal says why (the token had the shape)
	}{
		{name: "valid token", secret: tokenSecret(nil), token: token,
			groups: []string{"system:bootstrappers", "system:authenticated"}},
		{name: "no expiration never expires", secret: tokenSecret(func(s *corev1.Secret) { delete(s.Data, "expiration") }), token: token,
			groups: []string{"system:bootstrappers", "system:authenticated"}},
		{name: "extra groups, sorted and deduplicated", secret: tokenSecret(func(s *corev1.Secret) {
			s.Data["auth-extra-groups"] = []byte("system:bootstrappers:kubeadm:default-node-token,system:bootstrappers:a,system:bootstrappers:a")
		}), token: token, groups: []string{"system:bootstrappers", "system:bootstrappers:a", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"}},
		{name: "an extra group outside system:bootstrappers: refused", secret: tokenSecret(func(s *corev1.Secret) {
			s.Data["auth-extra-groups"] = []byte("system:masters")
		}), token: token, mine: true},
		{name: "expired", secret: tokenSecret(func(s *corev1.Secret) {
			s.Data["expiration"] = []byte(testNow.Add(-time.Second).Format(time.RFC3339))
		}), token: token, mine: true},
		{name: "unparsable expiration counts as expired", secret: tokenSecret(func(s *corev1.Secret) { s.Data["expiration"] = []byte("tomorrow") }),
			token: token, mine: true},
		{name: "wrong secret", secret: tokenSecret(nil), token: "abcdef.0123456789abcdee", mine: true},
		{name: "token-id that does not match", secret: tokenSecret(func(s *corev1.Secret) { s.Data["token-id"] = []byte("zzzzzz") }),
			token: token, mine: true},
		{name: "not for authentication", secret: tokenSecret(func(s *corev1.Secret) { s.Data["usage-bootstrap-authentication"] = []byte("false") }),
			token: token, mine: true},
		{name: "no authentication usage at all", secret: tokenSecret(func(s *corev1.Secret) { delete(s.Data, "usage-bootstrap-authentication") }),
			token: token, mine: true},
		{name: "wrong type", secret: tokenSecret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }), token: token, mine: true},
		{name: "being deleted", secret: tokenSecret(func(s *corev1.Secret) { s.DeletionTimestamp = &metav1.Time{Time: testNow} }),
			token: token, mine: true},
		{name: "in another namespace", secret: tokenSecret(func(s *corev1.Secret) { s.Namespace = "default" }), token: token, mine: true},
		{name: "no such token", secret: nil, token: token, mine: true},
		{name: "the store failing is a refusal", getErr: errors.New("etcd down"), token: token, mine: true},
		{name: "another shape is not a bootstrap token", secret: tokenSecret(nil), token: "ABCDEF.0123456789abcdef"},
		{name: "a static token is not a bootstrap token", secret: tokenSecret(nil), token: "some-static-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &BootstrapTokens{Secrets: secrets(tt.secret, tt.getErr), Now: func() time.Time { return testNow }}
			u, ok, err := b.AuthenticateToken(context.Background(), tt.token)
			if tt.groups == nil {
				if ok {
					t.Fatalf("accepted as %+v", u)
				}
				if (err != nil) != tt.mine {
					t.Fatalf("err = %v, want a reason: %v", err, tt.mine)
				}
				if err != nil && strings.Contains(err.Error(), "0123456789abcde") {
					t.Errorf("the reason gives the secret away: %v", err)
				}
				return
			}
			if !ok || err != nil {
				t.Fatalf("refused: %v", err)
			}
			if u.Name != "system:bootstrap:abcdef" || strings.Join(u.Groups, ",") != strings.Join(tt.groups, ",") {
				t.Errorf("user %q groups %v, want groups %v", u.Name, u.Groups, tt.groups)
			}
		})
	}
}

func TestBearerTokenRefusesWhatNoAuthenticatorAccepts(t *testing.T) {
	b := BearerToken{&BootstrapTokens{Secrets: secrets(tokenSecret(nil), nil), Now: func() time.Time { return testNow }}}
	for _, tok := range []string{"abcdef.0123456789abcdee", "not-a-bootstrap-token"} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if _, ok, err := b.Authenticate(r); ok || !errors.Is(err, ErrInvalidToken) {
			t.Errorf("token %q: ok=%v err=%v, want ErrInvalidToken", tok, ok, err)
		}
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer abcdef.0123456789abcdef")
	if u, ok, err := b.Authenticate(r); !ok || err != nil || u.Name != "system:bootstrap:abcdef" {
		t.Errorf("good token: %+v %v %v", u, ok, err)
	}
}

func TestAnonymous(t *testing.T) {
	tf := &TokenFile{tokens: map[string]*User{"good": {Name: "alice", Groups: []string{AllAuthenticated}}}}
	a := WithAnonymous(Union{ClientCert{}, BearerToken{tf}})
	tests := []struct {
		name   string
		header string
		user   string
		ok     bool
	}{
		{"no credential is anonymous", "", Anonymous, true},
		{"a good token is its user", "Bearer good", "alice", true},
		{"a bad token stays refused", "Bearer bad", "", false},
		{"another scheme is no credential", "Basic Zm9vOmJhcg==", Anonymous, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			u, ok, err := a.Authenticate(r)
			if ok != tt.ok {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			if !ok {
				if err == nil {
					t.Fatal("a refusal without a reason")
				}
				return
			}
			if u.Name != tt.user {
				t.Fatalf("user %q", u.Name)
			}
			if u.Name == Anonymous && (len(u.Groups) != 1 || u.Groups[0] != AllUnauthenticated) {
				t.Errorf("anonymous groups %v", u.Groups)
			}
		})
	}
}

func TestUserContext(t *testing.T) {
	if _, ok := UserFrom(context.Background()); ok {
		t.Fatal("a user in an empty context")
	}
	u := &User{Name: "alice"}
	got, ok := UserFrom(WithUser(context.Background(), u))
	if !ok || got != u {
		t.Fatalf("got %v %v", got, ok)
	}
}
