package describe

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
)

// CertificateSigningRequest writes a CSR's description as kubectl does:
// who asked, of which signer, the decision so far, and the subject and
// names of the certificate requested, read from the request itself.
func CertificateSigningRequest(out io.Writer, csr *certificatesv1.CertificateSigningRequest, events []corev1.Event, now time.Time) error {
	cr, err := parseRequest(csr.Spec.Request)
	if err != nil {
		return fmt.Errorf("Error parsing CSR: %v", err)
	}
	w := newWriter(out, now)
	w.line(l0, "Name:\t%s\n", csr.Name)
	w.line(l0, "Labels:\t%s\n", labels.FormatLabels(csr.Labels))
	w.line(l0, "Annotations:\t%s\n", labels.FormatLabels(csr.Annotations))
	w.line(l0, "CreationTimestamp:\t%s\n", csr.CreationTimestamp.Time.Format(time.RFC1123Z))
	w.line(l0, "Requesting User:\t%s\n", csr.Spec.Username)
	if csr.Spec.SignerName != "" {
		w.line(l0, "Signer:\t%s\n", csr.Spec.SignerName)
	}
	if s := csr.Spec.ExpirationSeconds; s != nil {
		w.line(l0, "Requested Duration:\t%s\n", duration.HumanDuration(time.Duration(*s)*time.Second))
	}
	w.line(l0, "Status:\t%s\n", csrStatus(csr))
	w.line(l0, "Subject:\n")
	w.line(l0, "\tCommon Name:\t%s\n", cr.Subject.CommonName)
	w.line(l0, "\tSerial Number:\t%s\n", cr.Subject.SerialNumber)
	list := func(name string, values []string) {
		if len(values) > 0 {
			w.line(l0, "\t%s:\t%s\n", name, strings.Join(values, "\n\t\t"))
		}
	}
	list("Organization", cr.Subject.Organization)
	list("Organizational Unit", cr.Subject.OrganizationalUnit)
	list("Country", cr.Subject.Country)
	list("Locality", cr.Subject.Locality)
	list("Province", cr.Subject.Province)
	list("StreetAddress", cr.Subject.StreetAddress)
	list("PostalCode", cr.Subject.PostalCode)
	if len(cr.DNSNames)+len(cr.EmailAddresses)+len(cr.IPAddresses)+len(cr.URIs) > 0 {
		w.line(l0, "Subject Alternative Names:\n")
		list("DNS Names", cr.DNSNames)
		list("Email Addresses", cr.EmailAddresses)
		var uris, ips []string
		for _, u := range cr.URIs {
			uris = append(uris, u.String())
		}
		for _, ip := range cr.IPAddresses {
			ips = append(ips, ip.String())
		}
		list("URIs", uris)
		list("IP Addresses", ips)
	}
	w.events(events)
	return w.flush()
}

// csrStatus is kubectl's summary of the conditions: Denied over
// Approved over Pending, then Failed and Issued.
func csrStatus(csr *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	status := "Pending"
	switch {
	case denied:
		status = "Denied"
	case approved:
		status = "Approved"
	}
	if failed {
		status += ",Failed"
	}
	if len(csr.Status.Certificate) > 0 {
		status += ",Issued"
	}
	return status
}

func parseRequest(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}
