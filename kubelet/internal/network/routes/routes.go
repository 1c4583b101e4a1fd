// Package routes connects the pod networks of the cluster's nodes the
// host-gw way: every other node's pod CIDRs are routed via that node's
// InternalIP, in this host's main routing table. Wanted is the decision
// (Nodes in, routes out), Applier makes the routing table match it with
// netlink, and Controller runs the two from a Node informer and on a
// timer.
//
// host-gw needs the nodes to share an L2 segment: a gateway must be
// directly reachable. A node that is not is logged and left without a
// route (retried at every sync); it needs an overlay instead.
package routes

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Route is one route the node wants: Dst (another node's pod CIDR) via
// Gateway (that node's InternalIP).
type Route struct {
	// Node is the node whose pod CIDR Dst is, for logs.
	Node    string
	Dst     netip.Prefix
	Gateway netip.Addr
}

func (r Route) String() string {
	return r.Dst.String() + " via " + r.Gateway.String() + " (node " + r.Node + ")"
}

// Wanted returns the routes node self wants to the pod CIDRs of the other
// nodes: for every node but self with a pod CIDR (spec.podCIDRs, else
// spec.podCIDR) and an InternalIP of the CIDR's family, a route to the
// CIDR via that address. The result is ordered by node name, then by the
// node's order of CIDRs.
//
// Routes that would hurt are left out: to a CIDR overlapping one of
// self's own (self's pods are on its bridge, not behind another node),
// via one of self's own addresses (a loop), or to a CIDR an
// earlier-named node already claims (a table holds one route per
// destination; the allocator never hands a CIDR out twice, but a
// deleted-and-recreated node can briefly look so).
func Wanted(self string, nodes []*corev1.Node) []Route {
	var own []netip.Prefix
	ownIPs := map[netip.Addr]bool{}
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
			continue
		}
		sorted = append(sorted, n)
	}
	slices.SortFunc(sorted, func(a, b *corev1.Node) int { return cmp.Compare(a.Name, b.Name) })

	var out []Route
	taken := map[netip.Prefix]bool{}
	for _, n := range sorted {
		for _, dst := range podCIDRs(n) {
			gw, ok := internalIP(n, dst.Addr().Is4())
			if !ok || ownIPs[gw] || taken[dst] || overlapsAny(dst, own) {
				continue
			}
			taken[dst] = true
			out = append(out, Route{Node: n.Name, Dst: dst, Gateway: gw})
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
