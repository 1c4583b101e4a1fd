package serviceaccount

import (
	"context"
	"crypto"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/authn"
)

func newAuthenticator(t *testing.T, objs *objects, now time.Time, legacy bool) *Authenticator {
	t.Helper()
	key, _ := testKeys(t)
	a, err := NewAuthenticator(AuthenticatorOptions{
		Issuers:      []string{testIssuer, "https://old.example"},
		Keys:         []crypto.PublicKey{&key.PublicKey, key},
		APIAudiences: []string{testIssuer},
		Objects:      objs,
		Legacy:       legacy,
		Now:          func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// mint signs a token for default/builder with the cluster's key.
func mint(t *testing.T, objs *objects, iss string, tok Token) string {
	t.Helper()
	ours, _ := testKeys(t)
	return mintWith(t, ours, objs, iss, tok)
}

func mintWith(t *testing.T, key crypto.Signer, objs *objects, iss string, tok Token) string {
	t.Helper()
	tok.ServiceAccount = objs.sas["default/builder"]
	if tok.Audiences == nil {
		tok.Audiences = []string{testIssuer}
	}
	if tok.IssuedAt.IsZero() {
		tok.IssuedAt = t0
	}
	if tok.Expiration == 0 {
		tok.Expiration = time.Hour
	}
	s, _, err := (&Issuer{Issuer: iss, Signer: key}).Mint(tok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// legacyToken signs a secret-based token for default/builder held by the
// Secret default/s.
func legacyToken(t *testing.T, objs *objects) string {
	t.Helper()
	key, _ := testKeys(t)
	sa := objs.sas["default/builder"]
	s, err := (&Issuer{Issuer: LegacyIssuer, Signer: key}).sign(
		&legacyClaims{ServiceAccountName: sa.Name, ServiceAccountUID: string(sa.UID), SecretName: "s", Namespace: sa.Namespace},
		&jwt.Claims{Issuer: LegacyIssuer, Subject: authn.ServiceAccountUsername(sa.Namespace, sa.Name)},
	)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticateToken(t *testing.T) {
	_, theirs := testKeys(t)
	type setup struct {
		objs *objects
		pod  *corev1.Pod
		node *corev1.Node
	}
	tests := []struct {
		name string
		// token mints the token from the starting objects, which it may
		// then change.
		token  func(t *testing.T, s setup) string
		now    time.Time
		ctx    func(context.Context) context.Context
		legacy bool
		ok     bool
		// err is part of the error; "" means no error.
		err   string
		extra map[string][]string
		auds  []string
	}{
		{
			name: "pod-bound token names its pod and node",
			token: func(t *testing.T, s setup) string {
				return mint(t, s.objs, testIssuer, Token{Pod: s.pod, Node: s.node})
			},
			ok: true,
			extra: map[string][]string{
				PodNameKey: {"web"}, PodUIDKey: {"pod-uid"},
				NodeNameKey: {"n1"}, NodeUIDKey: {"node-uid"},
			},
			auds: []string{testIssuer},
		},
		{
			name:  "unbound token",
			token: func(t *testing.T, s setup) string { return mint(t, s.objs, testIssuer, Token{}) },
			ok:    true, extra: map[string][]string{}, auds: []string{testIssuer},
		},
		{
			name:  "second accepted issuer",
			token: func(t *testing.T, s setup) string { return mint(t, s.objs, "https://old.example", Token{}) },
			ok:    true, extra: map[string][]string{}, auds: []string{testIssuer},
		},
		{
			name: "signed with an unknown key",
			token: func(t *testing.T, s setup) string {
				return mintWith(t, theirs, s.objs, testIssuer, Token{})
			},
			err: "invalid signature, no keys found",
		},
		{
			name: "payload changed after signing",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{})
				parts := strings.Split(tok, ".")
				payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
				payload = []byte(strings.Replace(string(payload), "builder", "admin00", -1))
				parts[1] = base64.RawURLEncoding.EncodeToString(payload)
				return strings.Join(parts, ".")
			},
			err: "error in cryptographic primitive",
		},
		{
			name:  "another issuer's token is not ours",
			token: func(t *testing.T, s setup) string { return mint(t, s.objs, "https://elsewhere.example", Token{}) },
		},
		{
			name:  "not a JWT",
			token: func(*testing.T, setup) string { return "abcdef.0123456789abcdef" },
		},
		{
			name:  "JSON is not a compact JWT",
			token: func(*testing.T, setup) string { return `{"iss":"` + testIssuer + `"}` },
		},
		{
			name:  "expired",
			token: func(t *testing.T, s setup) string { return mint(t, s.objs, testIssuer, Token{}) },
			now:   t0.Add(time.Hour + 2*time.Minute),
			err:   "service account token has expired",
		},
		{
			name:  "expired within the clock leeway",
			token: func(t *testing.T, s setup) string { return mint(t, s.objs, testIssuer, Token{}) },
			now:   t0.Add(time.Hour + 30*time.Second),
			ok:    true, extra: map[string][]string{}, auds: []string{testIssuer},
		},
		{
			name:  "not yet valid",
			token: func(t *testing.T, s setup) string { return mint(t, s.objs, testIssuer, Token{}) },
			now:   t0.Add(-5 * time.Minute),
			err:   "service account token is not valid yet",
		},
		{
			name: "audience is not the API's",
			token: func(t *testing.T, s setup) string {
				return mint(t, s.objs, testIssuer, Token{Audiences: []string{"vault"}})
			},
			err: `token audiences ["vault"] is invalid for the target audiences ["` + testIssuer + `"]`,
		},
		{
			name: "audience the request asks for",
			token: func(t *testing.T, s setup) string {
				return mint(t, s.objs, testIssuer, Token{Audiences: []string{"vault", "other"}})
			},
			ctx: func(ctx context.Context) context.Context { return authn.WithAudiences(ctx, []string{"vault"}) },
			ok:  true, extra: map[string][]string{}, auds: []string{"vault"},
		},
		{
			name: "bound pod deleted",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{Pod: s.pod, Node: s.node})
				delete(s.objs.pods, "default/web")
				return tok
			},
			err: "service account token has been invalidated",
		},
		{
			name: "bound pod recreated with another uid",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{Pod: s.pod})
				s.objs.pods["default/web"].UID = "pod-uid-2"
				return tok
			},
			err: "pod UID (pod-uid-2) does not match service account pod ref claim (pod-uid)",
		},
		{
			name: "bound pod deleted longer ago than the leeway",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{Pod: s.pod})
				s.objs.pods["default/web"].DeletionTimestamp = &metav1.Time{Time: t0.Add(-2 * time.Minute)}
				return tok
			},
			err: "service account token has been invalidated",
		},
		{
			name: "bound pod in its deletion grace period",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{Pod: s.pod})
				s.objs.pods["default/web"].DeletionTimestamp = &metav1.Time{Time: t0.Add(30 * time.Second)}
				return tok
			},
			ok:    true,
			extra: map[string][]string{PodNameKey: {"web"}, PodUIDKey: {"pod-uid"}},
			auds:  []string{testIssuer},
		},
		{
			name: "service account recreated with another uid",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{})
				s.objs.sas["default/builder"] = &corev1.ServiceAccount{ObjectMeta: meta("default", "builder", "sa-uid-2")}
				return tok
			},
			err: "service account UID (sa-uid-2) does not match claim (sa-uid)",
		},
		{
			name: "service account deleted",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{})
				delete(s.objs.sas, "default/builder")
				return tok
			},
			err: `serviceaccounts "builder" not found`,
		},
		{
			name: "bound secret deleted",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{Secret: s.objs.secrets["default/s"]})
				delete(s.objs.secrets, "default/s")
				return tok
			},
			err: "service account token has been invalidated",
		},
		{
			name: "node-bound token",
			token: func(t *testing.T, s setup) string {
				return mint(t, s.objs, testIssuer, Token{Node: s.node})
			},
			ok:    true,
			extra: map[string][]string{NodeNameKey: {"n1"}, NodeUIDKey: {"node-uid"}},
			auds:  []string{testIssuer},
		},
		{
			name: "bound node recreated",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{Node: s.node})
				s.objs.nodes["n1"].UID = "node-uid-2"
				return tok
			},
			err: "node UID (node-uid-2) does not match service account node ref claim (node-uid)",
		},
		{
			name: "a pod-bound token outlives its pod's node",
			token: func(t *testing.T, s setup) string {
				tok := mint(t, s.objs, testIssuer, Token{Pod: s.pod, Node: s.node})
				delete(s.objs.nodes, "n1")
				return tok
			},
			ok: true,
			extra: map[string][]string{
				PodNameKey: {"web"}, PodUIDKey: {"pod-uid"},
				NodeNameKey: {"n1"}, NodeUIDKey: {"node-uid"},
			},
			auds: []string{testIssuer},
		},
		{
			name: "legacy secret token",
			token: func(t *testing.T, s setup) string {
				tok := legacyToken(t, s.objs)
				s.objs.secrets["default/s"].Data = map[string][]byte{corev1.ServiceAccountTokenKey: []byte(tok)}
				return tok
			},
			legacy: true,
			ok:     true, auds: []string{testIssuer},
		},
		{
			name: "legacy token its secret no longer holds",
			token: func(t *testing.T, s setup) string {
				s.objs.secrets["default/s"].Data = map[string][]byte{corev1.ServiceAccountTokenKey: []byte("another")}
				return legacyToken(t, s.objs)
			},
			legacy: true,
			err:    "Token does not match server's copy",
		},
		{
			name:  "legacy tokens are not ours unless enabled",
			token: func(t *testing.T, s setup) string { return legacyToken(t, s.objs) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := cluster()
			s := setup{objs: objs, pod: objs.pods["default/web"].DeepCopy(), node: objs.nodes["n1"].DeepCopy()}
			tok := tt.token(t, s)
			now := tt.now
			if now.IsZero() {
				now = t0.Add(time.Minute)
			}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			u, ok, err := newAuthenticator(t, objs, now, tt.legacy).AuthenticateToken(ctx, tok)
			if ok != tt.ok {
				t.Fatalf("ok = %v, err = %v; want ok %v", ok, err, tt.ok)
			}
			if tt.err == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			if !ok {
				return
			}
			if u.Name != "system:serviceaccount:default:builder" || u.UID != "sa-uid" {
				t.Fatalf("user %q uid %q", u.Name, u.UID)
			}
			if want := []string{"system:serviceaccounts", "system:serviceaccounts:default", authn.AllAuthenticated}; !reflect.DeepEqual(u.Groups, want) {
				t.Fatalf("groups %v, want %v", u.Groups, want)
			}
			if !reflect.DeepEqual(u.Audiences, tt.auds) {
				t.Fatalf("audiences %v, want %v", u.Audiences, tt.auds)
			}
			if tt.extra != nil {
				got := map[string][]string{}
				for k, v := range u.Extra {
					got[k] = v
				}
				if id := got[CredentialIDKey]; len(id) != 1 || !strings.HasPrefix(id[0], "JTI=") || len(id[0]) != len("JTI=")+36 {
					t.Fatalf("credential id %v", id)
				}
				delete(got, CredentialIDKey)
				if !reflect.DeepEqual(got, tt.extra) {
					t.Fatalf("extra %v, want %v", got, tt.extra)
				}
			}
		})
	}
}

// TestTokenRequestRoundTrip authenticates what the TokenRequest API
// issued, as the kubelet's projected token would be.
func TestTokenRequestRoundTrip(t *testing.T) {
	objs := cluster()
	issued := request(t, objs, authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](WarnOnlyBoundTokenExpirationSeconds),
		BoundObjectRef:    podRef("web", "pod-uid"),
	})
	a := newAuthenticator(t, objs, t0.Add(30*24*time.Hour), false)
	u, ok, err := a.AuthenticateToken(context.Background(), issued.TokenRequest.Status.Token)
	if !ok || err != nil {
		t.Fatalf("extended token refused after a month: ok=%v err=%v", ok, err)
	}
	if got := u.Extra[CredentialIDKey]; len(got) != 1 || got[0] != issued.CredentialID {
		t.Fatalf("credential id %v, issued %q", got, issued.CredentialID)
	}
	if got := u.Extra[PodNameKey]; len(got) != 1 || got[0] != "web" {
		t.Fatalf("pod name %v", got)
	}
	objs.pods["default/web"] = &corev1.Pod{ObjectMeta: meta("default", "web", "new-uid"), Spec: corev1.PodSpec{ServiceAccountName: "builder"}}
	if _, ok, err := a.AuthenticateToken(context.Background(), issued.TokenRequest.Status.Token); ok || err == nil {
		t.Fatalf("token of a replaced pod accepted: ok=%v err=%v", ok, err)
	}
}

func TestNewAuthenticatorNeedsKeysAndIssuers(t *testing.T) {
	key, _ := testKeys(t)
	for name, o := range map[string]AuthenticatorOptions{
		"no issuer": {Keys: []crypto.PublicKey{&key.PublicKey}, Objects: cluster()},
		"no keys":   {Issuers: []string{testIssuer}, Objects: cluster()},
		"no getter": {Issuers: []string{testIssuer}, Keys: []crypto.PublicKey{&key.PublicKey}},
	} {
		if _, err := NewAuthenticator(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
