package authn

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coracle.dev/shared/pki"
)

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(path, []byte("abc123,alice,uid-1,\"devs,ops\"\nxyz,bob,uid-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := LoadTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header string
		user   string
		ok     bool
		err    bool
	}{
		{"known token with groups", "Bearer abc123", "alice", true, false},
		{"known token, lower-case scheme", "bearer xyz", "bob", true, false},
		{"unknown token is an error", "Bearer nope", "", false, true},
		{"no header is not an error", "", "", false, false},
		{"basic auth is not ours", "Basic Zm9vOmJhcg==", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			u, ok, err := BearerToken{tf}.Authenticate(r)
			if ok != tt.ok || (err != nil) != tt.err {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			if ok && u.Name != tt.user {
				t.Fatalf("user %q", u.Name)
			}
		})
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer abc123")
	u, _, _ := BearerToken{tf}.Authenticate(r)
	if len(u.Groups) != 3 || u.Groups[0] != "devs" || u.Groups[1] != "ops" {
		t.Fatalf("groups %v", u.Groups)
	}
}

func TestTokenFileRejectsShortLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	_ = os.WriteFile(path, []byte("onlytoken\n"), 0o600)
	if _, err := LoadTokenFile(path); err == nil {
		t.Fatal("want error")
	}
}

func TestClientCert(t *testing.T) {
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *pki.KeyPair, usage pki.Usage) *x509.Certificate {
		kp, err := ca.Issue(pki.Request{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}, Usage: usage})
		if err != nil {
			t.Fatal(err)
		}
		return kp.Cert
	}
	a := ClientCert{Roots: ca.CertPool()}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	if _, ok, err := a.Authenticate(r); ok || err != nil {
		t.Fatalf("plain request: ok=%v err=%v, want no opinion", ok, err)
	}
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{issue(ca, pki.ClientUsage)}}
	u, ok, err := a.Authenticate(r)
	if !ok || err != nil || u.Name != "kubernetes-admin" || u.Groups[0] != "system:masters" {
		t.Fatalf("got %+v ok=%v err=%v", u, ok, err)
	}
	// Another CA's certificate, or a serving certificate: refused, with
	// the reason (a 401, not a failed handshake).
	for name, cert := range map[string]*x509.Certificate{"another CA": issue(other, pki.ClientUsage), "serving only": issue(ca, pki.ServerUsage)} {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		if u, ok, err := a.Authenticate(r); ok || err == nil || !strings.Contains(err.Error(), "verifying certificate") {
			t.Errorf("%s: got %+v ok=%v err=%v, want refused", name, u, ok, err)
		}
	}
}
