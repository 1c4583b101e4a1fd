package printers

import (
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"coracle.dev/apiserver/internal/apiresource"
)

// ClusterTrustBundle columns: Name, SignerName.
func ClusterTrustBundle() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("SignerName", "string", certificatesv1.ClusterTrustBundleSpec{}.SwaggerDoc()["signerName"]),
	}, func(b *certificatesv1.ClusterTrustBundle, _ time.Time) []interface{} {
		signer := b.Spec.SignerName
		if signer == "" {
			signer = "<none>"
		}
		return []interface{}{b.Name, signer}
	})
}

// PodCertificateRequest columns: Name, PodName, ServiceAccountName,
// NodeName, SignerName, State, and wide UnverifiedUserAnnotations.
func PodCertificateRequest() *apiresource.Table {
	doc := certificatesv1.PodCertificateRequestSpec{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("PodName", "string", doc["podName"]),
		column("ServiceAccountName", "string", doc["serviceAccountName"]),
		column("NodeName", "string", doc["nodeName"]),
		column("SignerName", "string", doc["signerName"]),
		column("State", "string", "Is the request Pending, Issued, Denied, or Failed?"),
		wideColumn("UnverifiedUserAnnotations", "string", doc["unverifiedUserAnnotations"]),
	}, podCertificateRequestCells)
}

// podCertificateRequestCells: Issued, Denied and Failed exclude each
// other; a request with none of them is Pending.
func podCertificateRequestCells(r *certificatesv1.PodCertificateRequest, _ time.Time) []interface{} {
	state := "Pending"
	for _, c := range r.Status.Conditions {
		switch c.Type {
		case certificatesv1.PodCertificateRequestConditionTypeIssued:
			state = "Issued"
		case certificatesv1.PodCertificateRequestConditionTypeDenied:
			state = "Denied"
		case certificatesv1.PodCertificateRequestConditionTypeFailed:
			state = "Failed"
		}
	}
	return []interface{}{r.Name, r.Spec.PodName, r.Spec.ServiceAccountName, string(r.Spec.NodeName), r.Spec.SignerName, state,
		labels.FormatLabels(r.Spec.UnverifiedUserAnnotations)}
}
