package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/utils/ptr"

	"coracle.dev/shared/pki"

	"coracle.dev/controller-manager/internal/controller/csrapproving"
	"coracle.dev/controller-manager/internal/controller/csrsigning"
)

// csrPEM is a PEM certificate request for cn in orgs, with these names.
func csrPEM(t testing.TB, cn string, orgs, dnsNames []string, ips ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}, DNSNames: dnsNames}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

var (
	nodeClientUsages  = []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth}
	nodeServingUsages = []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth}
)

// createCSR creates a request through client, as its user.
func createCSR(t testing.TB, client kubernetes.Interface, name, signer string, req []byte, usages []certv1.KeyUsage, expirationSeconds *int32) *certv1.CertificateSigningRequest {
	t.Helper()
	r, err := client.CertificatesV1().CertificateSigningRequests().Create(context.Background(), &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certv1.CertificateSigningRequestSpec{
			SignerName: signer, Request: req, Usages: usages, ExpirationSeconds: expirationSeconds,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create csr %s: %v", name, err)
	}
	return r
}

// waitCSR waits for the request name to satisfy cond and returns it.
func (e *env) waitCSR(name, what string, cond func(*certv1.CertificateSigningRequest) bool) *certv1.CertificateSigningRequest {
	e.t.Helper()
	var r *certv1.CertificateSigningRequest
	eventually(e.t, 30*time.Second, fmt.Sprintf("csr %s %s", name, what), func() (bool, error) {
		var err error
		r, err = e.client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return cond(r), fmt.Errorf("conditions %+v, %d bytes of certificate", r.Status.Conditions, len(r.Status.Certificate))
	})
	return r
}

func csrCondition(r *certv1.CertificateSigningRequest, t certv1.RequestConditionType) *certv1.CertificateSigningRequestCondition {
	for i := range r.Status.Conditions {
		if r.Status.Conditions[i].Type == t {
			return &r.Status.Conditions[i]
		}
	}
	return nil
}

// waitApproved waits for the approver to approve name with message.
func (e *env) waitApproved(name, message string) {
	e.t.Helper()
	r := e.waitCSR(name, "approved", func(r *certv1.CertificateSigningRequest) bool {
		return csrCondition(r, certv1.CertificateApproved) != nil
	})
	c := csrCondition(r, certv1.CertificateApproved)
	if c.Status != corev1.ConditionTrue || c.Reason != csrapproving.ReasonAutoApproved || c.Message != message {
		e.t.Errorf("csr %s approved with %+v, want reason %s and message %q", name, c, csrapproving.ReasonAutoApproved, message)
	}
}

// assertPending fails if name has any condition.
func (e *env) assertPending(name string) {
	e.t.Helper()
	r, err := e.client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(r.Status.Conditions) != 0 {
		e.t.Errorf("csr %s (by %s) should be pending, has %+v", name, r.Spec.Username, r.Status.Conditions)
	}
}

// approveByHand approves name as `kubectl certificate approve` does.
func (e *env) approveByHand(name string) {
	e.t.Helper()
	ctx := context.Background()
	r, err := e.client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	r.Status.Conditions = append(r.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: "KubectlApprove", Message: "This CSR was approved by kubectl certificate approve.",
	})
	if _, err := e.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, name, r, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("approve %s: %v", name, err)
	}
}

// clusterCA is the apiserver's CA.
func (e *env) clusterCA() *pki.KeyPair {
	e.t.Helper()
	ca, err := pki.Load(filepath.Join(e.ts.DataDir, "pki"), "ca")
	if err != nil {
		e.t.Fatalf("load the apiserver's CA: %v", err)
	}
	return ca
}

// nodeClient is a client authenticated as node name (system:node:name in
// system:nodes), with a client certificate from the cluster CA.
func (e *env) nodeClient(name string) kubernetes.Interface {
	e.t.Helper()
	kp, err := e.clusterCA().Issue(pki.Request{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}, Usage: pki.ClientUsage})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(e.ts.Config)
	cfg.CertData, cfg.KeyData = kp.CertPEM, kp.KeyPEM
	return kubernetes.NewForConfigOrDie(cfg)
}

// userClient is a client authenticated as user name in groups, with a
// client certificate from the cluster CA, whom a ClusterRoleBinding
// gives the cluster role roles.
func (e *env) userClient(name string, groups []string, roles ...string) kubernetes.Interface {
	e.t.Helper()
	kp, err := e.clusterCA().Issue(pki.Request{CommonName: name, Organization: groups, Usage: pki.ClientUsage})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, role := range roles {
		e.bind(name, role)
	}
	cfg := rest.AnonymousClientConfig(e.ts.Config)
	cfg.CertData, cfg.KeyData = kp.CertPEM, kp.KeyPEM
	return kubernetes.NewForConfigOrDie(cfg)
}

// bind gives user the cluster role role.
func (e *env) bind(user, role string) {
	e.t.Helper()
	_, err := e.client.RbacV1().ClusterRoleBindings().Create(context.Background(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user + ":" + role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("bind %s to %s: %v", user, role, err)
	}
}

// bootstrapClient creates a bootstrap token and returns a client that
// authenticates with it, as a joining node does.
func (e *env) bootstrapClient(id, secret string) kubernetes.Interface {
	e.t.Helper()
	_, err := e.client.CoreV1().Secrets(metav1.NamespaceSystem).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.BootstrapTokenSecretPrefix + id, Namespace: metav1.NamespaceSystem},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		StringData: map[string]string{
			bootstrapapi.BootstrapTokenIDKey:               id,
			bootstrapapi.BootstrapTokenSecretKey:           secret,
			bootstrapapi.BootstrapTokenUsageAuthentication: "true",
			bootstrapapi.BootstrapTokenExtraGroupsKey:      "system:bootstrappers:kubeadm:default-node-token",
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create bootstrap token: %v", err)
	}
	cfg := rest.AnonymousClientConfig(e.ts.Config)
	cfg.BearerToken = id + "." + secret
	return kubernetes.NewForConfigOrDie(cfg)
}

// The approver approves exactly the node credentials: a node client
// certificate asked by whom the apiserver's authorizer allows it (RBAC
// gives a bootstrap token's group nodeclient and the nodes
// selfnodeclient), so a new node's and a node's own renewal, and a
// node's serving certificate for its own addresses, which it approves as
// soon as the Node has them. Everything else stays pending.
func TestCSRApproving(t *testing.T) {
	e := start(t, withControllers(csrapproving.Name))
	ctx := e.ctx()
	admin := e.client
	node := e.nodeClient("n1")
	// jane may ask for certificates, as a bootstrapper may, but not have
	// a node's approved.
	jane := e.userClient("jane", []string{"dev"}, "system:node-bootstrapper")

	// Made first, so that by the time later requests are approved the
	// approver has long looked at these and left them.
	createCSR(t, jane, "user-node-client", certv1.KubeAPIServerClientKubeletSignerName,
		csrPEM(t, "system:node:n1", []string{"system:nodes"}, nil), nodeClientUsages, nil)
	createCSR(t, admin, "admin-user-client", certv1.KubeAPIServerClientSignerName,
		csrPEM(t, "jane", []string{"dev"}, nil), nodeClientUsages, nil)
	createCSR(t, node, "serving-foreign-ip", certv1.KubeletServingSignerName,
		csrPEM(t, "system:node:n1", []string{"system:nodes"}, []string{"n1"}, "172.31.250.11", "172.31.250.99"), nodeServingUsages, nil)

	t.Run("a bootstrapper's node client request is approved", func(t *testing.T) {
		r := createCSR(t, e.bootstrapClient("abcdef", "0123456789abcdef"), "bootstrap-node-client", certv1.KubeAPIServerClientKubeletSignerName,
			csrPEM(t, "system:node:n1", []string{"system:nodes"}, nil), nodeClientUsages, nil)
		if r.Spec.Username != "system:bootstrap:abcdef" || !slices.Contains(r.Spec.Groups, "system:bootstrappers") {
			t.Fatalf("apiserver recorded requester %q %v", r.Spec.Username, r.Spec.Groups)
		}
		e.waitApproved("bootstrap-node-client", csrapproving.MessageNodeClient)
	})
	t.Run("a node's renewal is approved", func(t *testing.T) {
		createCSR(t, node, "self-node-client", certv1.KubeAPIServerClientKubeletSignerName,
			csrPEM(t, "system:node:n1", []string{"system:nodes"}, nil), nodeClientUsages, nil)
		e.waitApproved("self-node-client", csrapproving.MessageSelfNodeClient)
	})

	n, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.31.250.11"}, {Type: corev1.NodeHostName, Address: "n1"}}
	if n, err = admin.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Run("a node's serving request for its addresses is approved", func(t *testing.T) {
		createCSR(t, node, "serving", certv1.KubeletServingSignerName,
			csrPEM(t, "system:node:n1", []string{"system:nodes"}, []string{"n1"}, "172.31.250.11"), nodeServingUsages, nil)
		e.waitApproved("serving", csrapproving.MessageKubeletServing)
	})

	for _, name := range []string{"user-node-client", "admin-user-client", "serving-foreign-ip"} {
		e.assertPending(name)
	}

	t.Run("a user the authorizer allows nodeclient is approved", func(t *testing.T) {
		// Neither a bootstrapper nor a node: only the authorizer's
		// answer approves this one.
		e.bind("jane", "system:certificates.k8s.io:certificatesigningrequests:nodeclient")
		createCSR(t, jane, "allowed-user-node-client", certv1.KubeAPIServerClientKubeletSignerName,
			csrPEM(t, "system:node:n3", []string{"system:nodes"}, nil), nodeClientUsages, nil)
		e.waitApproved("allowed-user-node-client", csrapproving.MessageNodeClient)
	})

	t.Run("a serving request is approved once the Node has its address", func(t *testing.T) {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "172.31.250.99"})
		if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitApproved("serving-foreign-ip", csrapproving.MessageKubeletServing)
	})
}

// The signer issues approved requests with the cluster CA, for as long
// as they ask (at most --cluster-signing-duration), and fails the ones
// its signer's rules refuse.
func TestCSRSigning(t *testing.T) {
	e := start(t, withControllers(csrsigning.Name))
	ca := e.clusterCA()
	roots := ca.CertPool()

	t.Run("a node client certificate approved by hand is issued", func(t *testing.T) {
		createCSR(t, e.client, "node-client", certv1.KubeAPIServerClientKubeletSignerName,
			csrPEM(t, "system:node:n1", []string{"system:nodes"}, nil), nodeClientUsages, ptr.To[int32](3600))
		before := time.Now()
		e.approveByHand("node-client")
		r := e.waitCSR("node-client", "issued", func(r *certv1.CertificateSigningRequest) bool { return len(r.Status.Certificate) > 0 })
		after := time.Now()
		cert := parseIssued(t, r)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("issued certificate does not verify as a client against the cluster CA: %v", err)
		}
		if cert.Subject.CommonName != "system:node:n1" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
			t.Errorf("subject %s", cert.Subject)
		}
		if cert.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || cert.IsCA {
			t.Errorf("usages %v %v, CA %v", cert.KeyUsage, cert.ExtKeyUsage, cert.IsCA)
		}
		// One hour, shorter than 8h: it ends an hour after signing and
		// starts five minutes before it.
		within(t, "NotAfter", cert.NotAfter, before.Add(time.Hour), after.Add(time.Hour))
		within(t, "NotBefore", cert.NotBefore, before.Add(-csrsigning.Backdate), after.Add(-csrsigning.Backdate))
	})

	t.Run("a user's client certificate lasts the signing duration", func(t *testing.T) {
		createCSR(t, e.client, "user-client", certv1.KubeAPIServerClientSignerName,
			csrPEM(t, "jane", []string{"dev"}, nil), []certv1.KeyUsage{certv1.UsageClientAuth}, nil)
		e.approveByHand("user-client")
		r := e.waitCSR("user-client", "issued", func(r *certv1.CertificateSigningRequest) bool { return len(r.Status.Certificate) > 0 })
		cert := parseIssued(t, r)
		if got := cert.NotAfter.Sub(cert.NotBefore); got != 8760*time.Hour {
			t.Errorf("validity %v, want 8760h", got)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("does not verify: %v", err)
		}
	})

	t.Run("a serving request asking for client auth fails", func(t *testing.T) {
		createCSR(t, e.client, "serving-with-client-auth", certv1.KubeletServingSignerName,
			csrPEM(t, "system:node:n1", []string{"system:nodes"}, nil, "172.31.250.11"),
			[]certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth, certv1.UsageClientAuth}, nil)
		e.approveByHand("serving-with-client-auth")
		r := e.waitCSR("serving-with-client-auth", "failed", func(r *certv1.CertificateSigningRequest) bool {
			return csrCondition(r, certv1.CertificateFailed) != nil
		})
		c := csrCondition(r, certv1.CertificateFailed)
		if c.Status != corev1.ConditionTrue || c.Reason != csrsigning.ReasonSignerValidationFailure ||
			c.Message != "usages did not match [digital signature key encipherment server auth]" {
			t.Errorf("failed condition %+v", c)
		}
		if len(r.Status.Certificate) != 0 {
			t.Error("a refused request got a certificate")
		}
	})

	t.Run("a node client request with an IP fails", func(t *testing.T) {
		createCSR(t, e.client, "node-client-with-ip", certv1.KubeAPIServerClientKubeletSignerName,
			csrPEM(t, "system:node:n1", []string{"system:nodes"}, nil, "172.31.250.11"), nodeClientUsages, nil)
		e.approveByHand("node-client-with-ip")
		r := e.waitCSR("node-client-with-ip", "failed", func(r *certv1.CertificateSigningRequest) bool {
			return csrCondition(r, certv1.CertificateFailed) != nil
		})
		if c := csrCondition(r, certv1.CertificateFailed); c.Reason != csrsigning.ReasonSignerValidationFailure || c.Message != "IP subjectAltNames are not allowed" {
			t.Errorf("failed condition %+v", c)
		}
	})
}

// The approver and signer together: a node's serving certificate, asked
// by the node for the addresses its Node has, is approved and issued
// without anyone's help, and is good for those addresses.
func TestNodeServingCertificate(t *testing.T) {
	e := start(t, withControllers(csrapproving.Name, csrsigning.Name))
	ctx := e.ctx()
	n, err := e.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.31.250.11"}, {Type: corev1.NodeHostName, Address: "n1"}}
	if _, err := e.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	createCSR(t, e.nodeClient("n1"), "serving", certv1.KubeletServingSignerName,
		csrPEM(t, "system:node:n1", []string{"system:nodes"}, []string{"n1"}, "172.31.250.11"), nodeServingUsages, nil)
	r := e.waitCSR("serving", "issued", func(r *certv1.CertificateSigningRequest) bool { return len(r.Status.Certificate) > 0 })
	if c := csrCondition(r, certv1.CertificateApproved); c == nil || c.Reason != csrapproving.ReasonAutoApproved {
		t.Errorf("approved with %+v", c)
	}
	cert := parseIssued(t, r)
	for _, host := range []string{"n1", "172.31.250.11"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: e.clusterCA().CertPool(), DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate does not verify for %s: %v", host, err)
		}
	}
}

func parseIssued(t testing.TB, r *certv1.CertificateSigningRequest) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(r.Status.Certificate)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("status.certificate is not one PEM certificate: %q", r.Status.Certificate)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// within checks lo-1s <= got <= hi+1s: certificate times have whole
// seconds.
func within(t testing.TB, what string, got, lo, hi time.Time) {
	t.Helper()
	if got.Before(lo.Add(-time.Second)) || got.After(hi.Add(time.Second)) {
		t.Errorf("%s = %v, want between %v and %v", what, got, lo, hi)
	}
}
