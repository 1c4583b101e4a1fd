package bootstrapsigner

import (
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    server: https://10.0.0.1:6443\n"

// token is a bootstrap token Secret; edit adjusts its data.
func token(id, secret string, edit ...func(map[string][]byte)) *corev1.Secret {
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:           []byte(id),
		bootstrapapi.BootstrapTokenSecretKey:       []byte(secret),
		bootstrapapi.BootstrapTokenUsageSigningKey: []byte("true"),
	}
	for _, e := range edit {
		e(data)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.BootstrapTokenSecretPrefix + id, Namespace: TokenNamespace},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data:       data,
	}
}

func expiring(at time.Time) func(map[string][]byte) {
	return func(d map[string][]byte) {
		d[bootstrapapi.BootstrapTokenExpirationKey] = []byte(at.Format(time.RFC3339))
	}
}

func set(k, v string) func(map[string][]byte) {
	return func(d map[string][]byte) { d[k] = []byte(v) }
}

func sig(t *testing.T, id, secret string) string {
	t.Helper()
	s, err := jws.ComputeDetachedSignature(kubeconfig, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignatures(t *testing.T) {
	renamed := token("abcdef", "0123456789abcdef")
	renamed.Name = "bootstrap-token-zzzzzz"
	otherType := token("abcdef", "0123456789abcdef")
	otherType.Type = corev1.SecretTypeOpaque

	tests := []struct {
		name      string
		tokens    []*corev1.Secret
		want      map[string]string
		wantCheck time.Time
	}{
		{"no tokens, no signatures", nil, map[string]string{}, time.Time{}},
		{"a signing token signs", []*corev1.Secret{token("abcdef", "0123456789abcdef")},
			map[string]string{"jws-kubeconfig-abcdef": sig(t, "abcdef", "0123456789abcdef")}, time.Time{}},
		{"two tokens sign each", []*corev1.Secret{token("abcdef", "0123456789abcdef"), token("ghijkl", "fedcba9876543210")},
			map[string]string{"jws-kubeconfig-abcdef": sig(t, "abcdef", "0123456789abcdef"), "jws-kubeconfig-ghijkl": sig(t, "ghijkl", "fedcba9876543210")}, time.Time{}},
		{"a token not for signing does not", []*corev1.Secret{token("abcdef", "0123456789abcdef", set(bootstrapapi.BootstrapTokenUsageSigningKey, "false"))}, map[string]string{}, time.Time{}},
		{"a token without the signing usage does not", []*corev1.Secret{token("abcdef", "0123456789abcdef", func(d map[string][]byte) { delete(d, bootstrapapi.BootstrapTokenUsageSigningKey) })}, map[string]string{}, time.Time{}},
		{"an expired token does not", []*corev1.Secret{token("abcdef", "0123456789abcdef", expiring(now.Add(-time.Second)))}, map[string]string{}, time.Time{}},
		{"a token expiring now does not", []*corev1.Secret{token("abcdef", "0123456789abcdef", expiring(now))}, map[string]string{}, time.Time{}},
		{"an unparseable expiration counts as expired", []*corev1.Secret{token("abcdef", "0123456789abcdef", set(bootstrapapi.BootstrapTokenExpirationKey, "tomorrow"))}, map[string]string{}, time.Time{}},
		{"a token still valid signs, to look again when the first expires",
			[]*corev1.Secret{token("abcdef", "0123456789abcdef", expiring(now.Add(2*time.Hour))), token("ghijkl", "fedcba9876543210", expiring(now.Add(time.Hour)))},
			map[string]string{"jws-kubeconfig-abcdef": sig(t, "abcdef", "0123456789abcdef"), "jws-kubeconfig-ghijkl": sig(t, "ghijkl", "fedcba9876543210")}, now.Add(time.Hour)},
		{"a Secret whose name is not its token's does not", []*corev1.Secret{renamed}, map[string]string{}, time.Time{}},
		{"a Secret of another type does not", []*corev1.Secret{otherType}, map[string]string{}, time.Time{}},
		{"a token without a secret does not", []*corev1.Secret{token("abcdef", "")}, map[string]string{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, check, err := Signatures(kubeconfig, tt.tokens, now)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) || !check.Equal(tt.wantCheck) {
				t.Errorf("Signatures = %v, %v; want %v, %v", got, check, tt.want, tt.wantCheck)
			}
		})
	}
}

func TestSignatureVerifiesWithTheToken(t *testing.T) {
	got, _, err := Signatures(kubeconfig, []*corev1.Secret{token("abcdef", "0123456789abcdef")}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !jws.DetachedTokenIsValid(got["jws-kubeconfig-abcdef"], kubeconfig, "abcdef", "0123456789abcdef") {
		t.Error("signature does not verify with its token")
	}
	if jws.DetachedTokenIsValid(got["jws-kubeconfig-abcdef"], kubeconfig, "abcdef", "0123456789abcdeX") {
		t.Error("signature verifies with another token secret")
	}
}

func TestDecide(t *testing.T) {
	good := sig(t, "abcdef", "0123456789abcdef")
	signing := []*corev1.Secret{token("abcdef", "0123456789abcdef")}
	tests := []struct {
		name     string
		data     map[string]string
		tokens   []*corev1.Secret
		wantData map[string]string // nil: no update
	}{
		{"an unsigned cluster-info is signed", map[string]string{"kubeconfig": kubeconfig}, signing,
			map[string]string{"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": good}},
		{"a signed cluster-info is left alone", map[string]string{"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": good}, signing, nil},
		{"a wrong signature is replaced", map[string]string{"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": "x..y"}, signing,
			map[string]string{"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": good}},
		{"a deleted token's signature is removed", map[string]string{"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": good, "jws-kubeconfig-zzzzzz": "x..y"}, signing,
			map[string]string{"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": good}},
		{"an expired token's signature is removed", map[string]string{"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": good},
			[]*corev1.Secret{token("abcdef", "0123456789abcdef", expiring(now.Add(-time.Minute)))}, map[string]string{"kubeconfig": kubeconfig}},
		{"other keys are kept", map[string]string{"kubeconfig": kubeconfig, "note": "hi"}, signing,
			map[string]string{"kubeconfig": kubeconfig, "note": "hi", "jws-kubeconfig-abcdef": good}},
		{"a cluster-info without a kubeconfig is left alone", map[string]string{"jws-kubeconfig-zzzzzz": "x..y"}, signing, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Decide(tt.data, tt.tokens, now)
			if err != nil {
				t.Fatal(err)
			}
			if (plan.Data == nil) != (tt.wantData == nil) || !maps.Equal(plan.Data, tt.wantData) {
				t.Errorf("Decide data = %v, want %v", plan.Data, tt.wantData)
			}
		})
	}
}
