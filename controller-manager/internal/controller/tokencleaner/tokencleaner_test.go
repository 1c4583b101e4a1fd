package tokencleaner

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	token := func(expiration string, edit ...func(*corev1.Secret)) *corev1.Secret {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-abcdef", Namespace: "kube-system"},
			Type:       bootstrapapi.SecretTypeBootstrapToken,
			Data: map[string][]byte{
				bootstrapapi.BootstrapTokenIDKey:     []byte("abcdef"),
				bootstrapapi.BootstrapTokenSecretKey: []byte("0123456789abcdef"),
			},
		}
		if expiration != "" {
			s.Data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(expiration)
		}
		for _, e := range edit {
			e(s)
		}
		return s
	}
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	tests := []struct {
		name string
		s    *corev1.Secret
		want Plan
	}{
		{"an expired token is deleted", token(at(-time.Second)), Plan{Delete: true}},
		{"a token expiring now is deleted", token(at(0)), Plan{Delete: true}},
		{"an expiration in another zone is read as that instant", token(now.Add(-time.Minute).In(time.FixedZone("X", 3600)).Format(time.RFC3339)), Plan{Delete: true}},
		{"an unparseable expiration is deleted", token("next week"), Plan{Delete: true}},
		{"a valid token is looked at again when it expires", token(at(90 * time.Minute)), Plan{RequeueAfter: 90 * time.Minute}},
		{"a token without expiration is kept", token(""), Plan{}},
		{"an Opaque Secret is left alone", token(at(-time.Hour), func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }), Plan{}},
		{"a token Secret outside kube-system is left alone", token(at(-time.Hour), func(s *corev1.Secret) { s.Namespace = "default" }), Plan{}},
		{"a token already being deleted is left alone", token(at(-time.Hour), func(s *corev1.Secret) { s.DeletionTimestamp = &metav1.Time{Time: now} }), Plan{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.s, now); got != tt.want {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}
