package conntrack

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/kube-proxy/internal/rules"
)

func TestStale(t *testing.T) {
	udp := func(name string, nodePort int32, eps ...string) rules.ServicePort {
		return rules.ServicePort{Name: name, Protocol: v1.ProtocolUDP, ClusterIP: "10.96.0.10", Port: 53, NodePort: nodePort, Endpoints: eps}
	}
	tcp := rules.ServicePort{Name: "ns/web:http", Protocol: v1.ProtocolTCP, ClusterIP: "10.96.0.11", Port: 80, Endpoints: []string{"10.244.1.2"}}
	cases := []struct {
		name       string
		prev, next []rules.ServicePort
		want       []string
	}{
		{name: "nothing changed", prev: []rules.ServicePort{udp("ns/dns:dns", 0, "10.244.1.2")}, next: []rules.ServicePort{udp("ns/dns:dns", 0, "10.244.1.2")}},
		{
			name: "a removed endpoint loses its flows, node port included",
			prev: []rules.ServicePort{udp("ns/dns:dns", 30053, "10.244.1.2", "10.244.1.3"), tcp},
			next: []rules.ServicePort{udp("ns/dns:dns", 30053, "10.244.1.3")},
			want: []string{
				"-p udp --orig-dst 10.96.0.10 --dst-nat 10.244.1.2",
				"-p udp --orig-port-dst 30053 --dst-nat 10.244.1.2",
			},
		},
		{
			name: "a service getting its first endpoint loses the flows that went nowhere",
			prev: []rules.ServicePort{udp("ns/dns:dns", 0)},
			next: []rules.ServicePort{udp("ns/dns:dns", 0, "10.244.1.3")},
			want: []string{"-p udp --orig-dst 10.96.0.10 --orig-port-dst 53"},
		},
		{
			name: "a deleted service's endpoints lose their flows",
			prev: []rules.ServicePort{udp("ns/dns:dns", 0, "10.244.1.2")},
			want: []string{"-p udp --orig-dst 10.96.0.10 --dst-nat 10.244.1.2"},
		},
		{name: "TCP is left alone", prev: []rules.ServicePort{tcp}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range Stale(tc.prev, tc.next) {
				got = append(got, strings.Join(f, " "))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
