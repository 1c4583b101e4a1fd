package describe

import (
	"bytes"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// endpoint is one endpoint of a slice; ready nil leaves readiness unknown.
func endpoint(ip string, ready *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
}

// slice is an EndpointSlice of a Service's endpoints on the named ports.
func slice(service string, ports map[string]int32, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	s := discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-abcde", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	}
	for name, port := range ports {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)})
	}
	return s
}

func service(name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{Ports: ports}}
}

func serviceBackend(name string, port networkingv1.ServiceBackendPort) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: port}}
}

func path(p string, b networkingv1.IngressBackend) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix), Backend: b}
}

// richIngress has every part a description shows: addresses, a class, a
// default backend, both kinds of TLS entry, hosts with several paths, a
// backend whose Service is missing, a resource backend, and a rule with
// no paths.
func richIngress() *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: at(time.Hour),
			Labels:      map[string]string{"app": "web", "tier": "edge"},
			Annotations: map[string]string{"note": "routes the shop"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("coracle"),
			DefaultBackend:   ptr.To(serviceBackend("web", networkingv1.ServiceBackendPort{Number: 80})),
			TLS: []networkingv1.IngressTLS{
				{Hosts: []string{"api.example", "www.api.example"}, SecretName: "api-tls"},
				{Hosts: []string{"sni.example"}},
			},
			Rules: []networkingv1.IngressRule{
				{Host: "web.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					path("/", serviceBackend("web", networkingv1.ServiceBackendPort{Number: 80})),
					path("/metrics", serviceBackend("web", networkingv1.ServiceBackendPort{Name: "metrics"})),
				}}}},
				{Host: "api.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					path("/v1", serviceBackend("api", networkingv1.ServiceBackendPort{Number: 8080})),
					path("/v2", serviceBackend("missing", networkingv1.ServiceBackendPort{Number: 80})),
				}}}},
				{Host: "bare.example"},
				{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					path("/static", networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{APIGroup: ptr.To("k8s.example.com"), Kind: "StorageBucket", Name: "static-assets"}}),
				}}}},
			},
		},
		Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{
			{IP: "172.31.250.12"}, {IP: "172.31.250.11"}, {IP: "172.31.250.12"}, {Hostname: "lb.example"},
		}}},
	}
}

// richBackends resolves richIngress's Services: web with two named ports
// and five endpoints, one of them not ready; api with one unnamed port;
// missing not found, as the fetcher would record it.
func richBackends() map[string]Backend {
	webEndpoints := []discoveryv1.Endpoint{
		endpoint("10.244.1.7", ptr.To(true)), endpoint("10.244.1.8", nil), endpoint("10.244.2.3", ptr.To(false)),
		endpoint("10.244.2.4", ptr.To(true)), endpoint("10.244.2.5", ptr.To(true)),
	}
	return map[string]Backend{
		"web": {
			Service: service("web", corev1.ServicePort{Name: "http", Port: 80}, corev1.ServicePort{Name: "metrics", Port: 9090}),
			Slices:  []discoveryv1.EndpointSlice{slice("web", map[string]int32{"http": 8080, "metrics": 9090}, webEndpoints...)},
		},
		"api": {
			Service: service("api", corev1.ServicePort{Port: 8080}),
			Slices:  []discoveryv1.EndpointSlice{slice("api", map[string]int32{"": 9000}, endpoint("10.244.3.9", ptr.To(true)))},
		},
		"missing": {Err: apierrors.NewNotFound(corev1.Resource("services"), "missing")},
	}
}

func ingressEvents() []corev1.Event {
	return []corev1.Event{
		{Type: "Warning", Reason: "BackendNotFound", Message: `service "missing" not found`, Count: 3,
			FirstTimestamp: at(5 * time.Minute), LastTimestamp: at(time.Minute), Source: corev1.EventSource{Component: "coracle-ingress"}},
		{Type: "Normal", Reason: "Sync", Message: "Scheduled for sync", Count: 1,
			FirstTimestamp: at(6 * time.Minute), LastTimestamp: at(6 * time.Minute), Source: corev1.EventSource{Component: "coracle-ingress"}},
	}
}

func TestIngress(t *testing.T) {
	var b bytes.Buffer
	if err := Ingress(&b, richIngress(), richBackends(), ingressEvents(), now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "ingress.golden", b.String())
}

// An Ingress with neither rules nor default backend, not yet given an
// address by a controller, routes everything to the controller's default.
func TestIngressWithoutRules(t *testing.T) {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "team-a"}}
	var b bytes.Buffer
	if err := Ingress(&b, ing, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "ingress-empty.golden", b.String())
}

// Only a default backend, whose Service has no slices yet, was not
// resolved, or whose slices could not be read: an error is the
// backend's, not the description's.
func TestIngressDefaultBackendOnly(t *testing.T) {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "fallback", Namespace: "default"},
		Spec: networkingv1.IngressSpec{DefaultBackend: ptr.To(serviceBackend("web", networkingv1.ServiceBackendPort{Name: "http"}))}}
	for _, tc := range []struct {
		name     string
		backends map[string]Backend
		golden   string
	}{
		{"no slices", map[string]Backend{"web": {Service: service("web", corev1.ServicePort{Name: "http", Port: 80})}}, "ingress-default.golden"},
		{"Service not resolved", nil, "ingress-default-missing.golden"},
		{"slices unreadable", map[string]Backend{"web": {Err: apierrors.NewForbidden(discoveryv1.Resource("endpointslices"), "", errors.New("no RBAC policy matched"))}}, "ingress-default-error.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Ingress(&b, ing, tc.backends, nil, now); err != nil {
				t.Fatal(err)
			}
			assertGolden(t, tc.golden, b.String())
		})
	}
}

func TestIngressClass(t *testing.T) {
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "coracle", Labels: map[string]string{"app.kubernetes.io/name": "coracle-ingress"},
			Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}},
		Spec: networkingv1.IngressClassSpec{Controller: "coracle.dev/ingress",
			Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("k8s.example.com"), Kind: "IngressParameters", Name: "external-lb"}},
	}
	var b bytes.Buffer
	if err := IngressClass(&b, ic, nil, now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "ingressclass.golden", b.String())
}

func TestSliceEndpoints(t *testing.T) {
	web := map[string]int32{"http": 8080}
	for _, tc := range []struct {
		name   string
		slices []discoveryv1.EndpointSlice
		port   string
		want   string
	}{
		{"no slice is none", nil, "http", "<none>"},
		{"a slice with no endpoints is empty", []discoveryv1.EndpointSlice{slice("web", web)}, "http", ""},
		{"ready and unknown readiness count, unready does not",
			[]discoveryv1.EndpointSlice{slice("web", web, endpoint("10.0.0.1", ptr.To(true)), endpoint("10.0.0.2", ptr.To(false)), endpoint("10.0.0.3", nil))},
			"http", "10.0.0.1:8080,10.0.0.3:8080"},
		{"only the named port", []discoveryv1.EndpointSlice{slice("web", map[string]int32{"http": 8080, "admin": 9000}, endpoint("10.0.0.1", nil))},
			"admin", "10.0.0.1:9000"},
		{"a port the slices lack lists nothing", []discoveryv1.EndpointSlice{slice("web", web, endpoint("10.0.0.1", nil))}, "grpc", ""},
		{"endpoints across slices, three then more",
			[]discoveryv1.EndpointSlice{
				slice("web", web, endpoint("10.0.0.1", nil), endpoint("10.0.0.2", nil)),
				slice("web", web, endpoint("10.0.0.3", nil), endpoint("10.0.0.4", nil), endpoint("10.0.0.5", nil)),
			},
			"http", "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more..."},
		{"unready endpoints past the third are not more",
			[]discoveryv1.EndpointSlice{slice("web", web, endpoint("10.0.0.1", nil), endpoint("10.0.0.2", nil), endpoint("10.0.0.3", nil), endpoint("10.0.0.4", ptr.To(false)))},
			"http", "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080"},
		{"headless slices without ports list bare addresses",
			[]discoveryv1.EndpointSlice{slice("db", nil, endpoint("10.0.0.1", nil), endpoint("10.0.0.2", ptr.To(false)))}, "", "10.0.0.1"},
		{"IPv6 addresses are bracketed",
			[]discoveryv1.EndpointSlice{slice("web", web, endpoint("fd00::1", nil))}, "http", "[fd00::1]:8080"},
		{"an endpoint without an address is skipped",
			[]discoveryv1.EndpointSlice{slice("web", web, discoveryv1.Endpoint{}, endpoint("10.0.0.1", nil))}, "http", "10.0.0.1:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sliceEndpoints(tc.slices, tc.port); got != tc.want {
				t.Errorf("sliceEndpoints(%q) = %q, want %q", tc.port, got, tc.want)
			}
		})
	}
}

func TestServicePortName(t *testing.T) {
	svc := service("web", corev1.ServicePort{Name: "http", Port: 80}, corev1.ServicePort{Name: "metrics", Port: 9090})
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		port networkingv1.ServiceBackendPort
		want string
	}{
		{"by number", svc, networkingv1.ServiceBackendPort{Number: 9090}, "metrics"},
		{"by name", svc, networkingv1.ServiceBackendPort{Name: "http"}, "http"},
		{"a number the Service lacks", svc, networkingv1.ServiceBackendPort{Number: 81}, ""},
		{"a name the Service lacks", svc, networkingv1.ServiceBackendPort{Name: "grpc"}, ""},
		{"the unnamed port of a one-port Service", service("api", corev1.ServicePort{Port: 8080}), networkingv1.ServiceBackendPort{Number: 8080}, ""},
		{"no Service", nil, networkingv1.ServiceBackendPort{Number: 80}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := servicePortName(tc.svc, tc.port); got != tc.want {
				t.Errorf("servicePortName(%+v) = %q, want %q", tc.port, got, tc.want)
			}
		})
	}
}

func TestIngressAddress(t *testing.T) {
	for _, tc := range []struct {
		name string
		lb   []networkingv1.IngressLoadBalancerIngress
		want string
	}{
		{"none yet", nil, ""},
		{"sorted without repeats", []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.2"}, {IP: "10.0.0.1"}, {IP: "10.0.0.2"}}, "10.0.0.1,10.0.0.2"},
		{"an IP before its hostname", []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1", Hostname: "lb.example"}}, "10.0.0.1"},
		{"a hostname without an IP", []networkingv1.IngressLoadBalancerIngress{{Hostname: "lb.example"}, {IP: "10.0.0.1"}}, "10.0.0.1,lb.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ingressAddress(networkingv1.IngressLoadBalancerStatus{Ingress: tc.lb}); got != tc.want {
				t.Errorf("ingressAddress = %q, want %q", got, tc.want)
			}
		})
	}
}
