package printers

import (
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"coracle.dev/apiserver/internal/apiresource"
)

// CertificateSigningRequest columns: Name, Age, SignerName, Requestor,
// RequestedDuration, Condition.
func CertificateSigningRequest() *apiresource.Table {
	spec := certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()
	status := certificatesv1.CertificateSigningRequestStatus{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		ageColumn(),
		column("SignerName", "string", spec["signerName"]),
		column("Requestor", "string", spec["request"]),
		column("RequestedDuration", "string", spec["expirationSeconds"]),
		column("Condition", "string", status["conditions"]),
	}, certificateSigningRequestCells)
}

func certificateSigningRequestCells(csr *certificatesv1.CertificateSigningRequest, now time.Time) []interface{} {
	requested := "<none>"
	if s := csr.Spec.ExpirationSeconds; s != nil {
		requested = duration.HumanDuration(time.Duration(*s) * time.Second)
	}
	return []interface{}{
		csr.Name,
		since(csr.CreationTimestamp, now),
		noneIfEmpty(csr.Spec.SignerName),
		csr.Spec.Username,
		requested,
		csrCondition(csr),
	}
}

// csrCondition sums a request's fate as kubectl shows it: Denied over
// Approved over Pending, then ",Failed" and ",Issued".
func csrCondition(csr *certificatesv1.CertificateSigningRequest) string {
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
