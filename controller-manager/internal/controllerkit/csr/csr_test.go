package csr

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestValidateKubeletClientCSR(t *testing.T) {
	ok := func() *x509.CertificateRequest {
		return &x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}}
	}
	ecdsaUsages := []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth}
	rsaUsages := []certv1.KeyUsage{certv1.UsageKeyEncipherment, certv1.UsageDigitalSignature, certv1.UsageClientAuth}
	tests := []struct {
		name   string
		mutate func(*x509.CertificateRequest)
		usages []certv1.KeyUsage
		want   string
	}{
		{"an ECDSA node client request", nil, ecdsaUsages, ""},
		{"an RSA node client request", nil, rsaUsages, ""},
		{"another organization", func(r *x509.CertificateRequest) { r.Subject.Organization = []string{"system:masters"} }, ecdsaUsages, ErrOrganizationNotSystemNodes.Error()},
		{"an extra organization", func(r *x509.CertificateRequest) { r.Subject.Organization = append(r.Subject.Organization, "x") }, ecdsaUsages, ErrOrganizationNotSystemNodes.Error()},
		{"a DNS name", func(r *x509.CertificateRequest) { r.DNSNames = []string{"n1"} }, ecdsaUsages, ErrDNSSANNotAllowed.Error()},
		{"an email", func(r *x509.CertificateRequest) { r.EmailAddresses = []string{"a@b"} }, ecdsaUsages, ErrEmailSANNotAllowed.Error()},
		{"an IP", func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.ParseIP("10.0.0.1")} }, ecdsaUsages, ErrIPSANNotAllowed.Error()},
		{"a URI", func(r *x509.CertificateRequest) { r.URIs = []*url.URL{{Scheme: "spiffe", Host: "x"}} }, ecdsaUsages, ErrURISANNotAllowed.Error()},
		{"a common name not of a node", func(r *x509.CertificateRequest) { r.Subject.CommonName = "admin" }, ecdsaUsages, ErrCommonNameNotSystemNode.Error()},
		{"server auth asked for", nil, []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth, certv1.UsageServerAuth}, "usages did not match [client auth digital signature key encipherment]"},
		{"client auth alone", nil, []certv1.KeyUsage{certv1.UsageClientAuth}, "usages did not match [client auth digital signature key encipherment]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			if tt.mutate != nil {
				tt.mutate(r)
			}
			if got := errString(ValidateKubeletClientCSR(r, Usages(tt.usages))); got != tt.want {
				t.Errorf("ValidateKubeletClientCSR = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateKubeletServingCSR(t *testing.T) {
	ok := func() *x509.CertificateRequest {
		return &x509.CertificateRequest{
			Subject:     pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}},
			IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
		}
	}
	usages := []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth}
	tests := []struct {
		name   string
		mutate func(*x509.CertificateRequest)
		usages []certv1.KeyUsage
		want   string
	}{
		{"an IP name", nil, usages, ""},
		{"a DNS name only", func(r *x509.CertificateRequest) { r.IPAddresses = nil; r.DNSNames = []string{"n1"} }, usages, ""},
		{"RSA usages", nil, []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageServerAuth}, ""},
		{"no name", func(r *x509.CertificateRequest) { r.IPAddresses = nil }, usages, ErrDNSOrIPSANRequired.Error()},
		{"an email", func(r *x509.CertificateRequest) { r.EmailAddresses = []string{"a@b"} }, usages, ErrEmailSANNotAllowed.Error()},
		{"a URI", func(r *x509.CertificateRequest) { r.URIs = []*url.URL{{Scheme: "spiffe", Host: "x"}} }, usages, ErrURISANNotAllowed.Error()},
		{"client auth asked for", nil, []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth, certv1.UsageClientAuth}, "usages did not match [digital signature key encipherment server auth]"},
		{"another organization", func(r *x509.CertificateRequest) { r.Subject.Organization = nil }, usages, ErrOrganizationNotSystemNodes.Error()},
		{"a common name not of a node", func(r *x509.CertificateRequest) { r.Subject.CommonName = "n1" }, usages, ErrCommonNameNotSystemNode.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			if tt.mutate != nil {
				tt.mutate(r)
			}
			if got := errString(ValidateKubeletServingCSR(r, Usages(tt.usages))); got != tt.want {
				t.Errorf("ValidateKubeletServingCSR = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateAPIServerClientUsages(t *testing.T) {
	tests := []struct {
		name   string
		usages []certv1.KeyUsage
		want   string
	}{
		{"client auth", []certv1.KeyUsage{certv1.UsageClientAuth}, ""},
		{"client auth with signing usages", []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageClientAuth}, ""},
		{"server auth", []certv1.KeyUsage{certv1.UsageServerAuth, certv1.UsageClientAuth}, "invalid usage for client certificate: server auth"},
		{"no client auth", []certv1.KeyUsage{certv1.UsageDigitalSignature}, "missing required usage for client certificate: client auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errString(ValidateAPIServerClientUsages(tt.usages)); got != tt.want {
				t.Errorf("= %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	with := func(conds ...certv1.CertificateSigningRequestCondition) *certv1.CertificateSigningRequest {
		return &certv1.CertificateSigningRequest{Status: certv1.CertificateSigningRequestStatus{Conditions: conds}}
	}
	approved := certv1.CertificateSigningRequestCondition{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue}
	denied := certv1.CertificateSigningRequestCondition{Type: certv1.CertificateDenied, Status: corev1.ConditionTrue}
	failed := certv1.CertificateSigningRequestCondition{Type: certv1.CertificateFailed}
	tests := []struct {
		name                 string
		csr                  *certv1.CertificateSigningRequest
		wantApproved, failed bool
	}{
		{"pending", with(), false, false},
		{"approved", with(approved), true, false},
		{"approved then denied", with(approved, denied), false, false},
		{"approved and failed with an empty status", with(approved, failed), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsApproved(tt.csr); got != tt.wantApproved {
				t.Errorf("IsApproved = %v", got)
			}
			if got := HasTrueCondition(tt.csr, certv1.CertificateFailed); got != tt.failed {
				t.Errorf("HasTrueCondition(Failed) = %v", got)
			}
		})
	}
}

func TestParseRefusesOtherPEM(t *testing.T) {
	if _, err := Parse([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); err == nil || err.Error() != "PEM block type must be CERTIFICATE REQUEST" {
		t.Errorf("Parse = %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
