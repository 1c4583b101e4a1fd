package core

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestValidateConfigMap(t *testing.T) {
	tests := []struct {
		name string
		cm   corev1.ConfigMap
		want []string
	}{
		{"file-like keys are valid", corev1.ConfigMap{Data: map[string]string{"app.properties": "x", "KEY_1": "y"}}, nil},
		{"keys are valid", corev1.ConfigMap{Data: map[string]string{"a/b": "x"}}, []string{"data[a/b]: Invalid value"}},
		{"binary keys are valid", corev1.ConfigMap{BinaryData: map[string][]byte{"..": {1}}}, []string{"binaryData[..]: Invalid value"}},
		{"a key is in data or binaryData, not both", corev1.ConfigMap{Data: map[string]string{"k": "x"}, BinaryData: map[string][]byte{"k": {1}}},
			[]string{"data[k]: Invalid value"}},
		{"the whole is at most 1 MiB", corev1.ConfigMap{Data: map[string]string{"a": strings.Repeat("x", 1<<20), "b": "y"}},
			[]string{"[]: Too long"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, configMapStrategy{}.Validate(&tt.cm), tt.want...)
		})
	}
}

func TestValidateConfigMapUpdate(t *testing.T) {
	cm := func(immutable *bool, data string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Immutable: immutable, Data: map[string]string{"k": data}}
	}
	tests := []struct {
		name     string
		old, new *corev1.ConfigMap
		want     []string
	}{
		{"a mutable ConfigMap's data may change", cm(nil, "a"), cm(nil, "b"), nil},
		{"a ConfigMap may become immutable", cm(nil, "a"), cm(ptr.To(true), "a"), nil},
		{"an immutable ConfigMap's data may not change", cm(ptr.To(true), "a"), cm(ptr.To(true), "b"), []string{"data: Forbidden"}},
		{"immutable may not be unset", cm(ptr.To(true), "a"), cm(nil, "a"), []string{"immutable: Forbidden"}},
		{"an immutable ConfigMap's binaryData may not change", cm(ptr.To(true), "a"), func() *corev1.ConfigMap {
			c := cm(ptr.To(true), "a")
			c.BinaryData = map[string][]byte{"b": {1}}
			return c
		}(), []string{"binaryData: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, configMapStrategy{}.ValidateUpdate(tt.new, tt.old), tt.want...)
		})
	}
}
