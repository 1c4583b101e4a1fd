package printers

import (
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestCertificateSigningRequestCells(t *testing.T) {
	cond := func(t certificatesv1.RequestConditionType) certificatesv1.CertificateSigningRequestCondition {
		return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue}
	}
	tests := []struct {
		name string
		csr  certificatesv1.CertificateSigningRequest
		want []interface{}
	}{
		{"pending request", certificatesv1.CertificateSigningRequest{
			ObjectMeta: meta("node-csr-1"),
			Spec: certificatesv1.CertificateSigningRequestSpec{
				SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Username: "system:bootstrap:abcdef",
			},
		}, []interface{}{"node-csr-1", "10d", "kubernetes.io/kube-apiserver-client-kubelet", "system:bootstrap:abcdef", "<none>", "Pending"}},
		{"approved and issued, with a duration", certificatesv1.CertificateSigningRequest{
			ObjectMeta: meta("csr-2"),
			Spec: certificatesv1.CertificateSigningRequestSpec{
				SignerName: certificatesv1.KubeletServingSignerName, Username: "system:node:a", ExpirationSeconds: ptr(int32(86400)),
			},
			Status: certificatesv1.CertificateSigningRequestStatus{
				Conditions:  []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved)},
				Certificate: []byte("cert"),
			},
		}, []interface{}{"csr-2", "10d", "kubernetes.io/kubelet-serving", "system:node:a", "24h", "Approved,Issued"}},
		{"denied wins over approved; failed is added", certificatesv1.CertificateSigningRequest{
			ObjectMeta: meta("csr-3"),
			Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{
				cond(certificatesv1.CertificateApproved), cond(certificatesv1.CertificateDenied), cond(certificatesv1.CertificateFailed),
			}},
		}, []interface{}{"csr-3", "10d", "<none>", "", "<none>", "Denied,Failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, certificateSigningRequestCells(&tt.csr, testNow()), tt.want)
		})
	}
}
