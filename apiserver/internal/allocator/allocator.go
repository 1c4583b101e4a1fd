// Package allocator hands out Service ClusterIPs and NodePorts. Each
// allocated value is an etcd key (/registry/ranges/...) claimed in the same
// transaction that writes the Service, so two Services can never get the
// same address or port, and a deleted Service releases them atomically.
package allocator

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/etcdstore"
	"coracle.dev/apiserver/internal/genericstore"
)

// Key prefixes of allocations.
const (
	ipPrefix   = "/registry/ranges/serviceips/"
	portPrefix = "/registry/ranges/servicenodeports/"
)

// Services allocates for core/v1 Services.
type Services struct {
	ipNet        *net.IPNet
	base         uint32 // the range's network address as a number
	size         uint32 // number of addresses in the range
	portMin      int
	portMax      int
	serviceRange string
}

var _ genericstore.Allocator = &Services{}

// NewServices returns an allocator for ClusterIPs in cidr (IPv4) and
// NodePorts in [portMin, portMax].
func NewServices(cidr string, portMin, portMax int) (*Services, error) {
	_, ipNet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("service cluster IP range %q: %w", cidr, err)
	}
	ip4 := ipNet.IP.To4()
	if ip4 == nil {
		return nil, fmt.Errorf("service cluster IP range %q: only IPv4 is supported", cidr)
	}
	ones, bits := ipNet.Mask.Size()
	if bits-ones < 2 || bits-ones > 24 {
		return nil, fmt.Errorf("service cluster IP range %q: prefix must be between /8 and /30", cidr)
	}
	if portMin < 1 || portMax > 65535 || portMin > portMax {
		return nil, fmt.Errorf("service node port range %d-%d is not valid", portMin, portMax)
	}
	return &Services{
		ipNet: ipNet, base: binary.BigEndian.Uint32(ip4), size: 1 << uint(bits-ones),
		portMin: portMin, portMax: portMax, serviceRange: cidr,
	}, nil
}

// FirstIP is the range's first usable address, the `kubernetes` Service's.
func (a *Services) FirstIP() string { return a.ipAt(1).String() }

func (a *Services) ipAt(offset uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, a.base+offset)
	return ip
}

func ipKey(ip string) string { return ipPrefix + ip }
func portKey(p int32) string { return portPrefix + strconv.Itoa(int(p)) }

func owner(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func needsHealthCheckPort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func invalid(svc *corev1.Service, path *field.Path, value any, detail string) error {
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name,
		field.ErrorList{field.Invalid(path, value, detail)})
}

// Allocate implements genericstore.Allocator.
func (a *Services) Allocate(obj, old runtime.Object, taken string) (etcdstore.Side, error) {
	svc := obj.(*corev1.Service)
	var oldSvc *corev1.Service
	if old != nil {
		oldSvc = old.(*corev1.Service)
	}
	var side etcdstore.Side
	if err := a.allocateIP(svc, oldSvc, taken, &side); err != nil {
		return etcdstore.Side{}, err
	}
	if err := a.allocatePorts(svc, oldSvc, taken, &side); err != nil {
		return etcdstore.Side{}, err
	}
	return side, nil
}

func (a *Services) allocateIP(svc, oldSvc *corev1.Service, taken string, side *etcdstore.Side) error {
	oldIP := ""
	if oldSvc != nil && needsClusterIP(oldSvc) {
		oldIP = oldSvc.Spec.ClusterIP
	}
	if !needsClusterIP(svc) {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		}
		if oldIP != "" {
			side.Releases = append(side.Releases, ipKey(oldIP))
		}
		return nil
	}
	want := svc.Spec.ClusterIP
	if want == "" && len(svc.Spec.ClusterIPs) > 0 {
		want = svc.Spec.ClusterIPs[0]
	}
	if want != "" && want == oldIP {
		return nil // unchanged: still ours
	}
	path := field.NewPath("spec", "clusterIPs")
	if want != "" {
		ip := net.ParseIP(want).To4()
		if ip == nil || !a.ipNet.Contains(ip) {
			return invalid(svc, path, []string{want}, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", want, want, a.serviceRange))
		}
		if taken == ipKey(ip.String()) {
			return invalid(svc, path, []string{want}, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", want))
		}
		want = ip.String()
	} else {
		// Random over the range, skipping the network and broadcast
		// addresses; a collision comes back as taken and we draw again.
		want = a.ipAt(1 + rand.Uint32N(a.size-2)).String()
	}
	svc.Spec.ClusterIP = want
	svc.Spec.ClusterIPs = []string{want}
	side.Claims = append(side.Claims, etcdstore.Claim{Key: ipKey(want), Value: owner(svc)})
	if oldIP != "" {
		side.Releases = append(side.Releases, ipKey(oldIP))
	}
	return nil
}

func (a *Services) randomPort() int32 {
	return int32(a.portMin + rand.IntN(a.portMax-a.portMin+1))
}

func (a *Services) inRange(p int32) bool { return int(p) >= a.portMin && int(p) <= a.portMax }

func (a *Services) allocatePorts(svc, oldSvc *corev1.Service, taken string, side *etcdstore.Side) error {
	owned := map[int32]bool{} // node ports the old Service holds
	if oldSvc != nil {
		for _, p := range oldSvc.Spec.Ports {
			if p.NodePort != 0 && needsNodePorts(oldSvc) {
				owned[p.NodePort] = true
			}
		}
		if oldSvc.Spec.HealthCheckNodePort != 0 && needsHealthCheckPort(oldSvc) {
			owned[oldSvc.Spec.HealthCheckNodePort] = true
		}
	}
	kept := map[int32]bool{}
	claimed := map[int32]bool{}
	claim := func(p int32, path *field.Path, requested bool) error {
		if owned[p] {
			kept[p] = true
			return nil
		}
		if claimed[p] {
			return nil // the same port for TCP and UDP of one Service
		}
		if requested {
			if !a.inRange(p) {
				return invalid(svc, path, p, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.portMin, a.portMax))
			}
			if taken == portKey(p) {
				return invalid(svc, path, p, "provided port is already allocated")
			}
		}
		claimed[p] = true
		side.Claims = append(side.Claims, etcdstore.Claim{Key: portKey(p), Value: owner(svc)})
		return nil
	}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
			requested := p.NodePort != 0
			if !requested {
				if prev := previousNodePort(oldSvc, p); prev != 0 && owned[prev] {
					p.NodePort = prev
				} else {
					p.NodePort = a.freshPort(claimed, owned)
				}
			}
			if err := claim(p.NodePort, path, requested); err != nil {
				return err
			}
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if needsHealthCheckPort(svc) {
		requested := svc.Spec.HealthCheckNodePort != 0
		if !requested {
			if oldSvc != nil && owned[oldSvc.Spec.HealthCheckNodePort] {
				svc.Spec.HealthCheckNodePort = oldSvc.Spec.HealthCheckNodePort
			} else {
				svc.Spec.HealthCheckNodePort = a.freshPort(claimed, owned)
			}
		}
		if err := claim(svc.Spec.HealthCheckNodePort, field.NewPath("spec", "healthCheckNodePort"), requested); err != nil {
			return err
		}
	} else {
		svc.Spec.HealthCheckNodePort = 0
	}
	for p := range owned {
		if !kept[p] {
			side.Releases = append(side.Releases, portKey(p))
		}
	}
	return nil
}

// freshPort draws a random port this Service does not already use.
func (a *Services) freshPort(claimed, owned map[int32]bool) int32 {
	for {
		p := a.randomPort()
		if !claimed[p] && !owned[p] {
			return p
		}
	}
}

// previousNodePort finds the node port the old Service gave the same port.
func previousNodePort(oldSvc *corev1.Service, p *corev1.ServicePort) int32 {
	if oldSvc == nil {
		return 0
	}
	for _, op := range oldSvc.Spec.Ports {
		if op.Port == p.Port && op.Protocol == p.Protocol && op.Name == p.Name {
			return op.NodePort
		}
	}
	return 0
}

// Release implements genericstore.Allocator.
func (a *Services) Release(obj runtime.Object) etcdstore.Side {
	svc := obj.(*corev1.Service)
	var side etcdstore.Side
	if needsClusterIP(svc) && svc.Spec.ClusterIP != "" {
		side.Releases = append(side.Releases, ipKey(svc.Spec.ClusterIP))
	}
	seen := map[int32]bool{}
	if needsNodePorts(svc) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 && !seen[p.NodePort] {
				seen[p.NodePort] = true
				side.Releases = append(side.Releases, portKey(p.NodePort))
			}
		}
	}
	if needsHealthCheckPort(svc) && svc.Spec.HealthCheckNodePort != 0 && !seen[svc.Spec.HealthCheckNodePort] {
		side.Releases = append(side.Releases, portKey(svc.Spec.HealthCheckNodePort))
	}
	return side
}
