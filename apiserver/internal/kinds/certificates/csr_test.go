package certificates

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// requestPEM is a signed PKCS#10 request for a node client certificate.
func requestPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:node-a", Organization: []string{"system:nodes"}},
	}, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// certificatePEM is a self-signed certificate, as a signer's answer.
func certificatePEM(t testing.TB) []byte {
	t.Helper()
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "system:node:node-a"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
	}, &x509.Certificate{SerialNumber: big.NewInt(1)}, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// newCSR returns a maker of valid node client requests, all for one key.
func newCSR(t testing.TB) func() *certificatesv1.CertificateSigningRequest {
	request := requestPEM(t)
	return func() *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "node-csr-abc"},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request:    append([]byte(nil), request...),
				SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
				Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			},
		}
	}
}

// approved is an Approved condition as the store keeps it, stamped when
// it was written.
func approved() certificatesv1.CertificateSigningRequestCondition {
	stamped := metav1.NewTime(time.Date(2030, time.May, 1, 12, 0, 0, 0, time.UTC))
	return certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "AutoApproved",
		LastUpdateTime: stamped, LastTransitionTime: stamped}
}

func denied() certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "Nope"}
}

type csr = *certificatesv1.CertificateSigningRequest

func TestCSRValidate(t *testing.T) {
	testRequest, testCertificate := requestPEM(t), certificatePEM(t)
	kindstest.Create(t, CertificateSigningRequests().Strategy, newCSR(t), []kindstest.Case[csr]{
		{Name: "a node client request is valid", Mutate: func(c csr) {}},
		{Name: "expirationSeconds of 600 is valid", Mutate: func(c csr) { c.Spec.ExpirationSeconds = ptr.To(int32(600)) }},
		{Name: "request must be PEM", Mutate: func(c csr) { c.Spec.Request = []byte("not pem") },
			Path: "spec.request", Type: field.ErrorTypeInvalid},
		{Name: "request must be a CERTIFICATE REQUEST block", Mutate: func(c csr) { c.Spec.Request = testCertificate },
			Path: "spec.request", Type: field.ErrorTypeInvalid},
		{Name: "request signature must verify", Mutate: func(c csr) {
			block, _ := pem.Decode(c.Spec.Request)
			block.Bytes[len(block.Bytes)-1] ^= 0xff
			c.Spec.Request = pem.EncodeToMemory(block)
		}, Path: "spec.request", Type: field.ErrorTypeInvalid},
		{Name: "usages are required", Mutate: func(c csr) { c.Spec.Usages = nil },
			Path: "spec.usages", Type: field.ErrorTypeRequired},
		{Name: "usages come from the known set", Mutate: func(c csr) { c.Spec.Usages = []certificatesv1.KeyUsage{"world domination"} },
			Path: "spec.usages[0]", Type: field.ErrorTypeNotSupported},
		{Name: "usages are unique", Mutate: func(c csr) {
			c.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageClientAuth}
		}, Path: "spec.usages[1]", Type: field.ErrorTypeDuplicate},
		{Name: "signerName is required", Mutate: func(c csr) { c.Spec.SignerName = "" },
			Path: "spec.signerName", Type: field.ErrorTypeRequired},
		{Name: "signerName has a domain and a path", Mutate: func(c csr) { c.Spec.SignerName = "example.com" },
			Path: "spec.signerName", Type: field.ErrorTypeInvalid},
		{Name: "signerName's domain has two labels", Mutate: func(c csr) { c.Spec.SignerName = "example/signer" },
			Path: "spec.signerName", Type: field.ErrorTypeInvalid},
		{Name: "signerName's labels are DNS labels", Mutate: func(c csr) { c.Spec.SignerName = "Example.com/signer" },
			Path: "spec.signerName", Type: field.ErrorTypeInvalid},
		{Name: "the legacy signer is refused", Mutate: func(c csr) { c.Spec.SignerName = "kubernetes.io/legacy-unknown" },
			Path: "spec.signerName", Type: field.ErrorTypeInvalid},
		{Name: "expirationSeconds under 600 is refused", Mutate: func(c csr) { c.Spec.ExpirationSeconds = ptr.To(int32(599)) },
			Path: "spec.expirationSeconds", Type: field.ErrorTypeInvalid},
		{Name: "Approved and Denied are mutually exclusive", Mutate: func(c csr) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved(), denied()}
		}, Path: "status.conditions", Type: field.ErrorTypeInvalid},
		{Name: "Approved may only be True", Mutate: func(c csr) {
			cond := approved()
			cond.Status = corev1.ConditionFalse
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{cond}
		}, Path: "status.conditions[0].status", Type: field.ErrorTypeNotSupported},
		{Name: "condition status is required", Mutate: func(c csr) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Custom"}}
		}, Path: "status.conditions[0].status", Type: field.ErrorTypeRequired},
		{Name: "condition types are unique", Mutate: func(c csr) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved(), approved()}
		}, Path: "status.conditions[1].type", Type: field.ErrorTypeDuplicate},
		{Name: "certificate must be PEM CERTIFICATE blocks", Mutate: func(c csr) { c.Status.Certificate = testRequest },
			Path: "status.certificate", Type: field.ErrorTypeInvalid},
	})
}

func TestCSRPrepareForCreateRecordsTheRequester(t *testing.T) {
	testCertificate := certificatePEM(t)
	s := CertificateSigningRequests().Strategy
	c := newCSR(t)()
	c.Spec.Username, c.Spec.UID, c.Spec.Groups = "system:admin", "forged", []string{"system:masters"}
	c.Spec.Extra = map[string]certificatesv1.ExtraValue{"forged": {"yes"}}
	c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved()}
	c.Status.Certificate = testCertificate
	s.PrepareForCreate(c)
	ctx := authn.WithUser(context.Background(), &authn.User{
		Name: "system:bootstrap:abcdef", UID: "u-1", Groups: []string{"system:bootstrappers", "system:authenticated"},
		Extra: map[string][]string{"scope": {"join"}},
	})
	s.(apiresource.RequestPreparer).PrepareForCreateRequest(ctx, c)
	if c.Spec.Username != "system:bootstrap:abcdef" || c.Spec.UID != "u-1" ||
		len(c.Spec.Groups) != 2 || c.Spec.Groups[0] != "system:bootstrappers" ||
		len(c.Spec.Extra) != 1 || c.Spec.Extra["scope"][0] != "join" {
		t.Errorf("requester = %q %q %v %v", c.Spec.Username, c.Spec.UID, c.Spec.Groups, c.Spec.Extra)
	}
	if len(c.Status.Conditions) != 0 || len(c.Status.Certificate) != 0 {
		t.Errorf("a new request came with status %+v", c.Status)
	}

	anonymous := newCSR(t)()
	anonymous.Spec.Username = "system:admin"
	s.PrepareForCreate(anonymous)
	s.(apiresource.RequestPreparer).PrepareForCreateRequest(context.Background(), anonymous)
	if anonymous.Spec.Username != "" {
		t.Errorf("with no user in the context the requester is %q", anonymous.Spec.Username)
	}
}

func TestCSRUpdateChangesOnlyMetadata(t *testing.T) {
	testCertificate := certificatePEM(t)
	s := CertificateSigningRequests().Strategy
	old := newCSR(t)()
	old.Spec.Username = "alice"
	c := old.DeepCopy()
	c.Labels = map[string]string{"a": "b"}
	c.Spec.Username = "mallory"
	c.Spec.SignerName = "example.com/other"
	c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved()}
	c.Status.Certificate = testCertificate
	s.PrepareForUpdate(c, old)
	if errs := s.ValidateUpdate(c, old); len(errs) != 0 {
		t.Fatal(errs)
	}
	if c.Spec.Username != "alice" || c.Spec.SignerName != old.Spec.SignerName || len(c.Status.Conditions) != 0 || len(c.Status.Certificate) != 0 {
		t.Errorf("update changed more than metadata: %+v", c)
	}
	if c.Labels["a"] != "b" {
		t.Errorf("labels lost")
	}
}

// subresourceCase writes through sub: a copy of old, mutated, prepared
// and validated as the store does.
type subresourceCase struct {
	name   string
	sub    string
	old    func(c csr)
	mutate func(c csr)
	path   string
	typ    field.ErrorType
	check  func(t *testing.T, c csr)
}

func TestCSRSubresources(t *testing.T) {
	testCertificate := certificatePEM(t)
	now := time.Date(2030, time.June, 1, 12, 0, 0, 0, time.UTC)
	s := csrStrategy{now: func() time.Time { return now }}
	withApproval := func(c csr) { c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved()} }
	tests := []subresourceCase{
		{name: "approval adds Approved and stamps it", sub: apiresource.Approval,
			mutate: func(c csr) {
				c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
			},
			check: func(t *testing.T, c csr) {
				cond := c.Status.Conditions[0]
				if !cond.LastUpdateTime.Time.Equal(now) || !cond.LastTransitionTime.Time.Equal(now) {
					t.Errorf("condition times %v %v, want %v", cond.LastUpdateTime, cond.LastTransitionTime, now)
				}
			}},
		{name: "approval adds Denied", sub: apiresource.Approval,
			mutate: func(c csr) { c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{denied()} }},
		{name: "approval may not make a request both Approved and Denied", sub: apiresource.Approval, old: withApproval,
			mutate: func(c csr) { c.Status.Conditions = append(c.Status.Conditions, denied()) },
			path:   "status.conditions", typ: field.ErrorTypeInvalid},
		{name: "approval may not remove Approved", sub: apiresource.Approval, old: withApproval,
			mutate: func(c csr) { c.Status.Conditions = nil },
			path:   "status.conditions", typ: field.ErrorTypeForbidden},
		{name: "approval does not write the certificate", sub: apiresource.Approval, old: withApproval,
			mutate: func(c csr) { c.Status.Certificate = testCertificate },
			check: func(t *testing.T, c csr) {
				if len(c.Status.Certificate) != 0 {
					t.Error("the certificate was written through approval")
				}
			}},
		{name: "approval does not change the spec", sub: apiresource.Approval,
			mutate: func(c csr) { c.Spec.Username = "mallory"; withApproval(c) },
			check: func(t *testing.T, c csr) {
				if c.Spec.Username != "" {
					t.Errorf("username %q", c.Spec.Username)
				}
			}},
		{name: "status writes the certificate of an approved request", sub: apiresource.Status, old: withApproval,
			mutate: func(c csr) { c.Status.Certificate = testCertificate }},
		{name: "status may not change a certificate once written", sub: apiresource.Status,
			old:    func(c csr) { withApproval(c); c.Status.Certificate = testCertificate },
			mutate: func(c csr) { c.Status.Certificate = certificatePEM(t) },
			path:   "status.certificate", typ: field.ErrorTypeForbidden},
		{name: "status may not write a certificate that is not one", sub: apiresource.Status, old: withApproval,
			mutate: func(c csr) { c.Status.Certificate = []byte("junk") },
			path:   "status.certificate", typ: field.ErrorTypeInvalid},
		{name: "status may not add Approved", sub: apiresource.Status,
			mutate: withApproval,
			path:   "status.conditions", typ: field.ErrorTypeForbidden},
		{name: "status may not remove Approved", sub: apiresource.Status, old: withApproval,
			mutate: func(c csr) { c.Status.Conditions = nil },
			path:   "status.conditions", typ: field.ErrorTypeForbidden},
		{name: "status keeps Approved as it was", sub: apiresource.Status, old: withApproval,
			mutate: func(c csr) { c.Status.Conditions[0].Reason = "Rewritten" },
			check: func(t *testing.T, c csr) {
				if c.Status.Conditions[0].Reason != "AutoApproved" {
					t.Errorf("reason %q", c.Status.Conditions[0].Reason)
				}
			}},
		{name: "status adds Failed", sub: apiresource.Status, old: withApproval,
			mutate: func(c csr) {
				c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
					Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: "SignerError"})
			}},
		{name: "status may not remove Failed", sub: apiresource.Status,
			old: func(c csr) {
				c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue}}
			},
			mutate: func(c csr) { c.Status.Conditions = nil },
			path:   "status.conditions", typ: field.ErrorTypeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newCSR(t)()
			if tt.old != nil {
				tt.old(old)
			}
			c := old.DeepCopy()
			tt.mutate(c)
			var obj runtime.Object = c
			s.PrepareForSubresourceUpdate(tt.sub, obj, old)
			kindstest.WantErr(t, s.ValidateSubresourceUpdate(tt.sub, obj, old), tt.path, tt.typ)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestCSRUpdateToleratesStoredFaults(t *testing.T) {
	old := newCSR(t)()
	old.Spec.Usages = []certificatesv1.KeyUsage{"legacy usage"}
	c := old.DeepCopy()
	c.Annotations = map[string]string{"note": "x"}
	s := CertificateSigningRequests().Strategy
	s.PrepareForUpdate(c, old)
	kindstest.WantErr(t, s.ValidateUpdate(c, old), "", "")
}
