package certificates

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

// issue makes a certificate for pub, signed by key, as PEM.
func issue(t testing.TB, tmpl *x509.Certificate, pub any, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func caPEM(t testing.TB, name string) string {
	key := newKey(t)
	return issue(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, &key.PublicKey, key)
}

func TestClusterTrustBundleValidate(t *testing.T) {
	ca1, ca2 := caPEM(t, "ca-1"), caPEM(t, "ca-2")
	newBundle := func() *certificatesv1.ClusterTrustBundle {
		return &certificatesv1.ClusterTrustBundle{
			ObjectMeta: metav1.ObjectMeta{Name: "example.com:signer:roots"},
			Spec:       certificatesv1.ClusterTrustBundleSpec{SignerName: "example.com/signer", TrustBundle: ca1 + ca2},
		}
	}
	kindstest.Create(t, ClusterTrustBundles().Strategy, newBundle, []kindstest.Case[*certificatesv1.ClusterTrustBundle]{
		{Name: "bundle of a signer is valid", Mutate: func(*certificatesv1.ClusterTrustBundle) {}},
		{Name: "bundle without a signer is valid", Mutate: func(b *certificatesv1.ClusterTrustBundle) { b.Name, b.Spec.SignerName = "roots", "" }},
		{Name: "text between blocks is ignored", Mutate: func(b *certificatesv1.ClusterTrustBundle) { b.Spec.TrustBundle = "# roots\n" + ca1 }},
		{Name: "bundle of a signer is named after it", Mutate: func(b *certificatesv1.ClusterTrustBundle) { b.Name = "roots" },
			Path: "metadata.name", Type: field.ErrorTypeInvalid},
		{Name: "bundle without a signer has no colon", Mutate: func(b *certificatesv1.ClusterTrustBundle) { b.Spec.SignerName = "" },
			Path: "metadata.name", Type: field.ErrorTypeInvalid},
		{Name: "signer name is a domain and a path", Mutate: func(b *certificatesv1.ClusterTrustBundle) {
			b.Name, b.Spec.SignerName = "signer:roots", "signer"
		}, Path: "spec.signerName", Type: field.ErrorTypeInvalid},
		{Name: "a trust anchor is required", Mutate: func(b *certificatesv1.ClusterTrustBundle) { b.Spec.TrustBundle = "" },
			Path: "spec.trustBundle", Type: field.ErrorTypeInvalid},
		{Name: "anchors may not repeat", Mutate: func(b *certificatesv1.ClusterTrustBundle) { b.Spec.TrustBundle = ca1 + ca1 },
			Path: "spec.trustBundle", Type: field.ErrorTypeInvalid},
		{Name: "anchors are CAs", Mutate: func(b *certificatesv1.ClusterTrustBundle) { b.Spec.TrustBundle = string(certificatePEM(t)) },
			Path: "spec.trustBundle", Type: field.ErrorTypeInvalid},
		{Name: "blocks are certificates", Mutate: func(b *certificatesv1.ClusterTrustBundle) {
			b.Spec.TrustBundle = strings.ReplaceAll(ca1, "CERTIFICATE", "PRIVATE KEY")
		}, Path: "spec.trustBundle", Type: field.ErrorTypeInvalid},
	})
	kindstest.Update(t, ClusterTrustBundles().Strategy, newBundle, "", []kindstest.Case[*certificatesv1.ClusterTrustBundle]{
		{Name: "the bundle may change", Mutate: func(b *certificatesv1.ClusterTrustBundle) { b.Spec.TrustBundle = ca2 }},
		{Name: "the signer is immutable", Mutate: func(b *certificatesv1.ClusterTrustBundle) {
			b.Name, b.Spec.SignerName = "example.com:other:roots", "example.com/other"
		}, Path: "spec.signerName", Type: field.ErrorTypeInvalid},
	})
}

func stubRequest(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newPCR(t testing.TB, key *ecdsa.PrivateKey) *certificatesv1.PodCertificateRequest {
	return &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "pcr-1", Namespace: "default"},
		Spec: certificatesv1.PodCertificateRequestSpec{
			SignerName: "example.com/pods", PodName: "web", PodUID: "pod-uid", ServiceAccountName: "default",
			ServiceAccountUID: "sa-uid", NodeName: "node-a", NodeUID: "node-uid",
			MaxExpirationSeconds: ptr.To[int32](86400), StubPKCS10Request: stubRequest(t, key),
		},
	}
}

func TestPodCertificateRequestValidate(t *testing.T) {
	key := newKey(t)
	kindstest.Create(t, PodCertificateRequests().Strategy, func() *certificatesv1.PodCertificateRequest { return newPCR(t, key) },
		[]kindstest.Case[*certificatesv1.PodCertificateRequest]{
			{Name: "request is valid", Mutate: func(*certificatesv1.PodCertificateRequest) {}},
			{Name: "signer name is required", Mutate: func(r *certificatesv1.PodCertificateRequest) { r.Spec.SignerName = "" },
				Path: "spec.signerName", Type: field.ErrorTypeRequired},
			{Name: "pod UID is required", Mutate: func(r *certificatesv1.PodCertificateRequest) { r.Spec.PodUID = "" },
				Path: "spec.podUID", Type: field.ErrorTypeInvalid},
			{Name: "node name is a DNS subdomain", Mutate: func(r *certificatesv1.PodCertificateRequest) { r.Spec.NodeName = "Node A" },
				Path: "spec.nodeName", Type: field.ErrorTypeInvalid},
			{Name: "maxExpirationSeconds is required", Mutate: func(r *certificatesv1.PodCertificateRequest) { r.Spec.MaxExpirationSeconds = nil },
				Path: "spec.maxExpirationSeconds", Type: field.ErrorTypeRequired},
			{Name: "kubernetes signers issue for a day at most", Mutate: func(r *certificatesv1.PodCertificateRequest) {
				r.Spec.SignerName, r.Spec.MaxExpirationSeconds = "kubernetes.io/pods", ptr.To[int32](2*86400)
			}, Path: "spec.maxExpirationSeconds", Type: field.ErrorTypeInvalid},
			{Name: "a stub request is required", Mutate: func(r *certificatesv1.PodCertificateRequest) { r.Spec.StubPKCS10Request = nil },
				Path: "spec", Type: field.ErrorTypeInvalid},
			{Name: "the stub request must parse", Mutate: func(r *certificatesv1.PodCertificateRequest) { r.Spec.StubPKCS10Request = []byte("junk") },
				Path: "spec.stubPKCS10Request", Type: field.ErrorTypeInvalid},
			{Name: "user annotations are domain-prefixed", Mutate: func(r *certificatesv1.PodCertificateRequest) {
				r.Spec.UnverifiedUserAnnotations = map[string]string{"plain": "x"}
			}, Path: "spec.unverifiedUserAnnotations", Type: field.ErrorTypeInvalid},
		})
	kindstest.Update(t, PodCertificateRequests().Strategy, func() *certificatesv1.PodCertificateRequest { return newPCR(t, key) }, "",
		[]kindstest.Case[*certificatesv1.PodCertificateRequest]{
			{Name: "labels may change", Mutate: func(r *certificatesv1.PodCertificateRequest) { r.Labels = map[string]string{"a": "b"} }},
			{Name: "spec is immutable", Mutate: func(r *certificatesv1.PodCertificateRequest) { r.Spec.PodName = "other" }, Path: "spec", Type: field.ErrorTypeInvalid},
		})
}

func TestPodCertificateRequestStatus(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := podCertificateRequestStrategy{now: func() time.Time { return now }}
	key, signer := newKey(t), newKey(t)
	notBefore := now.Add(-time.Minute)
	leaf := func(pub any, life time.Duration) string {
		return issue(t, &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: notBefore, NotAfter: notBefore.Add(life)}, pub, signer)
	}
	issued := func(chain string, life time.Duration) certificatesv1.PodCertificateRequestStatus {
		return certificatesv1.PodCertificateRequestStatus{
			CertificateChain: chain,
			NotBefore:        ptr.To(metav1.NewTime(notBefore)), NotAfter: ptr.To(metav1.NewTime(notBefore.Add(life))),
			BeginRefreshAt: ptr.To(metav1.NewTime(notBefore.Add(30 * time.Minute))),
			Conditions: []metav1.Condition{{Type: certificatesv1.PodCertificateRequestConditionTypeIssued, Status: metav1.ConditionTrue,
				Reason: "Signed", LastTransitionTime: metav1.NewTime(now)}},
		}
	}
	denied := certificatesv1.PodCertificateRequestStatus{Conditions: []metav1.Condition{{
		Type: certificatesv1.PodCertificateRequestConditionTypeDenied, Status: metav1.ConditionTrue, Reason: "Policy", LastTransitionTime: metav1.NewTime(now)}}}
	tests := []struct {
		name      string
		old, next certificatesv1.PodCertificateRequestStatus
		path      string
		typ       field.ErrorType
	}{
		{"issuing with a certificate for the key is valid", certificatesv1.PodCertificateRequestStatus{}, issued(leaf(&key.PublicKey, 2*time.Hour), 2*time.Hour), "", ""},
		{"denying is valid", certificatesv1.PodCertificateRequestStatus{}, denied, "", ""},
		{"a certificate for another key is refused", certificatesv1.PodCertificateRequestStatus{},
			issued(leaf(&signer.PublicKey, 2*time.Hour), 2*time.Hour), "status.certificateChain", field.ErrorTypeInvalid},
		{"a certificate shorter than an hour is refused", certificatesv1.PodCertificateRequestStatus{},
			issued(leaf(&key.PublicKey, 50*time.Minute), 50*time.Minute), "status.certificateChain", field.ErrorTypeInvalid},
		{"notAfter must match the certificate", certificatesv1.PodCertificateRequestStatus{},
			issued(leaf(&key.PublicKey, 2*time.Hour), 3*time.Hour), "status.notAfter", field.ErrorTypeInvalid},
		{"denying carries nothing but the condition", certificatesv1.PodCertificateRequestStatus{},
			func() certificatesv1.PodCertificateRequestStatus {
				d := *denied.DeepCopy()
				d.CertificateChain = "x"
				return d
			}(),
			"status", field.ErrorTypeInvalid},
		{"unknown condition types are not supported", certificatesv1.PodCertificateRequestStatus{},
			certificatesv1.PodCertificateRequestStatus{Conditions: []metav1.Condition{{Type: "Approved", Status: metav1.ConditionTrue, Reason: "X", LastTransitionTime: metav1.NewTime(now)}}},
			"status.conditions.[0].type", field.ErrorTypeNotSupported},
		{"a decided request is frozen", denied, issued(leaf(&key.PublicKey, 2*time.Hour), 2*time.Hour), "status", field.ErrorTypeInvalid},
		{"status may not change without a decision", certificatesv1.PodCertificateRequestStatus{},
			certificatesv1.PodCertificateRequestStatus{CertificateChain: "x"}, "status", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, next := newPCR(t, key), newPCR(t, key)
			old.Status, next.Status = tt.old, tt.next
			next.Spec = old.Spec
			kindstest.WantErr(t, s.ValidateStatusUpdate(next, old), tt.path, tt.typ)
		})
	}
}
