package endpointslicemirroring

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestDesired(t *testing.T) {
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{
		{
			Addresses:         []corev1.EndpointAddress{{IP: "192.0.2.2"}, {IP: "192.0.2.1"}, {IP: "2001:db8::1"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.0.2.9"}},
			Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432}},
		},
	}}
	got := Desired(ep)
	v4, v6 := got[discoveryv1.AddressTypeIPv4], got[discoveryv1.AddressTypeIPv6]
	if len(v4) != 1 || len(v6) != 1 {
		t.Fatalf("groups v4 %d v6 %d, want one each", len(v4), len(v6))
	}
	eps := v4[0].Endpoints
	if len(eps) != 3 || eps[0].Addresses[0] != "192.0.2.1" || !*eps[0].Conditions.Ready || *eps[2].Conditions.Ready {
		t.Errorf("v4 endpoints %+v", eps)
	}
	if *v4[0].Ports[0].Port != 5432 || *v4[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("ports %+v", v4[0].Ports)
	}
}

func TestDesiredCapsAtMaxMirrored(t *testing.T) {
	var addrs []corev1.EndpointAddress
	for i := 0; i < MaxMirrored+50; i++ {
		addrs = append(addrs, corev1.EndpointAddress{IP: fmt.Sprintf("10.0.%d.%d", i/256, i%256)})
	}
	got := Desired(&corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: addrs}}})
	n := 0
	for _, g := range got[discoveryv1.AddressTypeIPv4] {
		n += len(g.Endpoints)
	}
	if n != MaxMirrored {
		t.Errorf("%d endpoints mirrored, want %d", n, MaxMirrored)
	}
}
