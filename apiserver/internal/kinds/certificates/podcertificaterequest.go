package certificates

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// PodCertificateRequests: namespaced requests, made by a kubelet for a
// pod's projected podCertificate volume, that a signer answers through
// status. Selectable by spec.signerName, spec.podName and spec.nodeName.
func PodCertificateRequests() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(certificatesv1.SchemeGroupVersion, "podcertificaterequests",
		&certificatesv1.PodCertificateRequest{}, &certificatesv1.PodCertificateRequestList{})
	d.Namespaced = true
	d.Strategy = newPodCertificateRequestStrategy()
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.PodCertificateRequest()
	d.FieldLabels = []string{"spec.signerName", "spec.podName", "spec.nodeName"}
	d.Fields = func(obj runtime.Object) fields.Set {
		r := obj.(*certificatesv1.PodCertificateRequest)
		return fields.Set{"spec.signerName": r.Spec.SignerName, "spec.podName": r.Spec.PodName, "spec.nodeName": string(r.Spec.NodeName)}
	}
	return d
}

// podCertificateRequestStrategy is Kubernetes' PodCertificateRequest
// strategy and validation: the spec, fixed at creation, names the pod,
// its service account and node, and carries the key in a stub PKCS#10
// request; status is
// written once, by the signer, to issue, deny or fail the request, and is
// frozen after.
type podCertificateRequestStrategy struct {
	apiresource.DefaultStrategy
	// now is the clock an issued certificate's notBefore is checked
	// against.
	now func() time.Time
}

func newPodCertificateRequestStrategy() podCertificateRequestStrategy {
	return podCertificateRequestStrategy{now: time.Now}
}

func (podCertificateRequestStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*certificatesv1.PodCertificateRequest).Status = certificatesv1.PodCertificateRequestStatus{}
}

func (podCertificateRequestStrategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*certificatesv1.PodCertificateRequest).Status = *old.(*certificatesv1.PodCertificateRequest).Status.DeepCopy()
}

func (podCertificateRequestStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validatePodCertificateRequest(obj.(*certificatesv1.PodCertificateRequest))
}

func (podCertificateRequestStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	r, was := obj.(*certificatesv1.PodCertificateRequest), old.(*certificatesv1.PodCertificateRequest)
	return apivalidation.ValidateImmutableField(r.Spec, was.Spec, field.NewPath("spec"))
}

func (s podCertificateRequestStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	return validatePodCertificateRequestStatus(obj.(*certificatesv1.PodCertificateRequest), old.(*certificatesv1.PodCertificateRequest), s.now())
}

// Limits of Kubernetes' PodCertificateRequest API.
const (
	maxKeyFieldSize          = 10 * 1024 // stubPKCS10Request
	maxCertificateChainSize  = 100 * 1024
	minMaxExpirationSeconds  = 60 * 60
	maxMaxExpirationSeconds  = 91 * 24 * 60 * 60
	kubernetesMaxExpiration  = 24 * 60 * 60
	kubernetesSignerPrefix   = "kubernetes.io/"
	maxPodCertificateUIDSize = 128
)

var (
	pkcs10Path       = field.NewPath("spec", "stubPKCS10Request")
	certChainPath    = field.NewPath("status", "certificateChain")
	notBeforePath    = field.NewPath("status", "notBefore")
	notAfterPath     = field.NewPath("status", "notAfter")
	beginRefreshPath = field.NewPath("status", "beginRefreshAt")
)

func validatePodCertificateRequest(r *certificatesv1.PodCertificateRequest) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateSignerName(spec.Child("signerName"), r.Spec.SignerName)
	for k := range r.Spec.UnverifiedUserAnnotations {
		errs = append(errs, validation.IsDomainPrefixedKey(spec.Child("unverifiedUserAnnotations"), strings.ToLower(k))...)
	}
	if err := apivalidation.ValidateAnnotationsSize(r.Spec.UnverifiedUserAnnotations); err != nil {
		errs = append(errs, field.TooLong(spec.Child("unverifiedUserAnnotations"), "", apivalidation.TotalAnnotationSizeLimitB))
	}
	for _, n := range []struct{ name, value string }{
		{"podName", r.Spec.PodName}, {"serviceAccountName", r.Spec.ServiceAccountName}, {"nodeName", string(r.Spec.NodeName)},
	} {
		for _, msg := range apivalidation.NameIsDNSSubdomain(n.value, false) {
			errs = append(errs, field.Invalid(spec.Child(n.name), n.value, msg))
		}
	}
	for _, u := range []struct{ name, value string }{
		{"podUID", string(r.Spec.PodUID)}, {"serviceAccountUID", string(r.Spec.ServiceAccountUID)}, {"nodeUID", string(r.Spec.NodeUID)},
	} {
		if u.value == "" {
			errs = append(errs, field.Invalid(spec.Child(u.name), u.value, "must not be empty"))
		}
		if len(u.value) > maxPodCertificateUIDSize {
			errs = append(errs, field.TooLong(spec.Child(u.name), u.value, maxPodCertificateUIDSize))
		}
	}
	if r.Spec.MaxExpirationSeconds == nil {
		return append(errs, field.Required(spec.Child("maxExpirationSeconds"), "must be set"))
	}
	// Kubernetes' own signers issue for a day at most, others for 91 days.
	highest := int32(maxMaxExpirationSeconds)
	if strings.HasPrefix(r.Spec.SignerName, kubernetesSignerPrefix) {
		highest = kubernetesMaxExpiration
	}
	if s := *r.Spec.MaxExpirationSeconds; s < minMaxExpirationSeconds || s > highest {
		errs = append(errs, field.Invalid(spec.Child("maxExpirationSeconds"), r.Spec.MaxExpirationSeconds,
			fmt.Sprintf("must be in the range [%d, %d]", minMaxExpirationSeconds, highest)))
	}
	// v1 has only the stub request; the older public key and proof of
	// possession are not part of it.
	if len(r.Spec.StubPKCS10Request) == 0 {
		return append(errs, field.Invalid(spec, field.OmitValueType{}, "exactly one of (stubPKCS10Request) or (pkixPublicKey, proofOfPossession) must be set"))
	}
	return append(errs, validateStubPKCS10Request(r.Spec.StubPKCS10Request)...)
}

// validateStubPKCS10Request wants a self-signed request for an Ed25519,
// ECDSA (P256, P384, P521) or RSA (3072 or 4096 bits) key. Its contents
// are the signer's business: kubelets send empty ones.
func validateStubPKCS10Request(der []byte) field.ErrorList {
	if len(der) > maxKeyFieldSize {
		return field.ErrorList{field.TooLong(pkcs10Path, der, maxKeyFieldSize)}
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return field.ErrorList{field.Invalid(pkcs10Path, field.OmitValueType{}, "must be a valid PKCS#10 CSR")}
	}
	switch pub := req.PublicKey.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if !supportedCurve(pub.Curve) {
			return field.ErrorList{field.Invalid(pkcs10Path, "curve "+pub.Curve.Params().Name, "elliptic public keys must use curve P256, P384, or P521")}
		}
	case *rsa.PublicKey:
		if bits := pub.Size() * 8; bits != 3072 && bits != 4096 {
			return field.ErrorList{field.Invalid(pkcs10Path, fmt.Sprintf("%d-bit modulus", bits), "RSA keys must have modulus size 3072 or 4096")}
		}
	default:
		return field.ErrorList{field.Invalid(pkcs10Path, field.OmitValueType{}, "unknown public key type; supported types are Ed25519, ECDSA, and RSA")}
	}
	if err := req.CheckSignature(); err != nil {
		return field.ErrorList{field.Invalid(pkcs10Path, field.OmitValueType{}, "invalid signature")}
	}
	return nil
}

func supportedCurve(c elliptic.Curve) bool {
	return c == elliptic.P256() || c == elliptic.P384() || c == elliptic.P521()
}

// terminalConditions end a request; at most one, with status True.
var terminalConditions = []string{
	certificatesv1.PodCertificateRequestConditionTypeIssued,
	certificatesv1.PodCertificateRequestConditionTypeDenied,
	certificatesv1.PodCertificateRequestConditionTypeFailed,
}

func hasCondition(r *certificatesv1.PodCertificateRequest, t string) bool {
	for _, c := range r.Status.Conditions {
		if c.Type == t && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

func terminal(r *certificatesv1.PodCertificateRequest) bool {
	for _, t := range terminalConditions {
		if hasCondition(r, t) {
			return true
		}
	}
	return false
}

// validatePodCertificateRequestStatus: the status moves once, from empty
// to Issued (with a certificate for the requested key, and times that
// match it), Denied or Failed (with nothing but the condition), and never
// again.
func validatePodCertificateRequestStatus(r, old *certificatesv1.PodCertificateRequest, now time.Time) field.ErrorList {
	var errs field.ErrorList
	cpath := field.NewPath("status", "conditions")
	known := 0
	for i, c := range r.Status.Conditions {
		// "status.conditions.[0]", as Kubernetes spells these paths.
		p := cpath.Child("[" + strconv.Itoa(i) + "]")
		switch c.Type {
		case terminalConditions[0], terminalConditions[1], terminalConditions[2]:
			known++
			if known > 1 {
				errs = append(errs, field.Invalid(p.Child("type"), c.Type, `There may be at most one condition with type "Issued", "Denied", or "Failed"`))
			}
			if c.Status != metav1.ConditionTrue {
				errs = append(errs, field.NotSupported(p.Child("status"), c.Status, []metav1.ConditionStatus{metav1.ConditionTrue}))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("type"), c.Type, terminalConditions))
		}
	}
	errs = append(errs, metav1validation.ValidateConditions(r.Status.Conditions, cpath)...)
	if len(errs) > 0 {
		return errs
	}
	status := field.NewPath("status")
	switch {
	case terminal(old):
		return unchanged(r.Status, old.Status, status, "immutable after PodCertificateRequest is issued, denied, or failed")
	case hasCondition(r, certificatesv1.PodCertificateRequestConditionTypeDenied), hasCondition(r, certificatesv1.PodCertificateRequestConditionTypeFailed):
		want := certificatesv1.PodCertificateRequestStatus{Conditions: r.Status.Conditions}
		return unchanged(r.Status, want, status, "non-condition status fields must be empty when denying or failing the PodCertificateRequest")
	case hasCondition(r, certificatesv1.PodCertificateRequestConditionTypeIssued):
		return validateIssued(r, old, now)
	}
	return unchanged(r.Status, old.Status, status, `status is immutable unless transitioning to "Issued", "Denied", or "Failed"`)
}

func unchanged(a, b certificatesv1.PodCertificateRequestStatus, p *field.Path, detail string) field.ErrorList {
	if apiequality.Semantic.DeepEqual(a, b) {
		return nil
	}
	return field.ErrorList{field.Invalid(p, field.OmitValueType{}, detail)}
}

// validateIssued checks an issued certificate chain: its leaf was issued
// for the requested key, its times are those of the status, it starts
// within five minutes of now, lives between an hour and
// spec.maxExpirationSeconds, and refresh begins at least ten minutes
// inside its life.
func validateIssued(r, old *certificatesv1.PodCertificateRequest, now time.Time) field.ErrorList {
	st := &r.Status
	chain := st.CertificateChain
	if len(chain) > maxCertificateChainSize {
		return field.ErrorList{field.TooLong(certChainPath, chain, maxCertificateChainSize)}
	}
	leafBlock, rest := pem.Decode([]byte(chain))
	switch {
	case leafBlock == nil:
		return field.ErrorList{field.Invalid(certChainPath, chain, "issued certificate chain must contain at least one certificate")}
	case leafBlock.Type != "CERTIFICATE":
		return field.ErrorList{field.Invalid(certChainPath, chain, "issued certificate chain must consist entirely of CERTIFICATE PEM blocks")}
	}
	leaf, err := x509.ParseCertificate(leafBlock.Bytes)
	if err != nil {
		return field.ErrorList{field.Invalid(certChainPath, chain, "leaf certificate does not parse as valid X.509")}
	}
	var errs field.ErrorList
	for _, name := range leaf.DNSNames {
		switch {
		case name == "":
			errs = append(errs, field.Invalid(certChainPath, name, "leaf certificate should not contain empty DNSName"))
		case strings.Contains(name, ".."):
			errs = append(errs, field.Invalid(certChainPath, name, "leaf certificate's DNSName should not contain '..'"))
		case strings.HasPrefix(name, ".") || strings.HasSuffix(name, "."):
			errs = append(errs, field.Invalid(certChainPath, name, "leaf certificate's DNSName should not start or end with '.'"))
		}
	}
	for _, addr := range leaf.EmailAddresses {
		if _, err := mail.ParseAddress(addr); err != nil {
			errs = append(errs, field.Invalid(certChainPath, addr, "leaf certificate should not contain invalid EmailAddress"))
		}
	}
	want, keyErr := requestedKey(old)
	if keyErr != nil {
		return append(errs, keyErr)
	}
	if k, ok := want.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(leaf.PublicKey) {
		return append(errs, field.Invalid(certChainPath, chain, "leaf certificate was not issued to the requested public key"))
	}
	if st.NotBefore == nil {
		errs = append(errs, field.Required(notBeforePath, "must be present and consistent with the issued certificate"))
	}
	if st.NotAfter == nil {
		errs = append(errs, field.Required(notAfterPath, "must be present and consistent with the issued certificate"))
	}
	if st.BeginRefreshAt == nil {
		errs = append(errs, field.Required(beginRefreshPath, "must be present and in the range [notbefore+10min, notafter-10min]"))
	}
	if len(errs) > 0 {
		return errs
	}
	const skew, margin = 5 * time.Minute, 10 * time.Minute
	notBefore, notAfter, refresh := st.NotBefore.Time, st.NotAfter.Time, st.BeginRefreshAt.Time
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
	switch {
	case !notBefore.Equal(leaf.NotBefore):
		return field.ErrorList{field.Invalid(notBeforePath, notBefore, "must be set to the NotBefore time encoded in the leaf certificate")}
	case !notBefore.After(now.Add(-skew)) || !notBefore.Before(now.Add(skew)):
		return field.ErrorList{field.Invalid(notBeforePath, notBefore, "must be set to within 5 minutes of kube-apiserver's current time")}
	case !notAfter.Equal(leaf.NotAfter):
		return field.ErrorList{field.Invalid(notAfterPath, notAfter, "must be set to the NotAfter time encoded in the leaf certificate")}
	case lifetime < time.Hour:
		return field.ErrorList{field.Invalid(certChainPath, lifetime, "leaf certificate lifetime must be >= 1 hour")}
	case lifetime > time.Duration(*r.Spec.MaxExpirationSeconds)*time.Second:
		return field.ErrorList{field.Invalid(certChainPath, lifetime,
			fmt.Sprintf("leaf certificate lifetime must be <= spec.maxExpirationSeconds (%v)", *r.Spec.MaxExpirationSeconds))}
	case refresh.Before(notBefore.Add(margin)):
		return field.ErrorList{field.Invalid(beginRefreshPath, refresh, "must be at least 10 minutes after status.notBefore")}
	case refresh.After(notAfter.Add(-margin)):
		return field.ErrorList{field.Invalid(beginRefreshPath, refresh, "must be at least 10 minutes before status.notAfter")}
	}
	// The rest of the chain cannot be verified as a partial chain; each
	// must at least be a certificate.
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return nil
		}
		if block.Type != "CERTIFICATE" {
			return field.ErrorList{field.Invalid(certChainPath, chain, "issued certificate chain must consist entirely of CERTFICATE PEM blocks")}
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return field.ErrorList{field.Invalid(certChainPath, chain, "intermediate certificate does not parse as valid X.509")}
		}
	}
}

// requestedKey is the public key the request asked a certificate for.
func requestedKey(r *certificatesv1.PodCertificateRequest) (crypto.PublicKey, *field.Error) {
	req, err := x509.ParseCertificateRequest(r.Spec.StubPKCS10Request)
	if err != nil {
		return nil, field.Invalid(pkcs10Path, field.OmitValueType{}, "must be a valid PKCS#10 CSR")
	}
	return req.PublicKey, nil
}
