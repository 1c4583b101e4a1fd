package networking

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newIngress() *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{
				Host: "web.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
					}},
				}},
			}},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"web.example.com"}, SecretName: "web-tls"}},
		},
	}
}

func httpPath(ing *networkingv1.Ingress) *networkingv1.HTTPIngressPath {
	return &ing.Spec.Rules[0].HTTP.Paths[0]
}

func TestIngressValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		path   string
		typ    field.ErrorType
	}{
		{"ingress with rules and TLS is valid", func(*networkingv1.Ingress) {}, "", ""},
		{"default backend alone is valid", func(ing *networkingv1.Ingress) {
			ing.Spec.Rules, ing.Spec.TLS = nil, nil
			ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}}}
		}, "", ""},
		{"wildcard host is valid", func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "*.example.com" }, "", ""},
		{"rules or default backend are required", func(ing *networkingv1.Ingress) { ing.Spec.Rules = nil }, "spec", field.ErrorTypeInvalid},
		{"pathType is required", func(ing *networkingv1.Ingress) { httpPath(ing).PathType = nil }, "spec.rules[0].http.paths[0].pathType", field.ErrorTypeRequired},
		{"unknown pathType is not supported", func(ing *networkingv1.Ingress) {
			httpPath(ing).PathType = ptr.To(networkingv1.PathType("Regex"))
		}, "spec.rules[0].http.paths[0].pathType", field.ErrorTypeNotSupported},
		{"Prefix path must be absolute", func(ing *networkingv1.Ingress) { httpPath(ing).Path = "api" }, "spec.rules[0].http.paths[0].path", field.ErrorTypeInvalid},
		{"Exact path must be absolute", func(ing *networkingv1.Ingress) {
			httpPath(ing).PathType = ptr.To(networkingv1.PathTypeExact)
			httpPath(ing).Path = ""
		}, "spec.rules[0].http.paths[0].path", field.ErrorTypeInvalid},
		{"Prefix path may not climb out", func(ing *networkingv1.Ingress) { httpPath(ing).Path = "/a/../b" }, "spec.rules[0].http.paths[0].path", field.ErrorTypeInvalid},
		{"ImplementationSpecific path may be empty", func(ing *networkingv1.Ingress) {
			httpPath(ing).PathType = ptr.To(networkingv1.PathTypeImplementationSpecific)
			httpPath(ing).Path = ""
		}, "", ""},
		{"http rule needs paths", func(ing *networkingv1.Ingress) {
			ing.Spec.Rules[0].HTTP.Paths = nil
		}, "spec.rules[0].http.paths", field.ErrorTypeRequired},
		{"backend service name is required", func(ing *networkingv1.Ingress) {
			httpPath(ing).Backend.Service.Name = ""
		}, "spec.rules[0].http.paths[0].backend.service.name", field.ErrorTypeRequired},
		{"backend needs a port", func(ing *networkingv1.Ingress) {
			httpPath(ing).Backend.Service.Port = networkingv1.ServiceBackendPort{}
		}, "spec.rules[0].http.paths[0].backend", field.ErrorTypeRequired},
		{"backend port may not have name and number", func(ing *networkingv1.Ingress) {
			httpPath(ing).Backend.Service.Port.Name = "http"
		}, "spec.rules[0].http.paths[0].backend", field.ErrorTypeInvalid},
		{"backend port number must be in range", func(ing *networkingv1.Ingress) {
			httpPath(ing).Backend.Service.Port.Number = 65536
		}, "spec.rules[0].http.paths[0].backend.service.port.number", field.ErrorTypeInvalid},
		{"backend needs a service or resource", func(ing *networkingv1.Ingress) {
			httpPath(ing).Backend = networkingv1.IngressBackend{}
		}, "spec.rules[0].http.paths[0].backend", field.ErrorTypeInvalid},
		{"host may not be an IP", func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "10.0.0.1" }, "spec.rules[0].host", field.ErrorTypeInvalid},
		{"host must be a DNS name", func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "Web_Site" }, "spec.rules[0].host", field.ErrorTypeInvalid},
		{"host wildcard must be the first label", func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "web.*.com" }, "spec.rules[0].host", field.ErrorTypeInvalid},
		{"TLS host must be a DNS name", func(ing *networkingv1.Ingress) { ing.Spec.TLS[0].Hosts = []string{"bad host"} }, "spec.tls[0].hosts[0]", field.ErrorTypeInvalid},
		{"TLS secret name must be a DNS subdomain", func(ing *networkingv1.Ingress) { ing.Spec.TLS[0].SecretName = "Web_TLS" }, "spec.tls[0].secretName", field.ErrorTypeInvalid},
		{"class annotation must match ingressClassName", func(ing *networkingv1.Ingress) {
			ing.Annotations = map[string]string{"kubernetes.io/ingress.class": "traefik"}
		}, "annotations.kubernetes.io/ingress.class", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := newIngress()
			tt.mutate(ing)
			kindstest.WantErr(t, Ingresses().Strategy.Validate(ing), tt.path, tt.typ)
		})
	}
}

func TestIngressUpdateKeepsOldInvalidSecretName(t *testing.T) {
	s := Ingresses().Strategy
	old := newIngress()
	old.Spec.TLS[0].SecretName = "Old_Name"
	ing := old.DeepCopy()
	ing.Spec.Rules[0].Host = "www.example.com"
	kindstest.WantErr(t, s.ValidateUpdate(ing, old), "", "")
	kindstest.WantErr(t, s.ValidateUpdate(ing, newIngress()), "spec.tls[0].secretName", field.ErrorTypeInvalid)
}

func TestIngressStatus(t *testing.T) {
	s := Ingresses().Strategy
	tests := []struct {
		name string
		lb   networkingv1.IngressLoadBalancerIngress
		path string
		typ  field.ErrorType
	}{
		{"IP is valid", networkingv1.IngressLoadBalancerIngress{IP: "192.0.2.1"}, "", ""},
		{"IP must parse", networkingv1.IngressLoadBalancerIngress{IP: "192.0.2"}, "status.loadBalancer.ingress[0].ip", field.ErrorTypeInvalid},
		{"hostname may not be an IP", networkingv1.IngressLoadBalancerIngress{Hostname: "192.0.2.1"}, "status.loadBalancer.ingress[0].hostname", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := newIngress()
			ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{tt.lb}
			kindstest.WantErr(t, s.ValidateStatusUpdate(ing, newIngress()), tt.path, tt.typ)
		})
	}
}
