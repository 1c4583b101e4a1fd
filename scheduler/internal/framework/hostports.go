package framework

import v1 "k8s.io/api/core/v1"

// DefaultBindAllHostIP is the host IP of a port bound on every address.
const DefaultBindAllHostIP = "0.0.0.0"

// ProtocolPort is a protocol and a port.
type ProtocolPort struct {
	Protocol string
	Port     int32
}

// HostPortInfo holds the host ports in use on a node, by host IP.
type HostPortInfo map[string]map[ProtocolPort]struct{}

// Add records ip, protocol and port as used; empty ip and protocol mean
// 0.0.0.0 and TCP.
func (h *HostPortInfo) Add(ip, protocol string, port int32) {
	if port <= 0 {
		return
	}
	ip, protocol = sanitize(ip, protocol)
	if *h == nil {
		*h = HostPortInfo{}
	}
	if (*h)[ip] == nil {
		(*h)[ip] = map[ProtocolPort]struct{}{}
	}
	(*h)[ip][ProtocolPort{Protocol: protocol, Port: port}] = struct{}{}
}

// Remove forgets a port.
func (h HostPortInfo) Remove(ip, protocol string, port int32) {
	if port <= 0 || h == nil {
		return
	}
	ip, protocol = sanitize(ip, protocol)
	if m := h[ip]; m != nil {
		delete(m, ProtocolPort{Protocol: protocol, Port: port})
		if len(m) == 0 {
			delete(h, ip)
		}
	}
}

// CheckConflict reports whether ip/protocol/port clashes with a used port:
// the same port and protocol on the same IP, or on any IP when either side
// binds 0.0.0.0.
func (h HostPortInfo) CheckConflict(ip, protocol string, port int32) bool {
	if port <= 0 || len(h) == 0 {
		return false
	}
	ip, protocol = sanitize(ip, protocol)
	pp := ProtocolPort{Protocol: protocol, Port: port}
	if ip == DefaultBindAllHostIP {
		for _, m := range h {
			if _, ok := m[pp]; ok {
				return true
			}
		}
		return false
	}
	for _, key := range []string{ip, DefaultBindAllHostIP} {
		if m := h[key]; m != nil {
			if _, ok := m[pp]; ok {
				return true
			}
		}
	}
	return false
}

// Len is the number of ports in use.
func (h HostPortInfo) Len() int {
	n := 0
	for _, m := range h {
		n += len(m)
	}
	return n
}

func (h *HostPortInfo) addPod(pod *v1.Pod) {
	forEachHostPort(pod, func(p *v1.ContainerPort) { h.Add(p.HostIP, string(p.Protocol), p.HostPort) })
}

func (h HostPortInfo) removePod(pod *v1.Pod) {
	forEachHostPort(pod, func(p *v1.ContainerPort) { h.Remove(p.HostIP, string(p.Protocol), p.HostPort) })
}

func (h HostPortInfo) clone() HostPortInfo {
	if len(h) == 0 {
		return nil
	}
	out := make(HostPortInfo, len(h))
	for ip, m := range h {
		c := make(map[ProtocolPort]struct{}, len(m))
		for k := range m {
			c[k] = struct{}{}
		}
		out[ip] = c
	}
	return out
}

// forEachHostPort calls f for every container port with a host port,
// init containers included (a sidecar can hold one).
func forEachHostPort(pod *v1.Pod, f func(*v1.ContainerPort)) {
	for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			for j := range cs[i].Ports {
				if cs[i].Ports[j].HostPort > 0 {
					f(&cs[i].Ports[j])
				}
			}
		}
	}
}

// PodHostPorts lists the pod's container ports that take a host port.
func PodHostPorts(pod *v1.Pod) []v1.ContainerPort {
	var out []v1.ContainerPort
	forEachHostPort(pod, func(p *v1.ContainerPort) { out = append(out, *p) })
	return out
}

func sanitize(ip, protocol string) (string, string) {
	if ip == "" {
		ip = DefaultBindAllHostIP
	}
	if protocol == "" {
		protocol = string(v1.ProtocolTCP)
	}
	return ip, protocol
}
