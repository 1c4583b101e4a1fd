package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// withTokens gives the apiserver a static token file of "token,user,uid"
// lines.
func withTokens(t *testing.T, lines ...string) servertest.Option {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return servertest.WithConfig(func(c *server.Config) { c.TokenAuthFile = path })
}

// tokenClient is a client that trusts the cluster CA and authenticates
// with a bearer token only.
func (c *cluster) tokenClient(t *testing.T, token string) *kubernetes.Clientset {
	t.Helper()
	cfg := &rest.Config{Host: c.Server.URL(), BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.Server.CACertPEM()}}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func csrRequestPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: []string{"system:nodes"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func selfSignedPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func nodeCSR(t *testing.T, name string) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    csrRequestPEM(t, "system:node:node-a"),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			// Forged: the apiserver records who really asked.
			Username: "system:admin",
			Groups:   []string{"system:masters"},
		},
	}
}

// kubectlRun runs the real kubectl against the cluster with admin
// credentials.
func (c *cluster) kubectlRun(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found: this test drives the real kubectl (v1.32); install it")
	}
	cmd := exec.Command(path, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestCertificateSigningRequests(t *testing.T) {
	c := start(t, withTokens(t, "bob-token,bob,uid-bob,\"devs\""))
	bob := c.tokenClient(t, "bob-token")
	csrs := c.client.CertificatesV1().CertificateSigningRequests()
	// bob asks for certificates as a node bootstrapper does.
	if _, err := c.client.RbacV1().ClusterRoleBindings().Create(ctx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "devs-request-certificates"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:node-bootstrapper"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "devs"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "bob may create CSRs", func() (bool, error) {
		r, err := bob.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx(t), &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "create", Group: "certificates.k8s.io", Resource: "certificatesigningrequests"},
		}}, metav1.CreateOptions{})
		return err == nil && r.Status.Allowed, err
	})

	created, err := bob.CertificatesV1().CertificateSigningRequests().Create(ctx(t), nodeCSR(t, "node-csr-a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := created.Spec; s.Username != "bob" || s.UID != "uid-bob" || strings.Join(s.Groups, ",") != "devs,system:authenticated" {
		t.Fatalf("requester = %q %q %v, want bob as authenticated", s.Username, s.UID, s.Groups)
	}

	out := c.kubectlRun(t, "get", "csr")
	if !strings.Contains(out, "SIGNERNAME") || !strings.Contains(out, "REQUESTEDDURATION") {
		t.Errorf("kubectl get csr columns:\n%s", out)
	}
	if line := lineOf(out, "node-csr-a"); !strings.Contains(line, "kubernetes.io/kube-apiserver-client-kubelet") || !strings.Contains(line, "bob") || !strings.HasSuffix(strings.TrimSpace(line), "Pending") {
		t.Errorf("kubectl get csr row: %q", line)
	}

	// kubectl certificate approve writes through /approval.
	c.kubectlRun(t, "certificate", "approve", "node-csr-a")
	got, err := csrs.Get(ctx(t), "node-csr-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != certificatesv1.CertificateApproved ||
		got.Status.Conditions[0].Reason != "KubectlApprove" || got.Status.Conditions[0].LastTransitionTime.IsZero() {
		t.Fatalf("conditions after approve: %+v", got.Status.Conditions)
	}

	// The signer writes the certificate through /status.
	got.Status.Certificate = selfSignedPEM(t, "system:node:node-a")
	signed, err := csrs.UpdateStatus(ctx(t), got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(signed.Status.Conditions) != 1 {
		t.Fatalf("status write changed the approval: %+v", signed.Status.Conditions)
	}
	if line := lineOf(c.kubectlRun(t, "get", "csr", "node-csr-a"), "node-csr-a"); !strings.HasSuffix(strings.TrimSpace(line), "Approved,Issued") {
		t.Errorf("kubectl get csr after signing: %q", line)
	}

	invalid := []struct {
		name  string
		write func(*certificatesv1.CertificateSigningRequest) error
	}{
		{"status may not replace the certificate", func(csr *certificatesv1.CertificateSigningRequest) error {
			csr.Status.Certificate = selfSignedPEM(t, "other")
			_, err := csrs.UpdateStatus(ctx(t), csr, metav1.UpdateOptions{})
			return err
		}},
		{"approval may not remove Approved", func(csr *certificatesv1.CertificateSigningRequest) error {
			csr.Status.Conditions = nil
			_, err := csrs.UpdateApproval(ctx(t), csr.Name, csr, metav1.UpdateOptions{})
			return err
		}},
		{"approval may not add Denied to Approved", func(csr *certificatesv1.CertificateSigningRequest) error {
			csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "Late"})
			_, err := csrs.UpdateApproval(ctx(t), csr.Name, csr, metav1.UpdateOptions{})
			return err
		}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			csr, err := csrs.Get(ctx(t), "node-csr-a", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.write(csr); !apierrors.IsInvalid(err) {
				t.Fatalf("want 422 Invalid, got %v", err)
			}
		})
	}

	// The object itself changes only its metadata: a new spec is ignored,
	// as in Kubernetes.
	csr, _ := csrs.Get(ctx(t), "node-csr-a", metav1.GetOptions{})
	csr.Labels = map[string]string{"seen": "yes"}
	csr.Spec.SignerName = "example.com/other"
	updated, err := csrs.Update(ctx(t), csr, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Labels["seen"] != "yes" || updated.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
		t.Errorf("update: labels %v, signerName %q", updated.Labels, updated.Spec.SignerName)
	}

	// A bad request is refused with Kubernetes' field errors.
	bad := nodeCSR(t, "bad")
	bad.Spec.Request = []byte("nope")
	bad.Spec.ExpirationSeconds = ptrTo(int32(60))
	_, err = csrs.Create(ctx(t), bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.request") || !strings.Contains(err.Error(), "spec.expirationSeconds") {
		t.Errorf("bad request: %v", err)
	}

	// Denial through kubectl, and the signer field selector.
	if _, err := bob.CertificatesV1().CertificateSigningRequests().Create(ctx(t), nodeCSR(t, "node-csr-b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.kubectlRun(t, "certificate", "deny", "node-csr-b")
	if line := lineOf(c.kubectlRun(t, "get", "csr", "node-csr-b"), "node-csr-b"); !strings.HasSuffix(strings.TrimSpace(line), "Denied") {
		t.Errorf("kubectl get csr after deny: %q", line)
	}
	list, err := csrs.List(ctx(t), metav1.ListOptions{FieldSelector: "spec.signerName=" + certificatesv1.KubeAPIServerClientKubeletSignerName})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("list by signer: %v %v", list, err)
	}
	r := c.do(t, http.MethodGet, "/apis/certificates.k8s.io/v1", "", nil)
	for _, want := range []string{`"certificatesigningrequests/approval"`, `"certificatesigningrequests/status"`, `"csr"`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("discovery lacks %s", want)
		}
	}
}

func lineOf(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

func ptrTo[T any](v T) *T { return &v }
