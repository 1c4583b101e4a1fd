package networking

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newIngressClass() *networkingv1.IngressClass {
	return &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: networkingv1.IngressClassSpec{
			Controller: "example.com/ingress-nginx",
			Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("k8s.example.com"), Kind: "IngressParameters", Name: "external-lb"},
		},
	}
}

func TestIngressClassDefaults(t *testing.T) {
	ic := newIngressClass()
	IngressClasses().Strategy.Default(ic)
	if s := ic.Spec.Parameters.Scope; s == nil || *s != networkingv1.IngressClassParametersReferenceScopeCluster {
		t.Errorf("parameters.scope = %v, want Cluster", s)
	}
}

func TestIngressClassValidate(t *testing.T) {
	kindstest.Create(t, IngressClasses().Strategy, newIngressClass, []kindstest.Case[*networkingv1.IngressClass]{
		{Name: "class with cluster parameters is valid", Mutate: func(*networkingv1.IngressClass) {}},
		{Name: "class without parameters is valid", Mutate: func(ic *networkingv1.IngressClass) { ic.Spec.Parameters = nil }},
		{Name: "namespaced parameters are valid", Mutate: func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters.Scope = ptr.To(networkingv1.IngressClassParametersReferenceScopeNamespace)
			ic.Spec.Parameters.Namespace = ptr.To("ingress")
		}},
		{Name: "controller must be domain-prefixed", Mutate: func(ic *networkingv1.IngressClass) { ic.Spec.Controller = "nginx" }, Path: "spec.controller", Type: field.ErrorTypeInvalid},
		{Name: "controller is required", Mutate: func(ic *networkingv1.IngressClass) { ic.Spec.Controller = "" }, Path: "spec.controller", Type: field.ErrorTypeRequired},
		{Name: "parameters kind is required", Mutate: func(ic *networkingv1.IngressClass) { ic.Spec.Parameters.Kind = "" }, Path: "spec.parameters.kind", Type: field.ErrorTypeRequired},
		{Name: "parameters name is a path segment", Mutate: func(ic *networkingv1.IngressClass) { ic.Spec.Parameters.Name = "a/b" }, Path: "spec.parameters.name", Type: field.ErrorTypeInvalid},
		{Name: "namespace scope needs a namespace", Mutate: func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters.Scope = ptr.To(networkingv1.IngressClassParametersReferenceScopeNamespace)
		}, Path: "spec.parameters.namespace", Type: field.ErrorTypeRequired},
		{Name: "cluster scope forbids a namespace", Mutate: func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters.Namespace = ptr.To("ingress")
		}, Path: "spec.parameters.namespace", Type: field.ErrorTypeForbidden},
		{Name: "unknown scope is not supported", Mutate: func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters.Scope = ptr.To("Node")
		}, Path: "spec.parameters.scope", Type: field.ErrorTypeNotSupported},
	})
}

func TestIngressClassUpdate(t *testing.T) {
	kindstest.Update(t, IngressClasses().Strategy, newIngressClass, "", []kindstest.Case[*networkingv1.IngressClass]{
		{Name: "parameters may change", Mutate: func(ic *networkingv1.IngressClass) { ic.Spec.Parameters.Name = "internal-lb" }},
		{Name: "controller is immutable", Mutate: func(ic *networkingv1.IngressClass) { ic.Spec.Controller = "example.com/other" },
			Path: "spec.controller", Type: field.ErrorTypeInvalid},
	})
}
