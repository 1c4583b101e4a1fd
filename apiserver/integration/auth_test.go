package integration

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"

	"coracle.dev/shared/pki"
)

// bootstrapToken stores a bootstrap token Secret as `kubeadm token
// create` (and ctl token create) writes it.
func bootstrapToken(t *testing.T, c *cluster, id, secret string, expires time.Time, extra map[string]string) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"},
		Type:       "bootstrap.kubernetes.io/token",
		StringData: map[string]string{
			"token-id": id, "token-secret": secret, "expiration": expires.UTC().Format(time.RFC3339),
			"usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
			"auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
		},
	}
	for k, v := range extra {
		s.StringData[k] = v
	}
	if _, err := c.client.CoreV1().Secrets("kube-system").Create(ctx(t), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestAnonymousRequests(t *testing.T) {
	c := start(t)
	anon := c.anonymous(t)
	get := func(p string, header http.Header) response {
		return doWith(t, anon, c.Server.URL(), http.MethodGet, p, "", nil, header)
	}
	for _, p := range []string{"/healthz", "/readyz", "/livez", "/version"} {
		if r := get(p, nil); r.code != http.StatusOK {
			t.Errorf("anonymous %s: %d %s", p, r.code, r.body)
		}
	}
	forbidden := map[string]string{
		"/api":                                  `forbidden: User "system:anonymous" cannot get path "/api"`,
		"/apis":                                 `forbidden: User "system:anonymous" cannot get path "/apis"`,
		"/metrics":                              `forbidden: User "system:anonymous" cannot get path "/metrics"`,
		"/no/such/url":                          `forbidden: User "system:anonymous" cannot get path "/no/such/url"`,
		"/api/v1/namespaces/default/configmaps": `configmaps is forbidden: User "system:anonymous" cannot list resource "configmaps" in API group "" in the namespace "default"`,
		"/apis/certificates.k8s.io/v1/certificatesigningrequests": `certificatesigningrequests.certificates.k8s.io is forbidden: User "system:anonymous" cannot list resource "certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope`,
		"/api/v1/namespaces/kube-public/configmaps/other":         `configmaps "other" is forbidden: User "system:anonymous" cannot get resource "configmaps" in API group "" in the namespace "kube-public"`,
	}
	for p, msg := range forbidden {
		r := get(p, nil)
		if r.code != http.StatusForbidden {
			t.Errorf("anonymous %s: %d, want 403", p, r.code)
			continue
		}
		if st := r.status(t); st.Message != msg || st.Reason != metav1.StatusReasonForbidden || st.Code != http.StatusForbidden {
			t.Errorf("anonymous %s:\n got %q (%s)\nwant %q", p, st.Message, st.Reason, msg)
		}
	}
	// The one object anonymous clients may read, once bootstrap wrote it.
	eventually(t, 30*time.Second, "kube-public/cluster-info readable anonymously", func() (bool, error) {
		return get("/api/v1/namespaces/kube-public/configmaps/cluster-info", nil).code == http.StatusOK, nil
	})
	// A credential that fails is 401, never anonymous.
	for _, tok := range []string{"nope", "abcdef.0123456789abcdef"} {
		r := get("/healthz", http.Header{"Authorization": {"Bearer " + tok}})
		if r.code != http.StatusUnauthorized || r.status(t).Reason != metav1.StatusReasonUnauthorized {
			t.Errorf("bad token %q: %d %s", tok, r.code, r.body)
		}
	}
}

func TestAnonymousAuthOff(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.AnonymousAuth = false }))
	anon := c.anonymous(t)
	for _, p := range []string{"/healthz", "/api/v1/namespaces/kube-public/configmaps/cluster-info"} {
		if r := doWith(t, anon, c.Server.URL(), http.MethodGet, p, "", nil, nil); r.code != http.StatusUnauthorized {
			t.Errorf("%s without credentials and --anonymous-auth=false: %d", p, r.code)
		}
	}
}

func TestBootstrapTokenAuthentication(t *testing.T) {
	c := start(t)
	bootstrapToken(t, c, "abcdef", "0123456789abcdef", time.Now().Add(time.Hour), nil)
	bootstrapToken(t, c, "expire", "0123456789abcdef", time.Now().Add(-time.Minute), nil)
	bootstrapToken(t, c, "signon", "0123456789abcdef", time.Now().Add(time.Hour), map[string]string{"usage-bootstrap-authentication": "false"})

	joiner := c.tokenClient(t, "abcdef.0123456789abcdef")
	csr, err := joiner.CertificatesV1().CertificateSigningRequests().Create(ctx(t), nodeCSR(t, "node-csr-join"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"}
	if csr.Spec.Username != "system:bootstrap:abcdef" || !equalStrings(csr.Spec.Groups, want) {
		t.Fatalf("requester %q %v, want system:bootstrap:abcdef %v", csr.Spec.Username, csr.Spec.Groups, want)
	}
	if _, err := joiner.CertificatesV1().CertificateSigningRequests().Get(ctx(t), "node-csr-join", metav1.GetOptions{}); err != nil {
		t.Errorf("bootstrapper get csr: %v", err)
	}
	if _, err := joiner.CertificatesV1().CertificateSigningRequests().List(ctx(t), metav1.ListOptions{}); err != nil {
		t.Errorf("bootstrapper list csrs: %v", err)
	}
	w, err := joiner.CertificatesV1().CertificateSigningRequests().Watch(ctx(t), metav1.ListOptions{FieldSelector: "metadata.name=node-csr-join"})
	if err != nil {
		t.Errorf("bootstrapper watch csrs: %v", err)
	} else {
		w.Stop()
	}
	if _, err := joiner.Discovery().ServerGroups(); err != nil {
		t.Errorf("bootstrapper discovery: %v", err)
	}

	// Everything else is forbidden to a bootstrapper, approving its own
	// request included.
	_, err = joiner.CoreV1().Nodes().List(ctx(t), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != `nodes is forbidden: User "system:bootstrap:abcdef" cannot list resource "nodes" in API group "" at the cluster scope` {
		t.Errorf("bootstrapper list nodes: %v", err)
	}
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	if _, err := joiner.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx(t), csr.Name, csr, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bootstrapper approving its own request: %v", err)
	}
	if _, err := joiner.CoreV1().Secrets("kube-system").Get(ctx(t), "bootstrap-token-abcdef", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bootstrapper reading token secrets: %v", err)
	}

	// Tokens that are not good are 401.
	for _, tok := range []string{"abcdef.0123456789abcdee", "expire.0123456789abcdef", "signon.0123456789abcdef", "zzzzzz.0123456789abcdef"} {
		_, err := c.tokenClient(t, tok).CertificatesV1().CertificateSigningRequests().List(ctx(t), metav1.ListOptions{})
		if !apierrors.IsUnauthorized(err) {
			t.Errorf("token %s: %v, want 401", tok, err)
		}
	}

	// A deleted token stops working at once.
	if err := c.client.CoreV1().Secrets("kube-system").Delete(ctx(t), "bootstrap-token-abcdef", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "deleted token refused", func() (bool, error) {
		_, err := joiner.CertificatesV1().CertificateSigningRequests().List(ctx(t), metav1.ListOptions{})
		return apierrors.IsUnauthorized(err), err
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestForeignClientCertificate: a client certificate another CA signed is
// a 401, as a bad token is, not a failed handshake; the cluster CA's is
// the user it names.
func TestForeignClientCertificate(t *testing.T) {
	c := start(t)
	other, err := pki.NewCA("not-the-cluster-ca")
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Issue(pki.Request{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}, Usage: pki.ClientUsage})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.Server.CACertPEM())
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, MinVersion: tls.VersionTLS12,
		// Sent although the server names its CA as the one it accepts (a
		// Go client would otherwise send none, and be anonymous).
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &tls.Certificate{Certificate: [][]byte{forged.Cert.Raw}, PrivateKey: forged.Key}, nil
		},
	}}}
	resp := doWith(t, hc, c.Server.URL(), http.MethodGet, "/api/v1/namespaces", "", nil, nil)
	if resp.code != http.StatusUnauthorized || resp.status(t).Reason != metav1.StatusReasonUnauthorized {
		t.Errorf("another CA's certificate: %d %s, want 401", resp.code, resp.body)
	}
}
