package printers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

func TestServiceCells(t *testing.T) {
	tcp := func(port, nodePort int32) corev1.ServicePort {
		return corev1.ServicePort{Port: port, NodePort: nodePort, Protocol: corev1.ProtocolTCP}
	}
	tests := []struct {
		name string
		svc  corev1.Service
		want []interface{}
	}{
		{"cluster IP service", corev1.Service{
			ObjectMeta: meta("web"),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
				Ports:    []corev1.ServicePort{tcp(80, 0), {Port: 53, Protocol: corev1.ProtocolUDP}},
				Selector: map[string]string{"app": "web"},
			},
		}, []interface{}{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "10d", "app=web"}},
		{"cluster IP service with external IPs", corev1.Service{
			ObjectMeta: meta("web"),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.11"},
				ExternalIPs: []string{"198.51.100.1", "198.51.100.2"}, Ports: []corev1.ServicePort{tcp(80, 0)},
			},
		}, []interface{}{"web", "ClusterIP", "10.96.0.11", "198.51.100.1,198.51.100.2", "80/TCP", "10d", "<none>"}},
		{"headless service", corev1.Service{
			ObjectMeta: meta("db"),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"}},
		}, []interface{}{"db", "ClusterIP", "None", "<none>", "<none>", "10d", "<none>"}},
		{"cluster IP falls back to the single field", corev1.Service{
			ObjectMeta: meta("web"),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.12", Ports: []corev1.ServicePort{tcp(80, 0)}},
		}, []interface{}{"web", "ClusterIP", "10.96.0.12", "<none>", "80/TCP", "10d", "<none>"}},
		{"node port service shows node ports", corev1.Service{
			ObjectMeta: meta("web"),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.96.0.13"},
				Ports: []corev1.ServicePort{tcp(80, 30080), tcp(443, 30443)},
			},
		}, []interface{}{"web", "NodePort", "10.96.0.13", "<none>", "80:30080/TCP,443:30443/TCP", "10d", "<none>"}},
		{"load balancer without ingress is pending", corev1.Service{
			ObjectMeta: meta("lb"),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.14"}, Ports: []corev1.ServicePort{tcp(80, 31000)}},
		}, []interface{}{"lb", "LoadBalancer", "10.96.0.14", "<pending>", "80:31000/TCP", "10d", "<none>"}},
		{"load balancer ingress sorted, deduplicated, hostname when no IP", corev1.Service{
			ObjectMeta: meta("lb"),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.15"}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "203.0.113.9"}, {Hostname: "lb.example.com"}, {IP: "203.0.113.1", Hostname: "ignored"}, {IP: "203.0.113.9"},
			}}},
		}, []interface{}{"lb", "LoadBalancer", "10.96.0.15", "203.0.113.1,203.0.113.9,lb.example.com", "<none>", "10d", "<none>"}},
		{"load balancer external IPs follow its ingress", corev1.Service{
			ObjectMeta: meta("lb"),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.16"}, ExternalIPs: []string{"198.51.100.7"}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "203.0.113.2"},
			}}},
		}, []interface{}{"lb", "LoadBalancer", "10.96.0.16", "203.0.113.2,198.51.100.7", "<none>", "10d", "<none>"}},
		{"external name service", corev1.Service{
			ObjectMeta: meta("db"),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
		}, []interface{}{"db", "ExternalName", "<none>", "db.example.com", "<none>", "10d", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, serviceCells(&tt.svc, testNow()), tt.want)
		})
	}
}

func TestEndpointsCells(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, len(ips))
		for i, ip := range ips {
			out[i].IP = ip
		}
		return out
	}
	port := func(name string, p int32) corev1.EndpointPort { return corev1.EndpointPort{Name: name, Port: p} }
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"no subsets", nil, "<none>"},
		{"addresses with a port", []corev1.EndpointSubset{
			{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: []corev1.EndpointPort{port("http", 80)}},
		}, "10.0.0.1:80,10.0.0.2:80"},
		{"three shown, the rest counted", []corev1.EndpointSubset{
			{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"), Ports: []corev1.EndpointPort{port("http", 80)}},
		}, "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more..."},
		{"every port of every address counts", []corev1.EndpointSubset{
			{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: []corev1.EndpointPort{port("http", 80), port("https", 443)}},
		}, "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."},
		{"headless subset without ports shows bare IPs", []corev1.EndpointSubset{
			{Addresses: addrs("10.0.0.1", "10.0.0.2")},
			{Addresses: addrs("10.0.1.1"), Ports: []corev1.EndpointPort{port("", 5432)}},
		}, "10.0.0.1,10.0.0.2,10.0.1.1:5432"},
		{"IPv6 addresses are bracketed", []corev1.EndpointSubset{
			{Addresses: addrs("fd00::1"), Ports: []corev1.EndpointPort{port("", 80)}},
		}, "[fd00::1]:80"},
		{"subset with ports but no ready addresses is empty", []corev1.EndpointSubset{
			{NotReadyAddresses: addrs("10.0.0.9"), Ports: []corev1.EndpointPort{port("", 80)}},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := corev1.Endpoints{ObjectMeta: meta("web"), Subsets: tt.subsets}
			checkCells(t, endpointsCells(&ep, testNow()), []interface{}{"web", tt.want, "10d"})
		})
	}
}

func TestEndpointSliceCells(t *testing.T) {
	tests := []struct {
		name      string
		ports     []discoveryv1.EndpointPort
		endpoints []discoveryv1.Endpoint
		want      []interface{} // Ports, Endpoints
	}{
		{"empty slice is unset", nil, nil, []interface{}{"<unset>", "<unset>"}},
		{"ports by number, else name, else any", []discoveryv1.EndpointPort{
			{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {},
		}, []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}},
			[]interface{}{"80,metrics,*", "10.0.0.1"}},
		{"addresses of all endpoints, three shown", []discoveryv1.EndpointPort{{Port: ptr(int32(80))}},
			[]discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1", "10.0.0.2"}}, {Addresses: []string{"10.0.0.3"}}, {Addresses: []string{"10.0.0.4"}}},
			[]interface{}{"80", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := discoveryv1.EndpointSlice{ObjectMeta: meta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4, Ports: tt.ports, Endpoints: tt.endpoints}
			checkCells(t, endpointSliceCells(&es, testNow()), []interface{}{"web-abc", "IPv4", tt.want[0], tt.want[1], "10d"})
		})
	}
}

func TestIngressCells(t *testing.T) {
	rules := func(hosts ...string) []networkingv1.IngressRule {
		out := make([]networkingv1.IngressRule, len(hosts))
		for i, h := range hosts {
			out[i].Host = h
		}
		return out
	}
	tests := []struct {
		name string
		ing  networkingv1.Ingress
		want []interface{}
	}{
		{"no class, no hosts, no address", networkingv1.Ingress{ObjectMeta: meta("web")},
			[]interface{}{"web", "<none>", "*", "", "80", "10d"}},
		{"class, hosts, address and TLS", networkingv1.Ingress{
			ObjectMeta: meta("web"),
			Spec: networkingv1.IngressSpec{
				IngressClassName: ptr("nginx"),
				Rules:            rules("a.example.com", "b.example.com"),
				TLS:              []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}},
			},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{
				{IP: "203.0.113.5"}, {Hostname: "lb.example.com"},
			}}},
		}, []interface{}{"web", "nginx", "a.example.com,b.example.com", "203.0.113.5,lb.example.com", "80, 443", "10d"}},
		{"hosts beyond three are counted", networkingv1.Ingress{
			ObjectMeta: meta("web"),
			Spec:       networkingv1.IngressSpec{Rules: rules("a", "b", "c", "d", "e")},
		}, []interface{}{"web", "<none>", "a,b,c + 2 more...", "", "80", "10d"}},
		{"rules without host are skipped but counted", networkingv1.Ingress{
			ObjectMeta: meta("web"),
			Spec:       networkingv1.IngressSpec{Rules: rules("", "a", "b", "c", "d")},
		}, []interface{}{"web", "<none>", "a,b,c + 2 more...", "", "80", "10d"}},
		{"exactly three hosts", networkingv1.Ingress{
			ObjectMeta: meta("web"),
			Spec:       networkingv1.IngressSpec{Rules: rules("a", "", "b", "c")},
		}, []interface{}{"web", "<none>", "a,b,c", "", "80", "10d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, ingressCells(&tt.ing, testNow()), tt.want)
		})
	}
}
