package certificate

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/keyutil"

	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/pki"
)

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestClientCSR(t *testing.T) {
	ec := ecKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		key    crypto.Signer
		node   string
		usages []certificatesv1.KeyUsage
	}{
		{"an ECDSA key asks for digital signature and client auth", ec, "node-a",
			[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}},
		{"an RSA key also asks for key encipherment", rsaKey, "node-a",
			[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, name, usages, err := ClientCSR(tt.key, tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(usages, tt.usages) {
				t.Errorf("usages %q, want %q", usages, tt.usages)
			}
			if !strings.HasPrefix(name, "node-csr-") || len(name) != len("node-csr-")+43 {
				t.Errorf("name %q, want node-csr- and 43 characters of base64 SHA-512/256", name)
			}
			block, _ := pem.Decode(data)
			if block == nil || block.Type != "CERTIFICATE REQUEST" {
				t.Fatalf("request is not a PEM CERTIFICATE REQUEST: %q", data)
			}
			req, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if err := req.CheckSignature(); err != nil {
				t.Errorf("request signature: %v", err)
			}
			if req.Subject.CommonName != "system:node:"+tt.node || !slices.Equal(req.Subject.Organization, []string{"system:nodes"}) {
				t.Errorf("subject %v, want CN=system:node:%s O=system:nodes", req.Subject, tt.node)
			}
			if len(req.DNSNames)+len(req.IPAddresses)+len(req.EmailAddresses)+len(req.URIs) != 0 {
				t.Errorf("a client request carries no SANs: %v %v", req.DNSNames, req.IPAddresses)
			}
		})
	}
}

// TestClientCSRName checks what the digest depends on: a kubelet asking
// again with its key finds its request; another key or node does not.
func TestClientCSRName(t *testing.T) {
	k1, k2 := ecKey(t), ecKey(t)
	name := func(k crypto.Signer, node string) string {
		_, n, _, err := ClientCSR(k, node)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if name(k1, "a") != name(k1, "a") {
		t.Error("the same key and node gave two names")
	}
	if name(k1, "a") == name(k2, "a") {
		t.Error("two keys gave one name")
	}
	if name(k1, "a") == name(k1, "b") {
		t.Error("two nodes gave one name")
	}
	// The delimiter keeps CN and O from running together.
	n1, _ := digestedName(k1.Public(), NodeSubject("foob"), nil)
	n2, _ := digestedName(k1.Public(), NodeSubject("foo"), nil)
	if n1 == n2 {
		t.Error("different subjects gave one name")
	}
}

func TestKubeconfig(t *testing.T) {
	pem := "/var/lib/coracle/kubelet/pki/kubelet-client-current.pem"
	tests := []struct {
		name      string
		bootstrap *rest.Config
		check     func(t *testing.T, c *clientcmdapi.Cluster)
	}{
		{
			name: "server and embedded CA from the bootstrap kubeconfig, never its token",
			bootstrap: &rest.Config{Host: "https://10.0.0.1:6443", BearerToken: "abcdef.0123456789abcdef",
				TLSClientConfig: rest.TLSClientConfig{CAData: []byte("CA PEM")}},
			check: func(t *testing.T, c *clientcmdapi.Cluster) {
				if c.Server != "https://10.0.0.1:6443" || string(c.CertificateAuthorityData) != "CA PEM" || c.CertificateAuthority != "" {
					t.Errorf("cluster %+v", c)
				}
			},
		},
		{
			name: "a CA file stays a file",
			bootstrap: &rest.Config{Host: "https://10.0.0.1:6443",
				TLSClientConfig: rest.TLSClientConfig{CAFile: "/etc/coracle/ca.crt", CAData: []byte("ignored")}},
			check: func(t *testing.T, c *clientcmdapi.Cluster) {
				if c.CertificateAuthority != "/etc/coracle/ca.crt" || len(c.CertificateAuthorityData) != 0 {
					t.Errorf("cluster %+v", c)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Kubeconfig(tt.bootstrap, pem)
			if cfg.CurrentContext != "default-context" {
				t.Errorf("current context %q", cfg.CurrentContext)
			}
			ctx := cfg.Contexts["default-context"]
			if ctx == nil || ctx.Cluster != "default-cluster" || ctx.AuthInfo != "default-auth" || ctx.Namespace != "default" {
				t.Fatalf("context %+v", ctx)
			}
			if len(cfg.AuthInfos) != 1 || len(cfg.Clusters) != 1 {
				t.Errorf("want one user and one cluster: %+v", cfg)
			}
			auth := cfg.AuthInfos["default-auth"]
			if auth == nil || auth.ClientCertificate != pem || auth.ClientKey != pem || auth.Token != "" || auth.TokenFile != "" {
				t.Fatalf("user %+v: want client-certificate and client-key %s and no token", auth, pem)
			}
			tt.check(t, cfg.Clusters["default-cluster"])
		})
	}
}

func TestValidClientConfig(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(validity time.Duration) *pki.KeyPair {
		kp, err := ca.Issue(pki.Request{CommonName: "system:node:a", Organization: []string{"system:nodes"}, Usage: pki.ClientUsage, Validity: validity})
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	write := func(name string, kp *pki.KeyPair, pemFile bool) string {
		path := filepath.Join(dir, name)
		if pemFile {
			pemPath := path + ".pem"
			if err := os.WriteFile(pemPath, append(append([]byte{}, kp.CertPEM...), kp.KeyPEM...), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := WriteKubeconfig(&rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM}}, path, pemPath); err != nil {
				t.Fatal(err)
			}
			return path
		}
		creds := kubeconfig.Credentials{ClusterName: "c", Server: "https://127.0.0.1:6443", CAData: ca.CertPEM, UserName: "u"}
		if kp != nil {
			creds.ClientCertData, creds.ClientKeyData = kp.CertPEM, kp.KeyPEM
		} else {
			creds.Token = "abcdef.0123456789abcdef"
		}
		if err := kubeconfig.Write(path, creds); err != nil {
			t.Fatal(err)
		}
		return path
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("{not yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want bool
	}{
		{"a missing kubeconfig is not valid", filepath.Join(dir, "missing"), false},
		{"a kubeconfig that does not parse is not valid", garbage, false},
		{"a token kubeconfig has no client certificate", write("token", nil, false), false},
		{"an expired certificate is not valid", write("expired", issue(-time.Minute), false), false},
		{"a current certificate in the kubeconfig is valid", write("embedded", issue(time.Hour), false), true},
		{"a current certificate in the file it points at is valid", write("pointing", issue(time.Hour), true), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidClientConfig(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ValidClientConfig = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWriteKubeconfigIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kubelet.conf")
	if err := WriteKubeconfig(&rest.Config{Host: "https://127.0.0.1:6443"}, path, "/x.pem"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

// signer plays approver and signer on a fake API: it answers the first
// CSR with outcome.
func signer(t *testing.T, client *fake.Clientset, outcome func(*certificatesv1.CertificateSigningRequest)) {
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			list, err := client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
			if err == nil && len(list.Items) > 0 {
				csr := list.Items[0].DeepCopy()
				outcome(csr)
				if _, err := client.CertificatesV1().CertificateSigningRequests().UpdateStatus(context.Background(), csr, metav1.UpdateOptions{}); err != nil {
					t.Errorf("update CSR status: %v", err)
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Error("no CSR within 10s")
	}()
}

func TestRequestNodeCertificate(t *testing.T) {
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.Issue(pki.Request{CommonName: "system:node:a", Organization: []string{"system:nodes"}, Usage: pki.ClientUsage})
	if err != nil {
		t.Fatal(err)
	}
	condition := func(typ certificatesv1.RequestConditionType, reason string) func(*certificatesv1.CertificateSigningRequest) {
		return func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: "by the test",
			})
			if typ == certificatesv1.CertificateApproved {
				c.Status.Certificate = issued.CertPEM
			}
		}
	}
	tests := []struct {
		name    string
		outcome func(*certificatesv1.CertificateSigningRequest)
		timeout time.Duration
		wantErr []string // substrings; none means success
	}{
		{"approved and issued", condition(certificatesv1.CertificateApproved, "AutoApproved"), time.Minute, nil},
		{"denied: the error names the CSR and the reason", condition(certificatesv1.CertificateDenied, "NotAllowed"), time.Minute,
			[]string{"certificate signing request node-csr-", "denied", "NotAllowed"}},
		{"failed: the error names the CSR and the reason", condition(certificatesv1.CertificateFailed, "SignerError"), time.Minute,
			[]string{"certificate signing request node-csr-", "failed", "SignerError"}},
		{"approved but never signed: a timeout naming the CSR", func(c *certificatesv1.CertificateSigningRequest) {
			condition(certificatesv1.CertificateApproved, "AutoApproved")(c)
			c.Status.Certificate = nil
		}, 500 * time.Millisecond, []string{"certificate signing request node-csr-", "no certificate issued within 500ms", "kubectl certificate approve node-csr-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			key, err := keyutil.MakeEllipticPrivateKeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			signer(t, client, tt.outcome)
			cert, err := RequestNodeCertificate(context.Background(), client, key, "a", tt.timeout, zap.NewNop())
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if string(cert) != string(issued.CertPEM) {
					t.Errorf("certificate %q, want the issued one", cert)
				}
			} else {
				if err == nil {
					t.Fatal("no error")
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
			}
			list, err := client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
			if err != nil || len(list.Items) != 1 {
				t.Fatalf("CSRs: %v %v", list, err)
			}
			spec := list.Items[0].Spec
			if spec.SignerName != "kubernetes.io/kube-apiserver-client-kubelet" {
				t.Errorf("signerName %q", spec.SignerName)
			}
			if !slices.Equal(spec.Usages, []certificatesv1.KeyUsage{"digital signature", "client auth"}) {
				t.Errorf("usages %q", spec.Usages)
			}
			if !strings.HasPrefix(list.Items[0].Name, "node-csr-") {
				t.Errorf("name %q", list.Items[0].Name)
			}
		})
	}
}

func TestServerTemplate(t *testing.T) {
	addr := func(typ corev1.NodeAddressType, a string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: typ, Address: a}
	}
	tests := []struct {
		name      string
		addresses []corev1.NodeAddress
		wantNil   bool
		dns       []string
		ips       []string
	}{
		{name: "no addresses yet: no request", wantNil: true},
		{name: "a host name alone is not enough", addresses: []corev1.NodeAddress{addr(corev1.NodeHostName, "worker-1")}, wantNil: true},
		{
			name:      "InternalIP as IP SAN, host name as DNS SAN",
			addresses: []corev1.NodeAddress{addr(corev1.NodeInternalIP, "172.31.250.12"), addr(corev1.NodeHostName, "worker-1")},
			dns:       []string{"worker-1"}, ips: []string{"172.31.250.12"},
		},
		{
			name: "every IP and DNS kind, sorted, repeats once",
			addresses: []corev1.NodeAddress{
				addr(corev1.NodeInternalIP, "172.31.250.12"), addr(corev1.NodeExternalIP, "203.0.113.7"),
				addr(corev1.NodeHostName, "worker-1"), addr(corev1.NodeInternalDNS, "worker-1.internal"),
				addr(corev1.NodeInternalIP, "172.31.250.12"), addr(corev1.NodeHostName, "10.0.0.9"),
			},
			dns: []string{"worker-1", "worker-1.internal"}, ips: []string{"10.0.0.9", "172.31.250.12", "203.0.113.7"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ServerTemplate("worker-1", tt.addresses)
			if tt.wantNil {
				if got != nil {
					t.Fatalf("template %+v, want none", got)
				}
				return
			}
			if got.Subject.CommonName != "system:node:worker-1" || !slices.Equal(got.Subject.Organization, []string{"system:nodes"}) {
				t.Errorf("subject %v", got.Subject)
			}
			var ips []string
			for _, ip := range got.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(got.DNSNames, tt.dns) || !slices.Equal(ips, tt.ips) {
				t.Errorf("SANs DNS %q IP %q, want %q %q", got.DNSNames, ips, tt.dns, tt.ips)
			}
		})
	}
}

func TestGetCertificateBeforeIssue(t *testing.T) {
	m, err := NewServerManager(t.TempDir(), "a", func() []corev1.NodeAddress {
		return []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	}, fake.NewClientset())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GetCertificate(m)(nil); err != ErrNoServingCertificate {
		t.Errorf("before a certificate: %v, want %v", err, ErrNoServingCertificate)
	}
}
