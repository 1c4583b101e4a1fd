package allocator

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/etcdstore"
)

func svc(typ corev1.ServiceType, clusterIP string, nodePorts ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP}}
	if len(nodePorts) == 0 {
		nodePorts = []int32{0}
	}
	for i, p := range nodePorts {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: string(rune('a' + i)), Port: 80 + int32(i), Protocol: corev1.ProtocolTCP, NodePort: p})
	}
	return s
}

func keys(side etcdstore.Side) (claims, releases string) {
	var c []string
	for _, cl := range side.Claims {
		c = append(c, cl.Key)
	}
	return strings.Join(c, ","), strings.Join(side.Releases, ",")
}

func TestNewServicesRejectsBadRanges(t *testing.T) {
	for _, tt := range []struct {
		cidr     string
		min, max int
	}{{"nonsense", 30000, 32767}, {"fd00::/108", 30000, 32767}, {"10.0.0.0/31", 30000, 32767}, {"10.96.0.0/12", 40000, 30000}, {"10.96.0.0/12", 0, 10}} {
		if _, err := NewServices(tt.cidr, tt.min, tt.max); err == nil {
			t.Errorf("%s %d-%d accepted", tt.cidr, tt.min, tt.max)
		}
	}
}

func TestAllocate(t *testing.T) {
	a, err := NewServices("10.96.0.0/12", 30000, 32767)
	if err != nil {
		t.Fatal(err)
	}
	if a.FirstIP() != "10.96.0.1" {
		t.Fatalf("first IP %s", a.FirstIP())
	}
	tests := []struct {
		name         string
		obj, old     *corev1.Service
		taken        string
		wantClaims   string // "" none; "*" any non-empty
		wantReleases string
		wantErr      string
		check        func(t *testing.T, s *corev1.Service)
	}{
		{
			name: "requested IP and port are claimed", obj: svc(corev1.ServiceTypeNodePort, "10.96.0.10", 30080),
			wantClaims: "/registry/ranges/serviceips/10.96.0.10,/registry/ranges/servicenodeports/30080",
		},
		{
			name: "random IP inside the range", obj: svc(corev1.ServiceTypeClusterIP, ""), wantClaims: "*",
			check: func(t *testing.T, s *corev1.Service) {
				if !strings.HasPrefix(s.Spec.ClusterIP, "10.") || s.Spec.ClusterIPs[0] != s.Spec.ClusterIP || s.Spec.Ports[0].NodePort != 0 {
					t.Fatalf("spec %+v", s.Spec)
				}
			},
		},
		{name: "headless gets nothing", obj: svc(corev1.ServiceTypeClusterIP, "None")},
		{
			name: "ExternalName gets nothing", obj: svc(corev1.ServiceTypeExternalName, "10.96.0.5"),
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.ClusterIP != "" {
					t.Fatalf("clusterIP %q", s.Spec.ClusterIP)
				}
			},
		},
		{name: "requested IP out of range", obj: svc(corev1.ServiceTypeClusterIP, "10.200.0.1"), wantErr: "spec.clusterIPs"},
		{name: "requested IP taken", obj: svc(corev1.ServiceTypeClusterIP, "10.96.0.10"), taken: "/registry/ranges/serviceips/10.96.0.10", wantErr: "provided IP is already allocated"},
		{name: "requested port out of range", obj: svc(corev1.ServiceTypeNodePort, "10.96.0.10", 80), wantErr: "spec.ports[0].nodePort"},
		{name: "requested port taken", obj: svc(corev1.ServiceTypeNodePort, "10.96.0.10", 30080), taken: "/registry/ranges/servicenodeports/30080", wantErr: "provided port is already allocated"},
		{
			name: "a drawn IP found taken is drawn again", obj: svc(corev1.ServiceTypeClusterIP, ""), taken: "/registry/ranges/serviceips/10.96.0.7", wantClaims: "*",
		},
		{
			name: "unchanged update claims nothing", obj: svc(corev1.ServiceTypeNodePort, "10.96.0.10", 30080), old: svc(corev1.ServiceTypeNodePort, "10.96.0.10", 30080),
		},
		{
			name: "NodePort to ClusterIP releases the port", obj: svc(corev1.ServiceTypeClusterIP, "10.96.0.10", 30080), old: svc(corev1.ServiceTypeNodePort, "10.96.0.10", 30080),
			wantReleases: "/registry/ranges/servicenodeports/30080",
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort != 0 {
					t.Fatal("nodePort kept")
				}
			},
		},
		{
			name: "ClusterIP to NodePort keeps the IP and draws a port", obj: svc(corev1.ServiceTypeNodePort, "10.96.0.10"), old: svc(corev1.ServiceTypeClusterIP, "10.96.0.10"), wantClaims: "*",
			check: func(t *testing.T, s *corev1.Service) {
				if p := s.Spec.Ports[0].NodePort; p < 30000 || p > 32767 {
					t.Fatalf("port %d", p)
				}
			},
		},
		{
			name: "an unset port keeps the one the service had", obj: svc(corev1.ServiceTypeNodePort, "10.96.0.10", 0), old: svc(corev1.ServiceTypeNodePort, "10.96.0.10", 31000),
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort != 31000 {
					t.Fatalf("port %d", s.Spec.Ports[0].NodePort)
				}
			},
		},
		{
			name: "to ExternalName releases the IP", obj: svc(corev1.ServiceTypeExternalName, ""), old: svc(corev1.ServiceTypeClusterIP, "10.96.0.10"),
			wantReleases: "/registry/ranges/serviceips/10.96.0.10",
		},
		{
			name: "one port for TCP and UDP is claimed once", obj: svc(corev1.ServiceTypeNodePort, "10.96.0.10", 30053, 30053),
			wantClaims: "/registry/ranges/serviceips/10.96.0.10,/registry/ranges/servicenodeports/30053",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var side etcdstore.Side
			var err error
			if tt.old != nil {
				side, err = a.Allocate(tt.obj, tt.old, tt.taken)
			} else {
				side, err = a.Allocate(tt.obj, nil, tt.taken)
			}
			if tt.wantErr != "" {
				if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want Invalid containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			claims, releases := keys(side)
			if tt.wantClaims == "*" {
				if claims == "" || strings.Contains(claims, tt.taken+",") {
					t.Fatalf("claims %q", claims)
				}
			} else if claims != tt.wantClaims {
				t.Fatalf("claims %q, want %q", claims, tt.wantClaims)
			}
			if releases != tt.wantReleases {
				t.Fatalf("releases %q, want %q", releases, tt.wantReleases)
			}
			if tt.check != nil {
				tt.check(t, tt.obj)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	a, _ := NewServices("10.96.0.0/12", 30000, 32767)
	s := svc(corev1.ServiceTypeLoadBalancer, "10.96.0.9", 30001, 30002)
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	s.Spec.HealthCheckNodePort = 30003
	_, releases := keys(a.Release(s))
	want := "/registry/ranges/serviceips/10.96.0.9,/registry/ranges/servicenodeports/30001,/registry/ranges/servicenodeports/30002,/registry/ranges/servicenodeports/30003"
	if releases != want {
		t.Fatalf("releases %q", releases)
	}
}
