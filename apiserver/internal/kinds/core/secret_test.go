package core

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDefaultSecret(t *testing.T) {
	s := &corev1.Secret{
		Data:       map[string][]byte{"user": []byte("old"), "keep": []byte("k")},
		StringData: map[string]string{"user": "admin", "pass": "pw"},
	}
	secretStrategy{}.Default(s)
	eq(t, s.Type, corev1.SecretTypeOpaque)
	eq(t, s.StringData, map[string]string(nil))
	eq(t, s.Data, map[string][]byte{"user": []byte("admin"), "pass": []byte("pw"), "keep": []byte("k")})

	t.Run("stringData alone becomes data", func(t *testing.T) {
		s := &corev1.Secret{StringData: map[string]string{"token": "t"}}
		secretStrategy{}.Default(s)
		eq(t, s.Data, map[string][]byte{"token": []byte("t")})
	})
}

func TestValidateSecret(t *testing.T) {
	tests := []struct {
		name        string
		typ         corev1.SecretType
		data        map[string][]byte
		annotations map[string]string
		want        []string
	}{
		{"an Opaque secret takes any keys", corev1.SecretTypeOpaque, map[string][]byte{"a": nil}, nil, nil},
		{"keys are valid", corev1.SecretTypeOpaque, map[string][]byte{"a b": nil}, nil, []string{"data[a b]: Invalid value"}},
		{"the data is at most 1 MiB", corev1.SecretTypeOpaque, map[string][]byte{"a": bytes.Repeat([]byte("x"), 1<<20+1)}, nil,
			[]string{"data: Too long"}},
		{"a service account token names its account", corev1.SecretTypeServiceAccountToken, nil, nil,
			[]string{"metadata.annotations[kubernetes.io/service-account.name]: Required value"}},
		{"a named service account token is valid", corev1.SecretTypeServiceAccountToken, nil,
			map[string]string{corev1.ServiceAccountNameKey: "default"}, nil},
		{"a docker config needs .dockerconfigjson", corev1.SecretTypeDockerConfigJson, nil, nil,
			[]string{"data[.dockerconfigjson]: Required value"}},
		{"a docker config is JSON", corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte("{")}, nil,
			[]string{"data[.dockerconfigjson]: Invalid value"}},
		{"a valid docker config", corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}, nil, nil},
		{"a TLS secret needs a certificate and a key", corev1.SecretTypeTLS, map[string][]byte{"tls.crt": nil}, nil,
			[]string{"data[tls.key]: Required value"}},
		{"basic auth needs a username or password", corev1.SecretTypeBasicAuth, nil, nil,
			[]string{"data[username]: Required value", "data[password]: Required value"}},
		{"basic auth with a password alone is valid", corev1.SecretTypeBasicAuth, map[string][]byte{"password": nil}, nil, nil},
		{"ssh auth needs a private key", corev1.SecretTypeSSHAuth, map[string][]byte{"ssh-privatekey": {}}, nil,
			[]string{"data[ssh-privatekey]: Required value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default", Annotations: tt.annotations}, Type: tt.typ, Data: tt.data}
			checkErrs(t, secretStrategy{}.Validate(s), tt.want...)
		})
	}
}

func TestValidateSecretUpdate(t *testing.T) {
	secret := func(typ corev1.SecretType, immutable *bool, value string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Type: typ, Immutable: immutable,
			Data: map[string][]byte{"k": []byte(value)}}
	}
	tests := []struct {
		name     string
		old, new *corev1.Secret
		want     []string
	}{
		{"data may change", secret(corev1.SecretTypeOpaque, nil, "a"), secret(corev1.SecretTypeOpaque, nil, "b"), nil},
		{"type is immutable", secret(corev1.SecretTypeOpaque, nil, "a"), secret("example.com/custom", nil, "a"), []string{"type: Invalid value"}},
		{"an immutable secret's data may not change", secret(corev1.SecretTypeOpaque, ptr.To(true), "a"), secret(corev1.SecretTypeOpaque, ptr.To(true), "b"),
			[]string{"data: Forbidden"}},
		{"immutable may not be unset", secret(corev1.SecretTypeOpaque, ptr.To(true), "a"), secret(corev1.SecretTypeOpaque, ptr.To(false), "a"),
			[]string{"immutable: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, secretStrategy{}.ValidateUpdate(tt.new, tt.old), tt.want...)
		})
	}
}
