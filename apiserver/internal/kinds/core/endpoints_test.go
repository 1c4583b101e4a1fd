package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDefaultEndpoints(t *testing.T) {
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}
	endpointsStrategy{}.Default(ep)
	eq(t, ep.Subsets[0].Ports[0].Protocol, corev1.ProtocolTCP)
}

func TestValidateEndpoints(t *testing.T) {
	addr := func(ip string) []corev1.EndpointAddress { return []corev1.EndpointAddress{{IP: ip}} }
	port := func(name string, p int32) corev1.EndpointPort {
		return corev1.EndpointPort{Name: name, Port: p, Protocol: corev1.ProtocolTCP}
	}
	tests := []struct {
		name   string
		subset corev1.EndpointSubset
		want   []string
	}{
		{"an address and a port are valid", corev1.EndpointSubset{Addresses: addr("10.244.1.5"), Ports: []corev1.EndpointPort{port("", 8080)}}, nil},
		{"a headless subset needs no ports", corev1.EndpointSubset{NotReadyAddresses: addr("10.244.1.5")}, nil},
		{"a subset has addresses", corev1.EndpointSubset{Ports: []corev1.EndpointPort{port("", 80)}}, []string{"subsets[0]: Required value"}},
		{"addresses are IPs", corev1.EndpointSubset{Addresses: addr("web-1")}, []string{"subsets[0].addresses[0].ip: Invalid value"}},
		{"ports are in range", corev1.EndpointSubset{Addresses: addr("10.244.1.5"), Ports: []corev1.EndpointPort{port("", 0)}},
			[]string{"subsets[0].ports[0].port: Invalid value"}},
		{"ports are named when several", corev1.EndpointSubset{Addresses: addr("10.244.1.5"), Ports: []corev1.EndpointPort{port("http", 80), port("", 443)}},
			[]string{"subsets[0].ports[1].name: Required value"}},
		{"port protocol is supported", corev1.EndpointSubset{Addresses: addr("10.244.1.5"), Ports: []corev1.EndpointPort{{Port: 80, Protocol: "QUIC"}}},
			[]string{"subsets[0].ports[0].protocol: Unsupported value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Subsets: []corev1.EndpointSubset{tt.subset}}
			checkErrs(t, endpointsStrategy{}.Validate(ep), tt.want...)
			checkErrs(t, endpointsStrategy{}.ValidateUpdate(ep, ep), tt.want...)
		})
	}
}
