package csrapproving

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// request is a PEM certificate request for cn in orgs with these names.
func request(t *testing.T, cn string, orgs, dns []string, ips ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}, DNSNames: dns}
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
	clientUsages  = []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth}
	servingUsages = []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageServerAuth}
	nodes         = []string{"system:nodes"}
	bootstrapper  = []string{"system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"}
	node1Groups   = []string{"system:nodes", "system:authenticated"}
)

func csrOf(signer string, req []byte, usages []certv1.KeyUsage, user string, groups []string) *certv1.CertificateSigningRequest {
	return &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
		Spec: certv1.CertificateSigningRequestSpec{
			SignerName: signer, Request: req, Usages: usages, Username: user, Groups: groups,
		},
	}
}

func TestDecide(t *testing.T) {
	node1 := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "172.31.250.11"},
			{Type: corev1.NodeExternalIP, Address: "203.0.113.7"},
			{Type: corev1.NodeHostName, Address: "node1"},
			{Type: corev1.NodeInternalDNS, Address: "node1.cluster.internal"},
		}},
	}
	bare := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node2"}}
	lookup := func(name string) (*corev1.Node, bool) {
		for _, n := range []*corev1.Node{node1, bare} {
			if n.Name == name {
				return n, true
			}
		}
		return nil, false
	}
	clientReq := request(t, "system:node:node1", nodes, nil)
	servingReq := func(dns []string, ips ...string) []byte { return request(t, "system:node:node1", nodes, dns, ips...) }
	client := func(user string, groups []string) *certv1.CertificateSigningRequest {
		return csrOf(certv1.KubeAPIServerClientKubeletSignerName, clientReq, clientUsages, user, groups)
	}
	serving := func(req []byte) *certv1.CertificateSigningRequest {
		return csrOf(certv1.KubeletServingSignerName, req, servingUsages, "system:node:node1", node1Groups)
	}
	with := func(r *certv1.CertificateSigningRequest, f func(*certv1.CertificateSigningRequest)) *certv1.CertificateSigningRequest {
		f(r)
		return r
	}
	condition := func(t certv1.RequestConditionType) func(*certv1.CertificateSigningRequest) {
		return func(r *certv1.CertificateSigningRequest) {
			r.Status.Conditions = append(r.Status.Conditions, certv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue})
		}
	}

	tests := []struct {
		name        string
		csr         *certv1.CertificateSigningRequest
		wantApprove bool
		wantKind    string
		wantMessage string
	}{
		{"a bootstrapper's node client request is approved", client("system:bootstrap:abcdef", bootstrapper), true, NodeClient, MessageNodeClient},
		{"the node's own client request is approved as a renewal", client("system:node:node1", node1Groups), true, SelfNodeClient, MessageSelfNodeClient},
		{"another node's client request stays pending", client("system:node:node2", node1Groups), false, NodeClient, ""},
		{"the node's name outside system:nodes stays pending", client("system:node:node1", []string{"system:authenticated"}), false, NodeClient, ""},
		{"an admin's node client request stays pending", client("kubernetes-admin", []string{"system:masters", "system:authenticated"}), false, NodeClient, ""},
		{"a node client request with a DNS name stays pending",
			csrOf(certv1.KubeAPIServerClientKubeletSignerName, request(t, "system:node:node1", nodes, []string{"node1"}), clientUsages, "system:bootstrap:abcdef", bootstrapper), false, "", ""},
		{"a node client request with an IP stays pending",
			csrOf(certv1.KubeAPIServerClientKubeletSignerName, request(t, "system:node:node1", nodes, nil, "10.0.0.1"), clientUsages, "system:bootstrap:abcdef", bootstrapper), false, "", ""},
		{"a node client request outside system:nodes stays pending",
			csrOf(certv1.KubeAPIServerClientKubeletSignerName, request(t, "system:node:node1", []string{"system:masters"}, nil), clientUsages, "system:bootstrap:abcdef", bootstrapper), false, "", ""},
		{"a client request for a user that is no node stays pending",
			csrOf(certv1.KubeAPIServerClientKubeletSignerName, request(t, "admin", nodes, nil), clientUsages, "system:bootstrap:abcdef", bootstrapper), false, "", ""},
		{"a node client request asking for server auth stays pending",
			csrOf(certv1.KubeAPIServerClientKubeletSignerName, clientReq, []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth, certv1.UsageServerAuth}, "system:bootstrap:abcdef", bootstrapper), false, "", ""},
		{"a kube-apiserver-client request from a bootstrapper stays pending",
			csrOf(certv1.KubeAPIServerClientSignerName, clientReq, clientUsages, "system:bootstrap:abcdef", bootstrapper), false, "", ""},
		{"an already approved request is left alone", with(client("system:bootstrap:abcdef", bootstrapper), condition(certv1.CertificateApproved)), false, "", ""},
		{"a denied request is left alone", with(client("system:bootstrap:abcdef", bootstrapper), condition(certv1.CertificateDenied)), false, "", ""},
		{"an issued request is left alone", with(client("system:bootstrap:abcdef", bootstrapper), func(r *certv1.CertificateSigningRequest) { r.Status.Certificate = []byte("x") }), false, "", ""},
		{"an unparseable request stays pending", csrOf(certv1.KubeAPIServerClientKubeletSignerName, []byte("junk"), clientUsages, "system:bootstrap:abcdef", bootstrapper), false, "", ""},

		{"a serving request for the node's IPs and names is approved", serving(servingReq([]string{"node1", "node1.cluster.internal"}, "172.31.250.11", "203.0.113.7")), true, KubeletServing, MessageKubeletServing},
		{"a serving request for one of the node's IPs is approved", serving(servingReq(nil, "172.31.250.11")), true, KubeletServing, MessageKubeletServing},
		{"a serving request for an IP not the node's stays pending", serving(servingReq(nil, "172.31.250.11", "10.9.9.9")), false, KubeletServing, `IP address 10.9.9.9 is not an address of node "node1"`},
		{"a serving request for a name not the node's stays pending", serving(servingReq([]string{"kubernetes.default"}, "172.31.250.11")), false, KubeletServing, `DNS name "kubernetes.default" is not an address of node "node1"`},
		{"a serving request naming an IP as DNS stays pending", serving(servingReq([]string{"172.31.250.11"})), false, KubeletServing, `DNS name "172.31.250.11" is not an address of node "node1"`},
		{"a serving request with no names stays pending", serving(servingReq(nil)), false, "", ""},
		{"a serving request for an unknown node stays pending",
			csrOf(certv1.KubeletServingSignerName, request(t, "system:node:node9", nodes, nil, "172.31.250.11"), servingUsages, "system:node:node9", node1Groups), false, KubeletServing, `node "node9" not found`},
		{"a serving request for a node with no addresses yet stays pending",
			csrOf(certv1.KubeletServingSignerName, request(t, "system:node:node2", nodes, nil, "172.31.250.11"), servingUsages, "system:node:node2", node1Groups), false, KubeletServing, `IP address 172.31.250.11 is not an address of node "node2"`},
		{"a serving request from a bootstrapper stays pending",
			csrOf(certv1.KubeletServingSignerName, servingReq(nil, "172.31.250.11"), servingUsages, "system:bootstrap:abcdef", bootstrapper), false, KubeletServing, ""},
		{"a serving request from another node stays pending",
			csrOf(certv1.KubeletServingSignerName, servingReq(nil, "172.31.250.11"), servingUsages, "system:node:node2", node1Groups), false, KubeletServing, ""},
		{"a serving request asking for client auth stays pending",
			csrOf(certv1.KubeletServingSignerName, servingReq(nil, "172.31.250.11"), []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth, certv1.UsageClientAuth}, "system:node:node1", node1Groups), false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.csr, lookup)
			if got.Approve != tt.wantApprove || got.Recognized != tt.wantKind {
				t.Fatalf("Decide = %+v, want approve=%v recognized=%q", got, tt.wantApprove, tt.wantKind)
			}
			if tt.wantMessage != "" && got.Message != tt.wantMessage {
				t.Errorf("message = %q, want %q", got.Message, tt.wantMessage)
			}
		})
	}
}

func TestDecideByReview(t *testing.T) {
	node1 := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.31.250.11"}}},
	}
	lookup := func(name string) (*corev1.Node, bool) { return node1, name == "node1" }
	clientReq := request(t, "system:node:node1", nodes, nil)
	client := func(user string, groups []string) *certv1.CertificateSigningRequest {
		return csrOf(certv1.KubeAPIServerClientKubeletSignerName, clientReq, clientUsages, user, groups)
	}
	// The authorizer's answers: which subresources each user may create.
	allowed := map[string][]string{
		"system:bootstrap:abcdef": {NodeClient},
		"system:node:node1":       {SelfNodeClient},
		"system:node:node3":       {NodeClient},
		"kubernetes-admin":        {SelfNodeClient, NodeClient},
	}
	errReview := errors.New("apiserver unavailable")

	tests := []struct {
		name        string
		csr         *certv1.CertificateSigningRequest
		failReview  bool
		wantApprove bool
		wantKind    string
		wantMessage string
		wantRetry   bool
		wantAsked   []string
		wantErr     error
	}{
		{name: "a bootstrapper allowed nodeclient is approved",
			csr: client("system:bootstrap:abcdef", bootstrapper), wantApprove: true, wantKind: NodeClient, wantMessage: MessageNodeClient,
			wantAsked: []string{NodeClient}},
		{name: "the node allowed selfnodeclient renews",
			csr: client("system:node:node1", node1Groups), wantApprove: true, wantKind: SelfNodeClient, wantMessage: MessageSelfNodeClient,
			wantAsked: []string{SelfNodeClient}},
		{name: "the node's own request falls back to nodeclient",
			csr:         csrOf(certv1.KubeAPIServerClientKubeletSignerName, request(t, "system:node:node3", nodes, nil), clientUsages, "system:node:node3", node1Groups),
			wantApprove: true, wantKind: NodeClient, wantMessage: MessageNodeClient,
			wantAsked: []string{SelfNodeClient, NodeClient}},
		{name: "another node's request is not a renewal and is not allowed",
			csr: client("system:node:node2", node1Groups), wantKind: NodeClient, wantRetry: true,
			wantMessage: `recognized csr "csr-1" as [nodeclient] but subject access review was not approved`,
			wantAsked:   []string{NodeClient}},
		{name: "the node's name without the rights is not allowed",
			csr:      csrOf(certv1.KubeAPIServerClientKubeletSignerName, request(t, "system:node:node2", nodes, nil), clientUsages, "system:node:node2", node1Groups),
			wantKind: NodeClient, wantRetry: true,
			wantMessage: `recognized csr "csr-1" as [selfnodeclient nodeclient] but subject access review was not approved`,
			wantAsked:   []string{SelfNodeClient, NodeClient}},
		{name: "an unprivileged user's request stays pending",
			csr: client("jane", []string{"dev", "system:authenticated"}), wantKind: NodeClient, wantRetry: true,
			wantAsked: []string{NodeClient}},
		{name: "a user the authorizer allows is approved, whatever the groups",
			csr: client("kubernetes-admin", []string{"system:masters"}), wantApprove: true, wantKind: NodeClient, wantMessage: MessageNodeClient,
			wantAsked: []string{NodeClient}},
		{name: "a review that fails is an error",
			csr: client("system:bootstrap:abcdef", bootstrapper), failReview: true, wantErr: errReview,
			wantAsked: []string{NodeClient}},
		{name: "a client request with a DNS name is not recognized: nothing asked",
			csr: csrOf(certv1.KubeAPIServerClientKubeletSignerName, request(t, "system:node:node1", nodes, []string{"node1"}), clientUsages, "system:bootstrap:abcdef", bootstrapper)},
		{name: "a kube-apiserver-client request is not recognized: nothing asked",
			csr: csrOf(certv1.KubeAPIServerClientSignerName, clientReq, clientUsages, "system:bootstrap:abcdef", bootstrapper)},
		{name: "an approved request is left alone: nothing asked",
			csr: func() *certv1.CertificateSigningRequest {
				r := client("system:bootstrap:abcdef", bootstrapper)
				r.Status.Conditions = []certv1.CertificateSigningRequestCondition{{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue}}
				return r
			}()},
		{name: "a node's serving request is checked against its addresses, not asked",
			csr:         csrOf(certv1.KubeletServingSignerName, request(t, "system:node:node1", nodes, nil, "172.31.250.11"), servingUsages, "system:node:node1", node1Groups),
			wantApprove: true, wantKind: KubeletServing, wantMessage: MessageKubeletServing},
		{name: "a serving request from someone else stays pending, not asked",
			csr:      csrOf(certv1.KubeletServingSignerName, request(t, "system:node:node1", nodes, nil, "172.31.250.11"), servingUsages, "kubernetes-admin", []string{"system:masters"}),
			wantKind: KubeletServing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			may := func(r *certv1.CertificateSigningRequest, subresource string) (bool, error) {
				asked = append(asked, subresource)
				if tt.failReview {
					return false, errReview
				}
				return slices.Contains(allowed[r.Spec.Username], subresource), nil
			}
			got, err := DecideByReview(tt.csr, lookup, may)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(asked, tt.wantAsked) {
				t.Errorf("asked about %v, want %v", asked, tt.wantAsked)
			}
			if err != nil {
				return
			}
			if got.Approve != tt.wantApprove || got.Recognized != tt.wantKind || got.Retry != tt.wantRetry {
				t.Fatalf("DecideByReview = %+v, want approve=%v recognized=%q retry=%v", got, tt.wantApprove, tt.wantKind, tt.wantRetry)
			}
			if tt.wantMessage != "" && got.Message != tt.wantMessage {
				t.Errorf("message = %q, want %q", got.Message, tt.wantMessage)
			}
		})
	}
}
