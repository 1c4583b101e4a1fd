package authn

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"os"
	"path/filepath"
	"testing"
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
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}}}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	if _, ok, _ := (ClientCert{}).Authenticate(r); ok {
		t.Fatal("plain request authenticated")
	}
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
	u, ok, err := (ClientCert{}).Authenticate(r)
	if !ok || err != nil || u.Name != "kubernetes-admin" || u.Groups[0] != "system:masters" {
		t.Fatalf("got %+v ok=%v err=%v", u, ok, err)
	}
}
