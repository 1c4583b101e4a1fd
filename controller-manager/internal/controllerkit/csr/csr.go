// Package csr holds what the CertificateSigningRequest controllers share
// about a request: parsing its PEM, reading its conditions, and the
// shape Kubernetes requires of a kubelet's client and serving
// certificates (pkg/apis/certificates helpers and
// pkg/controller/certificates utils upstream), with the same error
// messages, since the signer writes them into a Failed condition.
package csr

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"

	"coracle.dev/controller-manager/internal/controller"
)

// NodeUserPrefix starts the user name of a node, and NodesGroup is the
// group every node is in (Kubernetes' user.NodesGroup).
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
)

// Parse decodes spec.request: one PEM block of type CERTIFICATE REQUEST.
func Parse(pemBytes []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

// ApprovalCondition reports whether the request has an Approved and a
// Denied condition (whatever their status, as Kubernetes reads them).
func ApprovalCondition(status *certv1.CertificateSigningRequestStatus) (approved, denied bool) {
	for _, c := range status.Conditions {
		switch c.Type {
		case certv1.CertificateApproved:
			approved = true
		case certv1.CertificateDenied:
			denied = true
		}
	}
	return approved, denied
}

// IsApproved is true when the request is approved and not denied.
func IsApproved(r *certv1.CertificateSigningRequest) bool {
	approved, denied := ApprovalCondition(&r.Status)
	return approved && !denied
}

// HasTrueCondition is true when the request has a condition of type t
// whose status is True or empty.
func HasTrueCondition(r *certv1.CertificateSigningRequest, t certv1.RequestConditionType) bool {
	for _, c := range r.Status.Conditions {
		if c.Type == t && (c.Status == "" || c.Status == corev1.ConditionTrue) {
			return true
		}
	}
	return false
}

// Usages is spec.usages as a set.
func Usages(usages []certv1.KeyUsage) sets.Set[string] {
	s := sets.New[string]()
	for _, u := range usages {
		s.Insert(string(u))
	}
	return s
}

// The errors of the kubelet certificate checks, worded as Kubernetes
// words them.
var (
	ErrOrganizationNotSystemNodes = errors.New("subject organization is not system:nodes")
	ErrCommonNameNotSystemNode    = errors.New("subject common name does not begin with system:node:")
	ErrDNSOrIPSANRequired         = errors.New("DNS or IP subjectAltName is required")
	ErrDNSSANNotAllowed           = errors.New("DNS subjectAltNames are not allowed")
	ErrEmailSANNotAllowed         = errors.New("Email subjectAltNames are not allowed")
	ErrIPSANNotAllowed            = errors.New("IP subjectAltNames are not allowed")
	ErrURISANNotAllowed           = errors.New("URI subjectAltNames are not allowed")
)

// The usages a kubelet asks for: key encipherment only with an RSA key,
// so each has two accepted sets.
var (
	kubeletServingUsages      = sets.New(string(certv1.UsageDigitalSignature), string(certv1.UsageKeyEncipherment), string(certv1.UsageServerAuth))
	kubeletServingUsagesNoRSA = sets.New(string(certv1.UsageDigitalSignature), string(certv1.UsageServerAuth))
	kubeletClientUsages       = sets.New(string(certv1.UsageDigitalSignature), string(certv1.UsageKeyEncipherment), string(certv1.UsageClientAuth))
	kubeletClientUsagesNoRSA  = sets.New(string(certv1.UsageDigitalSignature), string(certv1.UsageClientAuth))
)

// ValidateKubeletServingCSR checks that req is a kubelet's serving
// certificate request: organization exactly system:nodes, a DNS or IP
// name and no email or URI names, the serving usages, a common name
// system:node:<name>.
func ValidateKubeletServingCSR(req *x509.CertificateRequest, usages sets.Set[string]) error {
	if !slices.Equal([]string{NodesGroup}, req.Subject.Organization) {
		return ErrOrganizationNotSystemNodes
	}
	if len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return ErrDNSOrIPSANRequired
	}
	if len(req.EmailAddresses) > 0 {
		return ErrEmailSANNotAllowed
	}
	if len(req.URIs) > 0 {
		return ErrURISANNotAllowed
	}
	if !kubeletServingUsages.Equal(usages) && !kubeletServingUsagesNoRSA.Equal(usages) {
		return fmt.Errorf("usages did not match %v", sets.List(kubeletServingUsages))
	}
	if !strings.HasPrefix(req.Subject.CommonName, NodeUserPrefix) {
		return ErrCommonNameNotSystemNode
	}
	return nil
}

// ValidateKubeletClientCSR checks that req is a kubelet's client
// certificate request: organization exactly system:nodes, no subject
// alternative names at all, a common name system:node:<name>, the client
// usages.
func ValidateKubeletClientCSR(req *x509.CertificateRequest, usages sets.Set[string]) error {
	if !slices.Equal([]string{NodesGroup}, req.Subject.Organization) {
		return ErrOrganizationNotSystemNodes
	}
	if len(req.DNSNames) > 0 {
		return ErrDNSSANNotAllowed
	}
	if len(req.EmailAddresses) > 0 {
		return ErrEmailSANNotAllowed
	}
	if len(req.IPAddresses) > 0 {
		return ErrIPSANNotAllowed
	}
	if len(req.URIs) > 0 {
		return ErrURISANNotAllowed
	}
	if !strings.HasPrefix(req.Subject.CommonName, NodeUserPrefix) {
		return ErrCommonNameNotSystemNode
	}
	if !kubeletClientUsages.Equal(usages) && !kubeletClientUsagesNoRSA.Equal(usages) {
		return fmt.Errorf("usages did not match %v", sets.List(kubeletClientUsages))
	}
	return nil
}

// ValidateAPIServerClientUsages checks the usages of a
// kubernetes.io/kube-apiserver-client request: client auth, and besides
// it only digital signature and key encipherment.
func ValidateAPIServerClientUsages(usages []certv1.KeyUsage) error {
	hasClientAuth := false
	for _, u := range usages {
		switch u {
		case certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment:
		case certv1.UsageClientAuth:
			hasClientAuth = true
		default:
			return fmt.Errorf("invalid usage for client certificate: %s", u)
		}
	}
	if !hasClientAuth {
		return fmt.Errorf("missing required usage for client certificate: %s", certv1.UsageClientAuth)
	}
	return nil
}

// GroupVersion is the API the CSR controllers need.
const GroupVersion = "certificates.k8s.io/v1"

// Served reports whether the apiserver serves CertificateSigningRequests
// (controller.Served).
func Served(disc discovery.DiscoveryInterface) bool {
	return controller.Served(disc, GroupVersion)
}
