package class

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const ours = "coracle.dev/ingress-controller"

func ingressClass(name, controller string, isDefault bool) *networkingv1.IngressClass {
	c := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       networkingv1.IngressClassSpec{Controller: controller},
	}
	if isDefault {
		c.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	}
	return c
}

func TestServed(t *testing.T) {
	s := Selector{Controller: ours, ClassName: "coracle"}
	coracle := ingressClass("coracle", ours, false)
	coracleDefault := ingressClass("coracle", ours, true)
	nginx := ingressClass("nginx", "k8s.io/ingress-nginx", false)
	nginxDefault := ingressClass("nginx", "k8s.io/ingress-nginx", true)
	cases := []struct {
		name       string
		className  *string
		annotation *string
		classes    []*networkingv1.IngressClass
		want       bool
	}{
		{"class of ours", ptr.To("coracle"), nil, []*networkingv1.IngressClass{coracle, nginx}, true},
		{"a second class of our controller", ptr.To("internal"), nil, []*networkingv1.IngressClass{coracle, ingressClass("internal", ours, false)}, true},
		{"class of another controller", ptr.To("nginx"), nil, []*networkingv1.IngressClass{coracle, nginx}, false},
		{"class that does not exist", ptr.To("missing"), nil, []*networkingv1.IngressClass{coracle}, false},
		{"no class, ours is the default", nil, nil, []*networkingv1.IngressClass{coracleDefault, nginx}, true},
		{"no class, ours is not the default", nil, nil, []*networkingv1.IngressClass{coracle, nginx}, false},
		{"no class, another controller's is the default", nil, nil, []*networkingv1.IngressClass{coracle, nginxDefault}, false},
		{"no class and no classes at all", nil, nil, nil, false},
		{"legacy annotation naming our class", nil, ptr.To("coracle"), nil, true},
		{"legacy annotation naming another class even when ours is the default", nil, ptr.To("nginx"), []*networkingv1.IngressClass{coracleDefault}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}
			ing.Spec.IngressClassName = tc.className
			if tc.annotation != nil {
				ing.Annotations = map[string]string{LegacyAnnotation: *tc.annotation}
			}
			if got := s.Served(ing, tc.classes); got != tc.want {
				t.Errorf("Served = %v, want %v", got, tc.want)
			}
		})
	}
}
