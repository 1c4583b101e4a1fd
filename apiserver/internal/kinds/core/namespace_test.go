package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateNamespace(t *testing.T) {
	tests := []struct {
		name       string
		finalizers []corev1.FinalizerName
		want       []string
	}{
		{"the kubernetes finalizer is valid", []corev1.FinalizerName{corev1.FinalizerKubernetes}, nil},
		{"a domain-prefixed finalizer is valid", []corev1.FinalizerName{"example.com/cleanup"}, nil},
		{"finalizers are qualified names", []corev1.FinalizerName{"not valid"}, []string{"spec.finalizers[0]: Invalid value"}},
		{"an unprefixed finalizer must be standard", []corev1.FinalizerName{"cleanup"}, []string{"spec.finalizers[0]: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Spec: corev1.NamespaceSpec{Finalizers: tt.finalizers}}
			checkErrs(t, namespaceStrategy{}.Validate(ns), tt.want...)
		})
	}
}

func TestNamespaceCreate(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}
	st := namespaceStrategy{}
	st.Default(ns)
	st.PrepareForCreate(ns)
	eq(t, ns.Labels[corev1.LabelMetadataName], "team")
	eq(t, ns.Status.Phase, corev1.NamespaceActive)
	eq(t, ns.Spec.Finalizers, []corev1.FinalizerName{corev1.FinalizerKubernetes})
	checkErrs(t, st.Validate(ns))
}

func TestNamespaceNameLabelIsKept(t *testing.T) {
	st := namespaceStrategy{}
	old := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}
	st.Default(old)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		write  func(ns *corev1.Namespace)
	}{
		{"update removing it", nil, func(ns *corev1.Namespace) { st.Default(ns) }},
		{"update changing it", map[string]string{corev1.LabelMetadataName: "other"}, func(ns *corev1.Namespace) { st.Default(ns) }},
		{"status update removing it", map[string]string{"a": "b"}, func(ns *corev1.Namespace) { checkErrs(t, st.ValidateStatusUpdate(ns, old)) }},
		{"status update changing it", map[string]string{corev1.LabelMetadataName: "other"}, func(ns *corev1.Namespace) {
			checkErrs(t, st.ValidateStatusUpdate(ns, old))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := old.DeepCopy()
			ns.Labels = tt.labels
			tt.write(ns)
			eq(t, ns.Labels[corev1.LabelMetadataName], "team")
		})
	}
}
