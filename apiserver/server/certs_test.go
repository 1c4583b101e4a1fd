package server

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"coracle.dev/shared/pki"
)

// kubeletServer is a kubelet-like HTTPS server on loopback presenting
// cert; it answers 200 to a client that presents a certificate.
func kubeletServer(t *testing.T, cert *tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	if cert != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}, ClientAuth: tls.RequestClientCert}
	} else {
		srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func tlsCert(kp *pki.KeyPair) *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{kp.Cert.Raw}, PrivateKey: kp.Key, Leaf: kp.Cert}
}

func TestKubeletTransport(t *testing.T) {
	ca, err := pki.NewCA("coracle-ca")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue(pki.Request{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}, Usage: pki.ClientUsage})
	if err != nil {
		t.Fatal(err)
	}
	creds := &credentials{ca: ca, kubeletClient: client}
	issue := func(ip string) *tls.Certificate {
		kp, err := ca.Issue(pki.Request{CommonName: "system:node:node-a", Organization: []string{"system:nodes"}, IPs: []net.IP{net.ParseIP(ip)}, Usage: pki.ServerUsage})
		if err != nil {
			t.Fatal(err)
		}
		return tlsCert(kp)
	}
	otherCA, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := otherCA.Issue(pki.Request{CommonName: "system:node:node-a", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.ServerUsage})
	if err != nil {
		t.Fatal(err)
	}
	// The CA as --kubelet-certificate-authority reads it, from a file.
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	pool, err := loadCertPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		server *tls.Certificate // nil: a self-signed certificate
		verify bool
		ok     bool
	}{
		{"signed by the CA for the address dialed: accepted", issue("127.0.0.1"), true, true},
		{"self-signed: refused", nil, true, false},
		{"signed by another CA: refused", tlsCert(foreign), true, false},
		{"signed by the CA for another address: refused", issue("10.1.2.3"), true, false},
		{"no kubelet CA: self-signed accepted", nil, false, true},
		{"no kubelet CA: another CA's accepted", tlsCert(foreign), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := kubeletServer(t, tt.server)
			var cas = pool
			if !tt.verify {
				cas = nil
			}
			tr := creds.kubeletTransport(cas)
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/containerLogs/default/p/c")
			if !tt.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("connected: %s", resp.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s: the client certificate was not presented", resp.Status)
			}
		})
	}
}

func TestLoadCertPoolRefusesFilesWithoutCertificates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.crt")
	if err := os.WriteFile(path, []byte("nothing here"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCertPool(path); err == nil {
		t.Error("a file with no certificate was accepted")
	}
	if _, err := loadCertPool(filepath.Join(t.TempDir(), "missing.crt")); err == nil {
		t.Error("a missing file was accepted")
	}
}
