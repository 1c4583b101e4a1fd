package status

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
)

func ip(s string) networkingv1.IngressLoadBalancerIngress {
	return networkingv1.IngressLoadBalancerIngress{IP: s}
}

func TestAddresses(t *testing.T) {
	cases := []struct {
		name string
		svc  corev1.Service
		want []networkingv1.IngressLoadBalancerIngress
	}{
		{"load balancer: its ingress points, then external IPs, each once", corev1.Service{
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.20", ExternalIPs: []string{"203.0.113.9", "192.168.1.10"}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "192.168.1.10"}, {Hostname: "lb.example.com", Ports: []corev1.PortStatus{{Port: 443, Protocol: corev1.ProtocolTCP}}},
			}}},
		}, []networkingv1.IngressLoadBalancerIngress{
			ip("192.168.1.10"),
			{Hostname: "lb.example.com", Ports: []networkingv1.IngressPortStatus{{Port: 443, Protocol: corev1.ProtocolTCP}}},
			ip("203.0.113.9"),
		}},
		{"load balancer not provisioned yet", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.20"}}, nil},
		{"node port with external IPs", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.20", ExternalIPs: []string{"203.0.113.9"}}},
			[]networkingv1.IngressLoadBalancerIngress{ip("203.0.113.9")}},
		{"node port without", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.20"}},
			[]networkingv1.IngressLoadBalancerIngress{ip("10.96.0.20")}},
		{"cluster IP", corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20"}}, []networkingv1.IngressLoadBalancerIngress{ip("10.96.0.20")}},
		{"headless", corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}, nil},
		{"external name", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "lb.example.com"}},
			[]networkingv1.IngressLoadBalancerIngress{{Hostname: "lb.example.com"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Addresses(&tc.svc); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Addresses = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDesired(t *testing.T) {
	pub := []networkingv1.IngressLoadBalancerIngress{ip("192.168.1.10")}
	other := []networkingv1.IngressLoadBalancerIngress{ip("203.0.113.1")}
	cases := []struct {
		name            string
		served, ours    bool
		current         []networkingv1.IngressLoadBalancerIngress
		want            []networkingv1.IngressLoadBalancerIngress
		write           bool
		publishedIsNone bool
	}{
		{name: "served and new: publish", served: true, want: pub, write: true},
		{name: "served and up to date: nothing to write", served: true, current: pub, want: pub},
		{name: "served, address changed: rewrite", served: true, current: other, want: pub, write: true},
		{name: "served, publish Service gone: clear", served: true, current: pub, publishedIsNone: true, write: true},
		{name: "no longer served, we wrote it: clear", ours: true, current: pub, write: true},
		{name: "no longer served, shows our addresses: clear", current: pub, write: true},
		{name: "another controller's: leave alone", current: other, want: other},
		{name: "another controller's, empty: leave alone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			published := pub
			if tc.publishedIsNone {
				published = nil
			}
			want, write := Desired(tc.served, tc.ours, tc.current, published)
			if !Equal(want, tc.want) || write != tc.write {
				t.Errorf("Desired = %+v, %v; want %+v, %v", want, write, tc.want, tc.write)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	withErr := func(s string) []networkingv1.IngressLoadBalancerIngress {
		return []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1", Ports: []networkingv1.IngressPortStatus{{Port: 80, Error: ptr.To(s)}}}}
	}
	if !Equal(nil, []networkingv1.IngressLoadBalancerIngress{}) {
		t.Error("nil and empty differ")
	}
	if Equal(withErr("a"), withErr("b")) || !Equal(withErr("a"), withErr("a")) {
		t.Error("port errors compared wrongly")
	}
	if Equal([]networkingv1.IngressLoadBalancerIngress{ip("10.0.0.1")}, []networkingv1.IngressLoadBalancerIngress{{Hostname: "10.0.0.1"}}) {
		t.Error("an IP equals a hostname")
	}
}
