package certificates

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/authn"
)

// legacyUnknownSignerName is the signer v1beta1 defaulted to; the v1 API
// refuses it on new requests.
const legacyUnknownSignerName = "kubernetes.io/legacy-unknown"

// csrStrategy is Kubernetes' CertificateSigningRequest strategy
// (pkg/registry/certificates/certificates) and validation
// (pkg/apis/certificates/validation). The spec is fixed at creation and
// names the requester as authenticated, whatever the client sent; the
// object itself may then change only its metadata; /approval writes the
// Approved and Denied conditions, /status the certificate and the other
// conditions, so approving and signing stay separate powers.
type csrStrategy struct {
	apiresource.DefaultStrategy
	// now stamps conditions written without times.
	now func() time.Time
}

var (
	_ apiresource.RequestPreparer     = csrStrategy{}
	_ apiresource.SubresourceStrategy = csrStrategy{}
)

func newCSRStrategy() csrStrategy { return csrStrategy{now: time.Now} }

// PrepareForCreate: nobody creates a pre-approved or pre-signed request.
// The requester fields are cleared here and filled from the request in
// PrepareForCreateRequest.
func (csrStrategy) PrepareForCreate(obj runtime.Object) {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	csr.Spec.Username = ""
	csr.Spec.UID = ""
	csr.Spec.Groups = nil
	csr.Spec.Extra = nil
	csr.Status = certificatesv1.CertificateSigningRequestStatus{}
}

// PrepareForCreateRequest records the authenticated user as the
// requester: the signers and approvers trust spec.username and
// spec.groups because the apiserver wrote them.
func (csrStrategy) PrepareForCreateRequest(ctx context.Context, obj runtime.Object) {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	u, ok := authn.UserFrom(ctx)
	if !ok {
		return
	}
	csr.Spec.Username = u.Name
	csr.Spec.UID = u.UID
	csr.Spec.Groups = append([]string(nil), u.Groups...)
	if len(u.Extra) > 0 {
		csr.Spec.Extra = map[string]certificatesv1.ExtraValue{}
		for k, v := range u.Extra {
			csr.Spec.Extra[k] = append(certificatesv1.ExtraValue(nil), v...)
		}
	}
}

// PrepareForUpdate: an update of the object itself changes only its
// metadata.
func (csrStrategy) PrepareForUpdate(obj, old runtime.Object) {
	csr, was := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	csr.Spec = *was.Spec.DeepCopy()
	csr.Status = *was.Status.DeepCopy()
}

// PrepareForSubresourceUpdate: /status keeps the spec and the Approved and
// Denied conditions as they were (adding or removing one is refused by
// validation); /approval keeps everything but the conditions.
func (s csrStrategy) PrepareForSubresourceUpdate(sub string, obj, old runtime.Object) {
	csr, was := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	csr.Spec = *was.Spec.DeepCopy()
	switch sub {
	case apiresource.Status:
		preserveConditions(csr, was, certificatesv1.CertificateApproved)
		preserveConditions(csr, was, certificatesv1.CertificateDenied)
		s.stampConditions(csr, was)
	case apiresource.Approval:
		s.stampConditions(csr, was)
		conditions := csr.Status.Conditions
		csr.Status = *was.Status.DeepCopy()
		csr.Status.Conditions = conditions
	}
}

// preserveConditions puts back old's conditions of type t when the write
// kept their number, so that /status cannot rewrite an approval.
func preserveConditions(csr, old *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) {
	oldIdx, newIdx := conditionIndices(old, t), conditionIndices(csr, t)
	if len(oldIdx) != len(newIdx) {
		return
	}
	for i, o := range oldIdx {
		csr.Status.Conditions[newIdx[i]] = *old.Status.Conditions[o].DeepCopy()
	}
}

func conditionIndices(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []int {
	var out []int
	for i, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, i)
		}
	}
	return out
}

// stampConditions sets lastUpdateTime where it is unset, and
// lastTransitionTime to that of the same type and status before, else now.
func (s csrStrategy) stampConditions(csr, old *certificatesv1.CertificateSigningRequest) {
	now := metav1.NewTime(s.clock()().Truncate(time.Second))
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, o := range old.Status.Conditions {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
				break
			}
		}
	}
}

func (s csrStrategy) clock() func() time.Time {
	if s.now == nil {
		return time.Now
	}
	return s.now
}

func (csrStrategy) Validate(obj runtime.Object) field.ErrorList {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	return validateCSR(csr, optionsFor(csr, nil))
}

func (csrStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	csr, was := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	return validateCSRUpdate(csr, was, optionsFor(csr, was))
}

func (s csrStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	return s.ValidateSubresourceUpdate(apiresource.Status, obj, old)
}

// ValidateSubresourceUpdate: /status may set the certificate once,
// /approval may add Approved or Denied; neither may remove an Approved,
// Denied or Failed condition.
func (csrStrategy) ValidateSubresourceUpdate(sub string, obj, old runtime.Object) field.ErrorList {
	csr, was := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	opts := optionsFor(csr, was)
	switch sub {
	case apiresource.Status:
		opts.allowSettingCertificate = true
	case apiresource.Approval:
		opts.allowSettingApprovalConditions = true
	}
	return validateCSRUpdate(csr, was, opts)
}

// validationOptions are what one write may do, and the faults of stored
// objects it tolerates for compatibility, as Kubernetes'
// certificateValidationOptions.
type validationOptions struct {
	// Powers of the subresources.
	allowSettingApprovalConditions bool
	allowSettingCertificate        bool

	// Faults the stored object already has.
	allowBothApprovedAndDenied   bool
	allowLegacySignerName        bool
	allowDuplicateConditionTypes bool
	allowEmptyConditionType      bool
	allowArbitraryCertificate    bool
	allowUnknownUsages           bool
	allowDuplicateUsages         bool
}

// optionsFor tolerates in an update what old already got wrong; old is
// nil on create.
func optionsFor(csr, old *certificatesv1.CertificateSigningRequest) validationOptions {
	if old == nil {
		return validationOptions{}
	}
	approved, denied := len(conditionIndices(old, certificatesv1.CertificateApproved)) > 0, len(conditionIndices(old, certificatesv1.CertificateDenied)) > 0
	seen := map[certificatesv1.RequestConditionType]bool{}
	var duplicateType, emptyType bool
	for _, c := range old.Status.Conditions {
		duplicateType = duplicateType || seen[c.Type]
		emptyType = emptyType || c.Type == ""
		seen[c.Type] = true
	}
	unknownUsage, duplicateUsage := false, false
	usages := map[certificatesv1.KeyUsage]bool{}
	for _, u := range old.Spec.Usages {
		unknownUsage = unknownUsage || !validUsages[u]
		duplicateUsage = duplicateUsage || usages[u]
		usages[u] = true
	}
	return validationOptions{
		allowBothApprovedAndDenied:   approved && denied,
		allowLegacySignerName:        old.Spec.SignerName == legacyUnknownSignerName,
		allowDuplicateConditionTypes: duplicateType,
		allowEmptyConditionType:      emptyType,
		allowArbitraryCertificate:    bytes.Equal(csr.Status.Certificate, old.Status.Certificate) || validateCertificate(old.Status.Certificate) != nil,
		allowUnknownUsages:           unknownUsage,
		allowDuplicateUsages:         duplicateUsage,
	}
}

// validUsages are the key usages a request may ask for.
var validUsages = map[certificatesv1.KeyUsage]bool{
	certificatesv1.UsageSigning: true, certificatesv1.UsageDigitalSignature: true, certificatesv1.UsageContentCommitment: true,
	certificatesv1.UsageKeyEncipherment: true, certificatesv1.UsageKeyAgreement: true, certificatesv1.UsageDataEncipherment: true,
	certificatesv1.UsageCertSign: true, certificatesv1.UsageCRLSign: true, certificatesv1.UsageEncipherOnly: true,
	certificatesv1.UsageDecipherOnly: true, certificatesv1.UsageAny: true, certificatesv1.UsageServerAuth: true,
	certificatesv1.UsageClientAuth: true, certificatesv1.UsageCodeSigning: true, certificatesv1.UsageEmailProtection: true,
	certificatesv1.UsageSMIME: true, certificatesv1.UsageIPsecEndSystem: true, certificatesv1.UsageIPsecTunnel: true,
	certificatesv1.UsageIPsecUser: true, certificatesv1.UsageTimestamping: true, certificatesv1.UsageOCSPSigning: true,
	certificatesv1.UsageMicrosoftSGC: true, certificatesv1.UsageNetscapeSGC: true,
}

func sortedUsages() []string {
	out := make([]string, 0, len(validUsages))
	for u := range validUsages {
		out = append(out, string(u))
	}
	sort.Strings(out)
	return out
}

// trueOnlyConditions may only have status True.
var trueOnlyConditions = map[certificatesv1.RequestConditionType]bool{
	certificatesv1.CertificateApproved: true, certificatesv1.CertificateDenied: true, certificatesv1.CertificateFailed: true,
}

func validateCSR(csr *certificatesv1.CertificateSigningRequest, opts validationOptions) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if err := checkRequest(csr.Spec.Request); err != nil {
		errs = append(errs, field.Invalid(spec.Child("request"), csr.Spec.Request, err.Error()))
	}
	if len(csr.Spec.Usages) == 0 {
		errs = append(errs, field.Required(spec.Child("usages"), ""))
	}
	seen := map[certificatesv1.KeyUsage]bool{}
	for i, u := range csr.Spec.Usages {
		if !opts.allowUnknownUsages && !validUsages[u] {
			errs = append(errs, field.NotSupported(spec.Child("usages").Index(i), u, sortedUsages()))
		}
		if !opts.allowDuplicateUsages && seen[u] {
			errs = append(errs, field.Duplicate(spec.Child("usages").Index(i), u))
		}
		seen[u] = true
	}
	if !opts.allowLegacySignerName && csr.Spec.SignerName == legacyUnknownSignerName {
		errs = append(errs, field.Invalid(spec.Child("signerName"), csr.Spec.SignerName, "the legacy signerName is not allowed via this API version"))
	} else {
		errs = append(errs, validateSignerName(spec.Child("signerName"), csr.Spec.SignerName)...)
	}
	if s := csr.Spec.ExpirationSeconds; s != nil && *s < 600 {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), *s, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	errs = append(errs, validateConditions(field.NewPath("status", "conditions"), csr, opts)...)
	if !opts.allowArbitraryCertificate {
		if err := validateCertificate(csr.Status.Certificate); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("status", "certificate"), "<certificate data>", err.Error()))
		}
	}
	return errs
}

// checkRequest parses a PEM "CERTIFICATE REQUEST" and checks its
// signature: a request not signed by its own key proves nothing.
func checkRequest(pemBytes []byte) error {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	return req.CheckSignature()
}

// validateCertificate accepts nothing, or only PEM CERTIFICATE blocks
// without headers that parse.
func validateCertificate(pemData []byte) error {
	if len(pemData) == 0 {
		return nil
	}
	blocks := 0
	for {
		block, rest := pem.Decode(pemData)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("only CERTIFICATE PEM blocks are allowed, found %q", block.Type)
		}
		if len(block.Headers) != 0 {
			return errors.New("no PEM block headers are permitted")
		}
		blocks++
		certs, err := x509.ParseCertificates(block.Bytes)
		if err != nil {
			return err
		}
		if len(certs) == 0 {
			return errors.New("found CERTIFICATE PEM block containing 0 certificates")
		}
		pemData = rest
	}
	if blocks == 0 {
		return errors.New("must contain at least one CERTIFICATE PEM block")
	}
	return nil
}

// validateSignerName wants "example.com/signer-name": a domain of at
// least two DNS labels, then a path of DNS subdomains joined by dots.
func validateSignerName(fld *field.Path, name string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	segments := strings.Split(name, "/")
	if len(segments) != 2 {
		return field.ErrorList{field.Invalid(fld, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	maxDomain := validation.DNS1123SubdomainMaxLength
	if len(segments[0]) > maxDomain {
		errs = append(errs, field.TooLong(fld, "", maxDomain))
	}
	domainLabels := strings.Split(segments[0], ".")
	for _, l := range domainLabels {
		if msgs := validation.IsDNS1123Label(l); len(msgs) > 0 {
			for _, m := range msgs {
				errs = append(errs, field.Invalid(fld, segments[0], fmt.Sprintf("validating label %q: %s", l, m)))
			}
			break
		}
	}
	if len(domainLabels) < 2 {
		errs = append(errs, field.Invalid(fld, segments[0], "should be a domain with at least two segments separated by dots"))
	}
	for _, l := range strings.Split(segments[1], ".") {
		if msgs := validation.IsDNS1123Subdomain(l); len(msgs) > 0 {
			for _, m := range msgs {
				errs = append(errs, field.Invalid(fld, segments[1], fmt.Sprintf("validating label %q: %s", l, m)))
			}
			break
		}
	}
	maxName := maxDomain + validation.DNS1123SubdomainMaxLength + validation.DNS1123LabelMaxLength + 2
	if len(name) > maxName {
		errs = append(errs, field.TooLong(fld, "", maxName))
	}
	return errs
}

func validateConditions(fld *field.Path, csr *certificatesv1.CertificateSigningRequest, opts validationOptions) field.ErrorList {
	var errs field.ErrorList
	seen := map[certificatesv1.RequestConditionType]bool{}
	approved, denied := false, false
	for i, c := range csr.Status.Conditions {
		if !opts.allowEmptyConditionType && c.Type == "" {
			errs = append(errs, field.Required(fld.Index(i).Child("type"), ""))
		}
		allowed := []string{string(corev1.ConditionFalse), string(corev1.ConditionTrue), string(corev1.ConditionUnknown)}
		if trueOnlyConditions[c.Type] {
			allowed = []string{string(corev1.ConditionTrue)}
		}
		switch {
		case c.Status == "":
			errs = append(errs, field.Required(fld.Index(i).Child("status"), ""))
		case !slices.Contains(allowed, string(c.Status)):
			errs = append(errs, field.NotSupported(fld.Index(i).Child("status"), c.Status, allowed))
		}
		if !opts.allowBothApprovedAndDenied {
			switch c.Type {
			case certificatesv1.CertificateApproved:
				approved = true
				if denied {
					errs = append(errs, field.Invalid(fld, c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			case certificatesv1.CertificateDenied:
				denied = true
				if approved {
					errs = append(errs, field.Invalid(fld, c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			}
		}
		if !opts.allowDuplicateConditionTypes {
			if seen[c.Type] {
				errs = append(errs, field.Duplicate(fld.Index(i).Child("type"), c.Type))
			}
			seen[c.Type] = true
		}
	}
	return errs
}

// validateCSRUpdate checks a write over old: conditions that decide a
// request's fate are never removed, only /approval adds or changes
// Approved and Denied, and only /status sets the certificate, once.
func validateCSRUpdate(csr, old *certificatesv1.CertificateSigningRequest, opts validationOptions) field.ErrorList {
	errs := validateCSR(csr, opts)
	conditions := field.NewPath("status", "conditions")
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed} {
		if len(conditionIndices(csr, t)) < len(conditionIndices(old, t)) {
			errs = append(errs, field.Forbidden(conditions, fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	if !opts.allowSettingApprovalConditions {
		for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied} {
			was, is := findConditions(old, t), findConditions(csr, t)
			switch {
			case len(is) < len(was):
				// Refused above.
			case len(is) > len(was):
				errs = append(errs, field.Forbidden(conditions, fmt.Sprintf("updates may not add a condition of type %q", t)))
			case !equality.Semantic.DeepEqual(was, is):
				errs = append(errs, field.Forbidden(conditions, fmt.Sprintf("updates may not modify a condition of type %q\n%v", t, diff.Diff(was, is))))
			}
		}
	}
	if !bytes.Equal(csr.Status.Certificate, old.Status.Certificate) {
		certificate := field.NewPath("status", "certificate")
		switch {
		case !opts.allowSettingCertificate:
			errs = append(errs, field.Forbidden(certificate, "updates may not set certificate content"))
		case len(old.Status.Certificate) > 0:
			errs = append(errs, field.Forbidden(certificate, "updates may not modify existing certificate content"))
		}
	}
	return errs
}

func findConditions(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []certificatesv1.CertificateSigningRequestCondition {
	var out []certificatesv1.CertificateSigningRequestCondition
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, c)
		}
	}
	return out
}
