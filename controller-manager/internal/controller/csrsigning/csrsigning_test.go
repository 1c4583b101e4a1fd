package csrsigning

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
)

// newRequest makes a signed certificate request from tmpl.
func newRequest(t *testing.T, tmpl *x509.CertificateRequest) (*x509.CertificateRequest, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return req, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// newCA makes a CA valid from notBefore to notAfter, as PEM.
func newCA(t *testing.T, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestDecide(t *testing.T) {
	nodeSubject := pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}
	_, clientReq := newRequest(t, &x509.CertificateRequest{Subject: nodeSubject})
	_, clientReqWithIP := newRequest(t, &x509.CertificateRequest{Subject: nodeSubject, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}})
	_, servingReq := newRequest(t, &x509.CertificateRequest{Subject: nodeSubject, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}})
	_, userReq := newRequest(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: []string{"dev"}}})
	clientUsages := []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth}
	servingUsages := []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth}

	approved := certv1.CertificateSigningRequestCondition{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue}
	denied := certv1.CertificateSigningRequestCondition{Type: certv1.CertificateDenied, Status: corev1.ConditionTrue}
	failed := certv1.CertificateSigningRequestCondition{Type: certv1.CertificateFailed, Status: corev1.ConditionTrue}
	mk := func(signer string, req []byte, usages []certv1.KeyUsage, conds ...certv1.CertificateSigningRequestCondition) *certv1.CertificateSigningRequest {
		return &certv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
			Spec:       certv1.CertificateSigningRequestSpec{SignerName: signer, Request: req, Usages: usages},
			Status:     certv1.CertificateSigningRequestStatus{Conditions: conds},
		}
	}
	issued := mk(certv1.KubeAPIServerClientKubeletSignerName, clientReq, clientUsages, approved)
	issued.Status.Certificate = []byte("-----BEGIN CERTIFICATE-----")

	tests := []struct {
		name        string
		csr         *certv1.CertificateSigningRequest
		want        Action
		wantMessage string
		wantErr     bool
	}{
		{"an approved kubelet client request is signed", mk(certv1.KubeAPIServerClientKubeletSignerName, clientReq, clientUsages, approved), Sign, "", false},
		{"an approved kubelet serving request is signed", mk(certv1.KubeletServingSignerName, servingReq, servingUsages, approved), Sign, "", false},
		{"an approved apiserver client request is signed", mk(certv1.KubeAPIServerClientSignerName, userReq, []certv1.KeyUsage{certv1.UsageClientAuth}, approved), Sign, "", false},
		{"a pending request is left", mk(certv1.KubeAPIServerClientKubeletSignerName, clientReq, clientUsages), None, "", false},
		{"a denied request is left", mk(certv1.KubeAPIServerClientKubeletSignerName, clientReq, clientUsages, denied), None, "", false},
		{"an approved then denied request is left", mk(certv1.KubeAPIServerClientKubeletSignerName, clientReq, clientUsages, approved, denied), None, "", false},
		{"a failed request is left", mk(certv1.KubeAPIServerClientKubeletSignerName, clientReq, clientUsages, approved, failed), None, "", false},
		{"an issued request is left", issued, None, "", false},
		{"another signer's request is left", mk("example.com/signer", userReq, clientUsages, approved), None, "", false},
		{"a kubelet serving request asking for client auth fails", mk(certv1.KubeletServingSignerName, servingReq, []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth, certv1.UsageClientAuth}, approved), Fail,
			"usages did not match [digital signature key encipherment server auth]", false},
		{"a kubelet client request with an IP fails", mk(certv1.KubeAPIServerClientKubeletSignerName, clientReqWithIP, clientUsages, approved), Fail, "IP subjectAltNames are not allowed", false},
		{"a kubelet client request for a user fails", mk(certv1.KubeAPIServerClientKubeletSignerName, userReq, clientUsages, approved), Fail, "subject organization is not system:nodes", false},
		{"an apiserver client request for server auth fails", mk(certv1.KubeAPIServerClientSignerName, userReq, []certv1.KeyUsage{certv1.UsageServerAuth}, approved), Fail, "invalid usage for client certificate: server auth", false},
		{"an unparseable request is an error", mk(certv1.KubeAPIServerClientSignerName, []byte("junk"), clientUsages, approved), None, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.csr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got.Action != tt.want || got.Message != tt.wantMessage {
				t.Fatalf("Decide = %v %q, want %v %q", got.Action, got.Message, tt.want, tt.wantMessage)
			}
			if got.Action == Sign && got.Request == nil {
				t.Fatal("Sign without the parsed request")
			}
		})
	}
}

func TestDuration(t *testing.T) {
	year := 365 * 24 * time.Hour
	tests := []struct {
		name      string
		requested *int32
		max, want time.Duration
	}{
		{"nothing asked gets the longest", nil, year, year},
		{"less than the longest is granted", ptr.To[int32](3600), year, time.Hour},
		{"more than the longest is cut", ptr.To[int32](2 * 365 * 24 * 3600), year, year},
		{"less than ten minutes is raised", ptr.To[int32](60), year, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Duration(tt.requested, tt.max); got != tt.want {
				t.Errorf("Duration = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeyUsages(t *testing.T) {
	tests := []struct {
		usages  []certv1.KeyUsage
		wantKU  x509.KeyUsage
		wantEKU []x509.ExtKeyUsage
		wantErr bool
	}{
		{[]certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageClientAuth}, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false},
		{[]certv1.KeyUsage{certv1.UsageSigning, certv1.UsageServerAuth}, x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, false},
		{[]certv1.KeyUsage{certv1.UsageClientAuth, certv1.UsageServerAuth, certv1.UsageClientAuth}, 0, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, false},
		{[]certv1.KeyUsage{"ocsp signing", "crl sign", "s/mime", "content commitment"}, x509.KeyUsageCRLSign | x509.KeyUsageContentCommitment, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageOCSPSigning}, false},
		{[]certv1.KeyUsage{"unsupported string"}, 0, nil, true},
	}
	for _, tt := range tests {
		ku, eku, err := KeyUsages(tt.usages)
		if (err != nil) != tt.wantErr || ku != tt.wantKU || !reflect.DeepEqual(eku, tt.wantEKU) {
			t.Errorf("KeyUsages(%q) = %v %v %v, want %v %v err=%v", tt.usages, ku, eku, err, tt.wantKU, tt.wantEKU, tt.wantErr)
		}
	}
}

func TestSign(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	caPEM, caKey := newCA(t, now.Add(-time.Hour), now.Add(10*365*24*time.Hour))
	ca, err := ParseAuthority(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	// A request that asks, through an extension of its own, to be a CA:
	// the signer must not copy it.
	bc, _ := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	req, _ := newRequest(t, &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}},
		DNSNames:        []string{"n1"},
		IPAddresses:     []net.IP{net.ParseIP("10.0.0.1")},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}},
	})
	usages := []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth}

	tests := []struct {
		name          string
		ttl           time.Duration
		wantNotBefore time.Time
		wantNotAfter  time.Time
	}{
		{"a year is backdated and keeps its length", 365 * 24 * time.Hour, now.Add(-Backdate), now.Add(365*24*time.Hour - Backdate)},
		{"a short certificate ends its TTL after now", time.Hour, now.Add(-Backdate), now.Add(time.Hour)},
		{"nothing outlives the CA", 20 * 365 * 24 * time.Hour, now.Add(-Backdate), ca.Certificate.NotAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, err := ca.Sign(req, usages, tt.ttl, now)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(certPEM)
			if block == nil || block.Type != "CERTIFICATE" {
				t.Fatalf("not a PEM certificate: %q", certPEM)
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !cert.NotBefore.Equal(tt.wantNotBefore) || !cert.NotAfter.Equal(tt.wantNotAfter) {
				t.Errorf("validity %v to %v, want %v to %v", cert.NotBefore, cert.NotAfter, tt.wantNotBefore, tt.wantNotAfter)
			}
			if cert.Subject.CommonName != "system:node:n1" || !reflect.DeepEqual(cert.Subject.Organization, []string{"system:nodes"}) {
				t.Errorf("subject %v", cert.Subject)
			}
			if !reflect.DeepEqual(cert.DNSNames, []string{"n1"}) || len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) {
				t.Errorf("names %v %v", cert.DNSNames, cert.IPAddresses)
			}
			if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature || !reflect.DeepEqual(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("isCA=%v keyUsage=%v extKeyUsage=%v", cert.IsCA, cert.KeyUsage, cert.ExtKeyUsage)
			}
			if !reflect.DeepEqual(cert.PublicKey, req.PublicKey) {
				t.Error("public key is not the request's")
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca.Certificate)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, DNSName: "n1", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("does not verify against the CA: %v", err)
			}
		})
	}
}

func TestSignRefusesWithAnExpiredCA(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	caPEM, caKey := newCA(t, now.Add(-48*time.Hour), now.Add(time.Minute))
	ca, err := ParseAuthority(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := newRequest(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}})
	if _, err := ca.Sign(req, []certv1.KeyUsage{certv1.UsageClientAuth}, time.Hour, now.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "the signer has expired") {
		t.Errorf("Sign with an expired CA = %v", err)
	}
	if _, err := ca.Sign(req, []certv1.KeyUsage{certv1.UsageClientAuth}, time.Hour, now.Add(2*time.Minute)); err == nil || !strings.Contains(err.Error(), "refusing to sign a certificate that expired in the past") {
		t.Errorf("Sign just after the CA expired = %v", err)
	}
}

func TestParseAuthority(t *testing.T) {
	now := time.Now()
	caPEM, caKey := newCA(t, now.Add(-time.Hour), now.Add(time.Hour))
	_, otherKey := newCA(t, now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := ParseAuthority(caPEM, caKey); err != nil {
		t.Errorf("a CA and its key: %v", err)
	}
	if _, err := ParseAuthority(caPEM, otherKey); err == nil {
		t.Error("a CA with another key parsed")
	}
}

func TestCAFilesReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	write := func(cert, key []byte) {
		t.Helper()
		if err := os.WriteFile(certFile, cert, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	f := &caFiles{certFile: certFile, keyFile: keyFile}
	if _, err := f.current(); err == nil {
		t.Fatal("no files: want an error")
	}
	c1, k1 := newCA(t, now.Add(-time.Hour), now.Add(time.Hour))
	write(c1, k1)
	first, err := f.current()
	if err != nil {
		t.Fatal(err)
	}
	c2, k2 := newCA(t, now.Add(-time.Hour), now.Add(time.Hour))
	write(c2, k2)
	second, err := f.current()
	if err != nil || second.Certificate.Equal(first.Certificate) {
		t.Fatalf("rotated CA not loaded (err %v)", err)
	}
	write(c1, k2) // a half-written rotation
	kept, err := f.current()
	if err == nil || kept != second {
		t.Fatalf("bad files: want the last good CA and an error, got %v", err)
	}
}

// Without signing files the controller stays off and says why; the
// manager runs on.
func TestNewWithoutSigningFiles(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	for _, s := range []controller.Settings{{}, {ClusterSigningCertFile: "/pki/ca.crt"}, {ClusterSigningKeyFile: "/pki/ca.key"}} {
		r, err := New(controller.Context{Name: Name, Log: zap.New(core), Settings: s})
		if r != nil || err != nil {
			t.Errorf("New(%+v) = %v, %v; want nothing to run and no error", s, r, err)
		}
	}
	if got := logs.FilterMessage("Skipping CSR signer controller because no csr cert/key was specified").Len(); got != 3 {
		t.Errorf("logged the reason %d times, want 3", got)
	}
}
