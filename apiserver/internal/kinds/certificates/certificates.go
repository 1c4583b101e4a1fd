// Package certificates defines certificates.k8s.io/v1
// CertificateSigningRequests: how a kubelet (or anyone) asks the cluster's
// signers for a certificate. The requester is recorded from the
// authenticated user; approval and the issued certificate are written
// through their own subresources, approval and status. Beside them,
// ClusterTrustBundles (CA certificates pods can mount) and
// PodCertificateRequests (a kubelet asking a signer for a pod's
// certificate).
package certificates

import (
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the certificates.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{CertificateSigningRequests(), ClusterTrustBundles(), PodCertificateRequests()}
}

// CertificateSigningRequests: cluster-scoped, with the status and approval
// subresources, selectable by spec.signerName.
func CertificateSigningRequests() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(certificatesv1.SchemeGroupVersion, "certificatesigningrequests",
		&certificatesv1.CertificateSigningRequest{}, &certificatesv1.CertificateSigningRequestList{})
	d.ShortNames = []string{"csr"}
	d.Subresources = []string{apiresource.Status, apiresource.Approval}
	d.Strategy = newCSRStrategy()
	// Kubernetes does not care what requests are called; a name only has
	// to fit in a URL path.
	d.NameValidator = path.ValidatePathSegmentName
	d.Table = printers.CertificateSigningRequest()
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"spec.signerName": obj.(*certificatesv1.CertificateSigningRequest).Spec.SignerName}
	}
	d.FieldLabels = []string{"spec.signerName"}
	return d
}
