package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
)

func TestIssueAndVerify(t *testing.T) {
	ca, err := NewCA("coracle-ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(Request{CommonName: "apiserver", DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: ServerUsage})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Issue(Request{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}, Usage: ClientUsage})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cert  *x509.Certificate
		usage x509.ExtKeyUsage
		host  string
		ok    bool
	}{
		{"serving cert verifies for its IP", srv.Cert, x509.ExtKeyUsageServerAuth, "127.0.0.1", true},
		{"serving cert verifies for its DNS name", srv.Cert, x509.ExtKeyUsageServerAuth, "localhost", true},
		{"serving cert does not cover other hosts", srv.Cert, x509.ExtKeyUsageServerAuth, "example.com", false},
		{"client cert verifies as a client", cli.Cert, x509.ExtKeyUsageClientAuth, "", true},
		{"client cert is not a server cert", cli.Cert, x509.ExtKeyUsageServerAuth, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if (err == nil) != tt.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if _, err := tls.X509KeyPair(cli.CertPEM, cli.KeyPEM); err != nil {
		t.Fatalf("client pair does not load into tls: %v", err)
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("coracle-ca")
	if err != nil {
		t.Fatal(err)
	}
	if Exists(dir, "ca") {
		t.Fatal("Exists before Write")
	}
	if err := ca.Write(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(ca.Cert) || !Exists(dir, "ca") {
		t.Fatal("loaded certificate differs")
	}
	if _, err := got.Issue(Request{CommonName: "x", Usage: ClientUsage}); err != nil {
		t.Fatalf("loaded CA cannot issue: %v", err)
	}
}

func TestPublicKeyHash(t *testing.T) {
	ca, _ := NewCA("a")
	h := PublicKeyHash(ca.Cert)
	if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 {
		t.Fatalf("hash %q", h)
	}
	other, _ := NewCA("a")
	if PublicKeyHash(other.Cert) == h {
		t.Fatal("two CAs share a hash")
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	if _, err := Parse([]byte("nope"), []byte("nope")); err == nil {
		t.Fatal("want error")
	}
}
