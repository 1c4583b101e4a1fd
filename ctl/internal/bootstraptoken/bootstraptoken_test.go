package bootstraptoken

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
)

var now = time.Date(2026, 5, 1, 10, 30, 15, 500, time.UTC)

func TestNew(t *testing.T) {
	defaults := Spec{TTL: DefaultTTL, Usages: DefaultUsages, Groups: DefaultGroups}
	with := func(f func(*Spec)) Spec {
		s := defaults
		f(&s)
		return s
	}
	tests := []struct {
		name    string
		spec    Spec
		wantErr string // substrings, "|"-separated; empty for success
		check   func(t *testing.T, tok *Token)
	}{
		{name: "generated token has the kubeadm shape and expires after the TTL", spec: defaults, check: func(t *testing.T, tok *Token) {
			if !bootstraputil.IsValidBootstrapToken(tok.String()) {
				t.Errorf("token %q", tok.String())
			}
			if tok.Expires == nil || !tok.Expires.Equal(time.Date(2026, 5, 2, 10, 30, 15, 0, time.UTC)) {
				t.Errorf("expires %v", tok.Expires)
			}
			if want := []string{"authentication", "signing"}; !reflect.DeepEqual(tok.Usages, want) {
				t.Errorf("usages %q, want %q", tok.Usages, want)
			}
		}},
		{name: "given token is kept", spec: with(func(s *Spec) { s.Token = "abcdef.0123456789abcdef" }), check: func(t *testing.T, tok *Token) {
			if tok.ID != "abcdef" || tok.Secret != "0123456789abcdef" {
				t.Errorf("got %s", tok)
			}
		}},
		{name: "ttl 0 never expires", spec: with(func(s *Spec) { s.TTL = 0 }), check: func(t *testing.T, tok *Token) {
			if tok.Expires != nil {
				t.Errorf("expires %v", tok.Expires)
			}
		}},
		{name: "badly shaped token", spec: with(func(s *Spec) { s.Token = "ABCDEF.0123456789abcdef" }),
			wantErr: `the bootstrap token "ABCDEF.0123456789abcdef" was not of the form "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z"`},
		{name: "unknown usage", spec: with(func(s *Spec) { s.Usages = []string{"signing", "flying"} }),
			wantErr: "usages: Invalid value: |invalid bootstrap token usage string: flying, valid usage options: signing,authentication"},
		{name: "group outside system:bootstrappers:", spec: with(func(s *Spec) { s.Groups = []string{"system:nodes"} }),
			wantErr: `groups: Invalid value: |bootstrap group "system:nodes" is invalid (must match \Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z)`},
		{name: "groups without the authentication usage", spec: with(func(s *Spec) { s.Usages = []string{"signing"} }),
			wantErr: `token groups cannot be specified unless --usages includes "authentication"`},
		{name: "negative ttl", spec: with(func(s *Spec) { s.TTL = -time.Hour }), wantErr: "ttl: Invalid value: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := New(tt.spec, now)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, token %v", tok)
				}
				for _, want := range strings.Split(tt.wantErr, "|") {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tok)
		})
	}
}

func TestSecretRoundTrip(t *testing.T) {
	exp := time.Date(2026, 5, 2, 10, 30, 15, 0, time.UTC)
	tok := &Token{ID: "abcdef", Secret: "0123456789abcdef", Description: "for node-2", Expires: &exp,
		Usages: []string{"authentication", "signing"}, Groups: []string{"system:bootstrappers:kubeadm:default-node-token", "system:bootstrappers:extra"}}
	s := tok.ToSecret()
	want := map[string]string{
		"token-id":                       "abcdef",
		"token-secret":                   "0123456789abcdef",
		"description":                    "for node-2",
		"expiration":                     "2026-05-02T10:30:15Z",
		"usage-bootstrap-authentication": "true",
		"usage-bootstrap-signing":        "true",
		"auth-extra-groups":              "system:bootstrappers:kubeadm:default-node-token,system:bootstrappers:extra",
	}
	got := map[string]string{}
	for k, v := range s.Data {
		got[k] = string(v)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("data %v\nwant %v", got, want)
	}
	if s.Name != "bootstrap-token-abcdef" || s.Namespace != "kube-system" || s.Type != "bootstrap.kubernetes.io/token" {
		t.Errorf("secret %s/%s of type %s", s.Namespace, s.Name, s.Type)
	}
	back, err := FromSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, tok) {
		t.Errorf("round trip %+v\nwant %+v", back, tok)
	}

	never := &Token{ID: "abcdef", Secret: "0123456789abcdef", Usages: []string{"signing"}}
	if _, ok := never.ToSecret().Data["expiration"]; ok {
		t.Error("a token that never expires has an expiration key")
	}
}

func TestFromSecretRefusesMalformed(t *testing.T) {
	secret := func(name string, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	tests := []struct {
		name    string
		secret  *corev1.Secret
		wantErr string
	}{
		{"no token-id", secret("bootstrap-token-abcdef", map[string]string{"token-secret": "0123456789abcdef"}), "bootstrap Token Secret has no token-id data: bootstrap-token-abcdef"},
		{"name does not match the id", secret("bootstrap-token-zzzzzz", map[string]string{"token-id": "abcdef", "token-secret": "0123456789abcdef"}), `Actual: "bootstrap-token-zzzzzz". Expected: "bootstrap-token-abcdef"`},
		{"no token-secret", secret("bootstrap-token-abcdef", map[string]string{"token-id": "abcdef"}), "has no token-secret data"},
		{"short secret", secret("bootstrap-token-abcdef", map[string]string{"token-id": "abcdef", "token-secret": "0123"}), "couldn't be parsed"},
		{"bad expiration", secret("bootstrap-token-abcdef", map[string]string{"token-id": "abcdef", "token-secret": "0123456789abcdef", "expiration": "tomorrow"}), "can't parse expiration time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromSecret(tt.secret)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
