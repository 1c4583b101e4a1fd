// Package routes connects the pod networks of the cluster's nodes, in
// one of two ways (Mode):
//
//   - host-gw: every other node's pod CIDRs are routed via that node's
//     InternalIP, in this host's main routing table. It needs the nodes
//     to share an L2 segment: a gateway must be directly reachable. A
//     node that is not is logged and left without a route (retried at
//     every sync).
//   - vxlan: an overlay for nodes on different L2 segments, as flannel's
//     vxlan backend makes it. Each node has a VXLAN device (DeviceName,
//     VNI 1, UDP port 8472) whose address is its pod CIDR's network
//     address as a /32, and publishes the device's MAC in its Node's
//     VTEPMACAnnotation. Every other node's pod CIDR is routed via that
//     node's network address, onlink through the device; a permanent
//     neighbour entry gives that address the node's VTEP MAC, and a
//     forwarding database entry sends frames for the MAC, in UDP, to the
//     node's InternalIP. No ARP or FDB learning crosses the wire: every
//     entry comes from the Node objects.
//
// Decide is the decision (Nodes in, a Plan of routes, neighbours and FDB
// entries out), Applier makes the kernel's tables match it with netlink,
// and Controller runs the two from a Node informer and on a timer.
package routes

import (
	"cmp"
	"net"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Mode is how the pods of other nodes are reached.
type Mode string

// Modes.
const (
	// HostGW routes each other node's pod CIDR via its InternalIP.
	HostGW Mode = "host-gw"
	// VXLAN routes each other node's pod CIDR through the node's VXLAN
	// device to that node's VTEP.
	VXLAN Mode = "vxlan"
)

// VTEPMACAnnotation is the Node annotation holding the MAC address of
// the node's VXLAN device, which the node itself publishes (flannel's is
// flannel.alpha.coreos.com/backend-data). A node without it has no VTEP
// (yet): the overlay does not reach its pods.
const VTEPMACAnnotation = "vxlan.coracle.dev/vtep-mac"

// Route is one route the node wants: Dst (another node's pod CIDR) via
// Gateway. In host-gw mode the gateway is that node's InternalIP and the
// kernel finds the interface; in vxlan mode it is the pod CIDR's network
// address, Dev is the VXLAN device and OnLink tells the kernel the
// gateway is on it (no route to the gateway needed).
type Route struct {
	// Node is the node whose pod CIDR Dst is, for logs.
	Node    string
	Dst     netip.Prefix
	Gateway netip.Addr
	Dev     string
	OnLink  bool
}

func (r Route) String() string {
	s := r.Dst.String() + " via " + r.Gateway.String()
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.OnLink {
		s += " onlink"
	}
	return s + " (node " + r.Node + ")"
}

// Neighbor is a permanent neighbour (ARP) entry on the VXLAN device: the
// VTEP address of another node (its pod CIDR's network address) has the
// MAC of that node's VXLAN device.
type Neighbor struct {
	Node string
	IP   netip.Addr
	// MAC is in net.HardwareAddr's canonical form (lowercase, colons).
	MAC string
}

func (n Neighbor) String() string {
	return n.IP.String() + " lladdr " + n.MAC + " (node " + n.Node + ")"
}

// FDBEntry is a forwarding database entry of the VXLAN device: frames to
// MAC are sent, encapsulated, to Dst (that node's InternalIP).
type FDBEntry struct {
	Node string
	MAC  string
	Dst  netip.Addr
}

func (f FDBEntry) String() string {
	return f.MAC + " dst " + f.Dst.String() + " (node " + f.Node + ")"
}

// Plan is everything a node wants in its tables to reach the other
// nodes' pods. In host-gw mode it has routes only.
type Plan struct {
	Routes    []Route
	Neighbors []Neighbor
	FDB       []FDBEntry
}

// Decide returns what node self wants, in mode, to reach the pods of the
// other nodes. Every node but self with a pod CIDR (spec.podCIDRs, else
// spec.podCIDR) and an InternalIP of the CIDR's family gets, in host-gw
// mode, a route to the CIDR via that address. In vxlan mode it needs a
// valid VTEPMACAnnotation too, and only IPv4 CIDRs are reached (the
// device is IPv4's, as flannel.1 is): a route to the CIDR via its network
// address, onlink on DeviceName, a neighbour entry for that address with
// the node's MAC, and one FDB entry sending the MAC to the InternalIP.
// The result is ordered by node name, then by the node's order of CIDRs.
//
// What would hurt is left out: a CIDR overlapping one of self's own
// (self's pods are on its bridge, not behind another node), a gateway or
// tunnel endpoint that is one of self's own addresses (a loop), a CIDR
// an earlier-named node already claims (a table holds one route per
// destination; the allocator never hands a CIDR out twice, but a
// deleted-and-recreated node can briefly look so), and a VTEP MAC that
// self or an earlier-named node already has (the FDB holds one entry
// per MAC).
func Decide(self string, nodes []*corev1.Node, mode Mode) Plan {
	var own []netip.Prefix
	ownIPs := map[netip.Addr]bool{}
	macOwner := map[string]string{}
	sorted := make([]*corev1.Node, 0, len(nodes))
	for _, n := range nodes {
		if n == nil {
			continue
		}
		if n.Name == self {
			own = podCIDRs(n)
			for _, a := range n.Status.Addresses {
				if ip, err := netip.ParseAddr(a.Address); err == nil {
					ownIPs[ip.Unmap()] = true
				}
			}
			if mac, ok := vtepMAC(n); ok {
				macOwner[mac] = self
			}
			continue
		}
		sorted = append(sorted, n)
	}
	slices.SortFunc(sorted, func(a, b *corev1.Node) int { return cmp.Compare(a.Name, b.Name) })

	var out Plan
	taken := map[netip.Prefix]bool{}
	for _, n := range sorted {
		mac, hasMAC := vtepMAC(n)
		if owner, ok := macOwner[mac]; hasMAC && ok && owner != n.Name {
			hasMAC = false
		}
		for _, dst := range podCIDRs(n) {
			ip, ok := internalIP(n, dst.Addr().Is4())
			if !ok || ownIPs[ip] || taken[dst] || overlapsAny(dst, own) {
				continue
			}
			switch mode {
			case HostGW:
				out.Routes = append(out.Routes, Route{Node: n.Name, Dst: dst, Gateway: ip})
			case VXLAN:
				if !hasMAC || !dst.Addr().Is4() {
					continue
				}
				vtep := dst.Addr()
				if macOwner[mac] == "" {
					macOwner[mac] = n.Name
					out.FDB = append(out.FDB, FDBEntry{Node: n.Name, MAC: mac, Dst: ip})
				}
				out.Neighbors = append(out.Neighbors, Neighbor{Node: n.Name, IP: vtep, MAC: mac})
				out.Routes = append(out.Routes, Route{Node: n.Name, Dst: dst, Gateway: vtep, Dev: DeviceName, OnLink: true})
			default:
				continue
			}
			taken[dst] = true
		}
	}
	return out
}

// PodCIDRs lists every node's pod CIDRs, self's included, sorted and
// without repeats: the destinations a pod's traffic keeps its source
// address to (the Kubernetes network model: no NAT between pods).
func PodCIDRs(nodes []*corev1.Node) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range nodes {
		if n != nil {
			out = append(out, podCIDRs(n)...)
		}
	}
	slices.SortFunc(out, comparePrefixes)
	return slices.Compact(out)
}

// podCIDRs are the node's valid pod CIDRs, masked: spec.podCIDRs, or
// spec.podCIDR from a writer that sets only the singular field.
func podCIDRs(n *corev1.Node) []netip.Prefix {
	raw := n.Spec.PodCIDRs
	if len(raw) == 0 && n.Spec.PodCIDR != "" {
		raw = []string{n.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, s := range raw {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Is4In6() {
			continue
		}
		p = p.Masked()
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// podCIDRv4 is the node's first IPv4 pod CIDR.
func podCIDRv4(n *corev1.Node) (netip.Prefix, bool) {
	for _, p := range podCIDRs(n) {
		if p.Addr().Is4() {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// internalIP is the node's first InternalIP of the family.
func internalIP(n *corev1.Node, ipv4 bool) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		if ip = ip.Unmap(); ip.Is4() == ipv4 {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// vtepMAC is the node's VTEP MAC from its annotation, canonical, if it
// is a unicast Ethernet address (the kernel takes nothing else for a
// neighbour or FDB entry of a VXLAN device).
func vtepMAC(n *corev1.Node) (string, bool) {
	s, ok := n.Annotations[VTEPMACAnnotation]
	if !ok {
		return "", false
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 || mac[0]&1 != 0 || slices.Equal(mac, make(net.HardwareAddr, 6)) {
		return "", false
	}
	return mac.String(), true
}

func overlapsAny(p netip.Prefix, ps []netip.Prefix) bool {
	for _, q := range ps {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}
