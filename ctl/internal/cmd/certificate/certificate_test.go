package certificate

import (
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAddCondition(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	cond := func(t certificatesv1.RequestConditionType) certificatesv1.CertificateSigningRequestCondition {
		return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue}
	}
	tests := []struct {
		name        string
		decision    decision
		have        []certificatesv1.CertificateSigningRequestCondition
		wantPresent bool
		wantErr     string
		wantLen     int
	}{
		{name: "approve a pending request", decision: approve, wantLen: 1},
		{name: "deny a pending request", decision: deny, wantLen: 1},
		{name: "approve an approved request: present, unchanged", decision: approve, have: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved)}, wantPresent: true, wantLen: 1},
		{name: "approve a denied request: refused", decision: approve, have: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateDenied)}, wantErr: `certificate signing request "csr-1" is already Denied`},
		{name: "deny an approved request: refused", decision: deny, have: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved)}, wantErr: `certificate signing request "csr-1" is already Approved`},
		{name: "approve a failed request", decision: approve, have: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateFailed)}, wantLen: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "csr-1"}}
			csr.Status.Conditions = tt.have
			present, err := addCondition(csr, tt.decision, now)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || present != tt.wantPresent || len(csr.Status.Conditions) != tt.wantLen {
				t.Fatalf("present %v, err %v, conditions %+v", present, err, csr.Status.Conditions)
			}
			if !present {
				c := csr.Status.Conditions[len(csr.Status.Conditions)-1]
				if c.Type != tt.decision.condition || c.Status != corev1.ConditionTrue || c.Reason != tt.decision.reason || c.Message != tt.decision.message || !c.LastUpdateTime.Equal(&now) {
					t.Errorf("condition %+v", c)
				}
			}
		})
	}
}
