package routes

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// node builds a Node with spec.podCIDRs (and spec.podCIDR, the first,
// as the API keeps them) and addresses given as "TYPE=ADDRESS", or as a
// bare address meaning an InternalIP.
func node(name string, cidrs []string, addrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidrs[0], cidrs
	}
	for _, a := range addrs {
		typ, addr, ok := strings.Cut(a, "=")
		if !ok {
			typ, addr = string(corev1.NodeInternalIP), a
		}
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(typ), Address: addr})
	}
	return n
}

func cidrs(s ...string) []string { return s }

// TestDecideHostGW is the host-gw plan: routes only, via InternalIPs.
func TestDecideHostGW(t *testing.T) {
	self := node("a", cidrs("10.244.0.0/24"), "172.31.250.11", "Hostname=a")
	tests := []struct {
		name  string
		nodes []*corev1.Node
		want  []string
	}{
		{
			name:  "a lone node wants no routes",
			nodes: []*corev1.Node{self},
		},
		{
			name:  "another node's pod CIDR via its InternalIP",
			nodes: []*corev1.Node{self, node("b", cidrs("10.244.1.0/24"), "172.31.250.12")},
			want:  []string{"10.244.1.0/24 via 172.31.250.12 (node b)"},
		},
		{
			name:  "own node is skipped wherever it is listed",
			nodes: []*corev1.Node{node("b", cidrs("10.244.1.0/24"), "172.31.250.12"), node("a", cidrs("10.244.0.0/24"), "172.31.250.11")},
			want:  []string{"10.244.1.0/24 via 172.31.250.12 (node b)"},
		},
		{
			name: "every other node, ordered by name whatever the input order",
			nodes: []*corev1.Node{
				node("d", cidrs("10.244.3.0/24"), "172.31.250.14"),
				self,
				node("b", cidrs("10.244.1.0/24"), "172.31.250.12"),
				node("c", cidrs("10.244.2.0/24"), "172.31.250.13"),
			},
			want: []string{
				"10.244.1.0/24 via 172.31.250.12 (node b)",
				"10.244.2.0/24 via 172.31.250.13 (node c)",
				"10.244.3.0/24 via 172.31.250.14 (node d)",
			},
		},
		{
			name:  "a re-addressed node is routed via its new InternalIP",
			nodes: []*corev1.Node{self, node("b", cidrs("10.244.1.0/24"), "172.31.250.99")},
			want:  []string{"10.244.1.0/24 via 172.31.250.99 (node b)"},
		},
		{
			name:  "a node with no pod CIDR yet gets no route",
			nodes: []*corev1.Node{self, node("b", nil, "172.31.250.12")},
		},
		{
			name:  "a node with no InternalIP gets no route",
			nodes: []*corev1.Node{self, node("b", cidrs("10.244.1.0/24"), "Hostname=b", "ExternalIP=203.0.113.7")},
		},
		{
			name:  "the first InternalIP of the CIDR's family is the gateway",
			nodes: []*corev1.Node{self, node("b", cidrs("10.244.1.0/24"), "fd00::12", "Hostname=b", "172.31.250.12", "172.31.250.13")},
			want:  []string{"10.244.1.0/24 via 172.31.250.12 (node b)"},
		},
		{
			name: "dual stack: each CIDR via the InternalIP of its family",
			nodes: []*corev1.Node{
				node("a", cidrs("10.244.0.0/24", "fd10::/64"), "172.31.250.11", "fd00::11"),
				node("b", cidrs("10.244.1.0/24", "fd10:0:0:1::/64"), "172.31.250.12", "fd00::12"),
			},
			want: []string{"10.244.1.0/24 via 172.31.250.12 (node b)", "fd10:0:0:1::/64 via fd00::12 (node b)"},
		},
		{
			name:  "an IPv6 CIDR on a node with only an IPv4 InternalIP gets no route",
			nodes: []*corev1.Node{self, node("b", cidrs("10.244.1.0/24", "fd10:0:0:1::/64"), "172.31.250.12")},
			want:  []string{"10.244.1.0/24 via 172.31.250.12 (node b)"},
		},
		{
			name: "spec.podCIDR alone is enough",
			nodes: []*corev1.Node{self, func() *corev1.Node {
				n := node("b", nil, "172.31.250.12")
				n.Spec.PodCIDR = "10.244.1.0/24"
				return n
			}()},
			want: []string{"10.244.1.0/24 via 172.31.250.12 (node b)"},
		},
		{
			name:  "an unmasked CIDR is masked, an invalid one ignored",
			nodes: []*corev1.Node{self, node("b", cidrs("10.244.1.7/24", "not-a-cidr"), "172.31.250.12")},
			want:  []string{"10.244.1.0/24 via 172.31.250.12 (node b)"},
		},
		{
			name:  "a CIDR overlapping the node's own is never routed away",
			nodes: []*corev1.Node{self, node("b", cidrs("10.244.0.0/16"), "172.31.250.12")},
		},
		{
			name:  "a route via one of the node's own addresses would loop",
			nodes: []*corev1.Node{self, node("b", cidrs("10.244.1.0/24"), "172.31.250.11")},
		},
		{
			name: "a CIDR two nodes claim goes to the first by name",
			nodes: []*corev1.Node{
				self,
				node("c", cidrs("10.244.1.0/24"), "172.31.250.13"),
				node("b", cidrs("10.244.1.0/24"), "172.31.250.12"),
			},
			want: []string{"10.244.1.0/24 via 172.31.250.12 (node b)"},
		},
		{
			name:  "nil nodes are ignored",
			nodes: []*corev1.Node{nil, self, node("b", cidrs("10.244.1.0/24"), "172.31.250.12")},
			want:  []string{"10.244.1.0/24 via 172.31.250.12 (node b)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			p := Decide("a", tt.nodes, HostGW)
			for _, r := range p.Routes {
				got = append(got, r.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Decide routes:\n got %q\nwant %q", got, tt.want)
			}
			if len(p.Neighbors) > 0 || len(p.FDB) > 0 {
				t.Errorf("host-gw wants neighbours %v, fdb %v", p.Neighbors, p.FDB)
			}
		})
	}
}

// TestDecideFollowsTheNodeList walks a cluster through nodes joining,
// being re-addressed and leaving: each state's routes are a function of
// that state alone.
func TestDecideFollowsTheNodeList(t *testing.T) {
	a := node("a", cidrs("10.244.0.0/24"), "172.31.250.11")
	steps := []struct {
		name  string
		nodes []*corev1.Node
		want  []string
	}{
		{"b joins without a pod CIDR", []*corev1.Node{a, node("b", nil, "172.31.250.12")}, nil},
		{"b gets its pod CIDR", []*corev1.Node{a, node("b", cidrs("10.244.1.0/24"), "172.31.250.12")},
			[]string{"10.244.1.0/24 via 172.31.250.12 (node b)"}},
		{"c joins", []*corev1.Node{a, node("b", cidrs("10.244.1.0/24"), "172.31.250.12"), node("c", cidrs("10.244.2.0/24"), "172.31.250.13")},
			[]string{"10.244.1.0/24 via 172.31.250.12 (node b)", "10.244.2.0/24 via 172.31.250.13 (node c)"}},
		{"b moves", []*corev1.Node{a, node("b", cidrs("10.244.1.0/24"), "172.31.250.22"), node("c", cidrs("10.244.2.0/24"), "172.31.250.13")},
			[]string{"10.244.1.0/24 via 172.31.250.22 (node b)", "10.244.2.0/24 via 172.31.250.13 (node c)"}},
		{"b is deleted", []*corev1.Node{a, node("c", cidrs("10.244.2.0/24"), "172.31.250.13")},
			[]string{"10.244.2.0/24 via 172.31.250.13 (node c)"}},
	}
	for _, s := range steps {
		var got []string
		for _, r := range Decide("a", s.nodes, HostGW).Routes {
			got = append(got, r.String())
		}
		if !slices.Equal(got, s.want) {
			t.Errorf("%s:\n got %q\nwant %q", s.name, got, s.want)
		}
	}
}

func TestPodCIDRs(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*corev1.Node
		want  []string
	}{
		{"no nodes", nil, nil},
		{"every node's, own included, sorted", []*corev1.Node{
			node("c", cidrs("10.244.2.0/24")), node("a", cidrs("10.244.0.0/24")), node("b", cidrs("10.244.10.0/24")),
		}, []string{"10.244.0.0/24", "10.244.2.0/24", "10.244.10.0/24"}},
		{"nodes without a CIDR add none, repeats appear once", []*corev1.Node{
			node("a", cidrs("10.244.0.0/24")), node("b", nil), node("c", cidrs("10.244.0.0/24")),
		}, []string{"10.244.0.0/24"}},
		{"both families", []*corev1.Node{node("a", cidrs("10.244.0.0/24", "fd10::/64"))}, []string{"10.244.0.0/24", "fd10::/64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range PodCIDRs(tt.nodes) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("PodCIDRs: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRouteChangedOnlyOnRoutingFields(t *testing.T) {
	b := node("b", cidrs("10.244.1.0/24"), "172.31.250.12")
	heartbeat := b.DeepCopy()
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	moved := b.DeepCopy()
	moved.Status.Addresses[0].Address = "172.31.250.22"
	recidr := b.DeepCopy()
	recidr.Spec.PodCIDRs = []string{"10.244.1.0/24", "fd10::/64"}
	vtep := withMAC(b.DeepCopy(), "0a:58:0a:f4:01:00")
	othermac := withMAC(vtep.DeepCopy(), "0a:58:0a:f4:01:01")
	labelled := b.DeepCopy()
	labelled.Annotations = map[string]string{"example.com/other": "x"}
	for _, tt := range []struct {
		name string
		cur  *corev1.Node
		want bool
	}{
		{"a status heartbeat", heartbeat, false},
		{"a new InternalIP", moved, true},
		{"a new pod CIDR", recidr, true},
		{"a VTEP MAC published", vtep, true},
		{"another annotation", labelled, false},
	} {
		if got := routingChanged(b, tt.cur); got != tt.want {
			t.Errorf("%s: routingChanged = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !routingChanged(vtep, othermac) {
		t.Error("a VTEP MAC changed: routingChanged = false, want true")
	}
}

func TestNetlinkConversionRoundTrips(t *testing.T) {
	for _, r := range []Route{
		{Dst: netip.MustParsePrefix("10.244.1.0/24"), Gateway: netip.MustParseAddr("172.31.250.12")},
		{Dst: netip.MustParsePrefix("fd10:0:0:1::/64"), Gateway: netip.MustParseAddr("fd00::12")},
	} {
		nr := toNetlink(r, 0)
		dst, ok := fromIPNet(nr.Dst)
		if !ok || dst != r.Dst {
			t.Errorf("%s: destination came back as %v", r, dst)
		}
		if nr.Protocol != Protocol {
			t.Errorf("%s: protocol %d, want %d", r, nr.Protocol, Protocol)
		}
		if nr.LinkIndex != 0 || nr.Flags != 0 {
			t.Errorf("%s: a host-gw route has link %d, flags %#x; the kernel chooses the link", r, nr.LinkIndex, nr.Flags)
		}
		if !matches(nr, r, 0) {
			t.Errorf("%s: does not match itself", r)
		}
	}
	vx := Route{Node: "b", Dst: netip.MustParsePrefix("10.244.1.0/24"), Gateway: netip.MustParseAddr("10.244.1.0"), Dev: DeviceName, OnLink: true}
	nr := toNetlink(vx, 7)
	if nr.LinkIndex != 7 || nr.Flags&int(netlink.FLAG_ONLINK) == 0 || !nr.Gw.Equal(net.ParseIP("10.244.1.0")) {
		t.Errorf("%s: got link %d, flags %#x, gw %v; want link 7, onlink, via 10.244.1.0", vx, nr.LinkIndex, nr.Flags, nr.Gw)
	}
	if !matches(nr, vx, 7) {
		t.Errorf("%s: does not match itself", vx)
	}
	if matches(nr, vx, 8) {
		t.Errorf("%s: matches a route on another link", vx)
	}
	hostgw := Route{Node: "b", Dst: vx.Dst, Gateway: vx.Gateway}
	if matches(nr, hostgw, 0) {
		t.Error("an onlink route through the vxlan device matches a host-gw route with the same gateway")
	}
	if matches(toNetlink(hostgw, 0), vx, 7) {
		t.Error("a host-gw route matches an onlink route through the vxlan device")
	}
}

// withMAC sets the node's VTEP MAC annotation.
func withMAC(n *corev1.Node, mac string) *corev1.Node {
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	n.Annotations[VTEPMACAnnotation] = mac
	return n
}

// plan renders a Plan as "route …", "neigh …" and "fdb …" lines.
func plan(p Plan) []string {
	var out []string
	for _, r := range p.Routes {
		out = append(out, "route "+r.String())
	}
	for _, n := range p.Neighbors {
		out = append(out, "neigh "+n.String())
	}
	for _, f := range p.FDB {
		out = append(out, "fdb "+f.String())
	}
	return out
}

// vx is the vxlan plan's three lines for a node: its pod CIDR via the
// CIDR's network address on the device, that address's MAC, and the
// MAC's tunnel endpoint.
func vx(node, cidr, mac, ip string) []string {
	p := netip.MustParsePrefix(cidr)
	gw := p.Addr().String()
	return []string{
		"route " + cidr + " via " + gw + " dev coracle.1 onlink (node " + node + ")",
		"neigh " + gw + " lladdr " + mac + " (node " + node + ")",
		"fdb " + mac + " dst " + ip + " (node " + node + ")",
	}
}

// sortedPlan orders expected lines as plan does: routes, then
// neighbours, then fdb entries, each group in node order.
func sortedPlan(nodes ...[]string) []string {
	var out []string
	for kind := range 3 {
		for _, n := range nodes {
			out = append(out, n[kind])
		}
	}
	return out
}

func TestDecideVXLAN(t *testing.T) {
	const macA, macB, macC = "0a:58:0a:f4:00:00", "0a:58:0a:f4:01:00", "0a:58:0a:f4:02:00"
	self := withMAC(node("a", cidrs("10.244.0.0/24"), "172.30.1.2", "Hostname=a"), macA)
	b := func() *corev1.Node { return withMAC(node("b", cidrs("10.244.1.0/24"), "172.30.2.2"), macB) }
	tests := []struct {
		name  string
		nodes []*corev1.Node
		want  []string
	}{
		{
			name:  "a lone node wants nothing",
			nodes: []*corev1.Node{self},
		},
		{
			name:  "another node: route via its VTEP, the VTEP's MAC, the MAC's tunnel to its InternalIP",
			nodes: []*corev1.Node{self, b()},
			want:  vx("b", "10.244.1.0/24", macB, "172.30.2.2"),
		},
		{
			name:  "own node is skipped wherever it is listed, with or without its own annotation",
			nodes: []*corev1.Node{b(), node("a", cidrs("10.244.0.0/24"), "172.30.1.2")},
			want:  vx("b", "10.244.1.0/24", macB, "172.30.2.2"),
		},
		{
			name: "every other node, ordered by name",
			nodes: []*corev1.Node{
				withMAC(node("c", cidrs("10.244.2.0/24"), "172.30.3.2"), macC), self, b(),
			},
			want: sortedPlan(vx("b", "10.244.1.0/24", macB, "172.30.2.2"), vx("c", "10.244.2.0/24", macC, "172.30.3.2")),
		},
		{
			name:  "a node that has not published its VTEP yet is not reached",
			nodes: []*corev1.Node{self, node("b", cidrs("10.244.1.0/24"), "172.30.2.2")},
		},
		{
			name:  "a VTEP MAC that is not a unicast Ethernet address is not used",
			nodes: []*corev1.Node{self, withMAC(node("b", cidrs("10.244.1.0/24"), "172.30.2.2"), "01:00:5e:00:00:01"), withMAC(node("c", cidrs("10.244.2.0/24"), "172.30.3.2"), "nonsense"), withMAC(node("d", cidrs("10.244.3.0/24"), "172.30.4.2"), "00:00:00:00:00:00")},
		},
		{
			name:  "the MAC is written canonically",
			nodes: []*corev1.Node{self, withMAC(node("b", cidrs("10.244.1.0/24"), "172.30.2.2"), "0A-58-0A-F4-01-00")},
			want:  vx("b", "10.244.1.0/24", macB, "172.30.2.2"),
		},
		{
			name:  "a node with no pod CIDR yet is not reached",
			nodes: []*corev1.Node{self, withMAC(node("b", nil, "172.30.2.2"), macB)},
		},
		{
			name:  "a node with no InternalIP is not reached",
			nodes: []*corev1.Node{self, withMAC(node("b", cidrs("10.244.1.0/24"), "Hostname=b", "ExternalIP=203.0.113.7"), macB)},
		},
		{
			name:  "dual stack: the IPv4 CIDR only (the device is IPv4's)",
			nodes: []*corev1.Node{self, withMAC(node("b", cidrs("10.244.1.0/24", "fd10:0:0:1::/64"), "172.30.2.2", "fd00::12"), macB)},
			want:  vx("b", "10.244.1.0/24", macB, "172.30.2.2"),
		},
		{
			name:  "an IPv6-only node is not reached",
			nodes: []*corev1.Node{self, withMAC(node("b", cidrs("fd10:0:0:1::/64"), "fd00::12"), macB)},
		},
		{
			name:  "a CIDR overlapping the node's own is never routed away",
			nodes: []*corev1.Node{self, withMAC(node("b", cidrs("10.244.0.0/16"), "172.30.2.2"), macB)},
		},
		{
			name:  "a tunnel to one of the node's own addresses would loop",
			nodes: []*corev1.Node{self, withMAC(node("b", cidrs("10.244.1.0/24"), "172.30.1.2"), macB)},
		},
		{
			name:  "a node claiming the node's own VTEP MAC is not reached",
			nodes: []*corev1.Node{self, withMAC(node("b", cidrs("10.244.1.0/24"), "172.30.2.2"), macA)},
		},
		{
			name: "a MAC two nodes claim goes to the first by name",
			nodes: []*corev1.Node{
				self, withMAC(node("c", cidrs("10.244.2.0/24"), "172.30.3.2"), macB), b(),
			},
			want: vx("b", "10.244.1.0/24", macB, "172.30.2.2"),
		},
		{
			name: "a CIDR two nodes claim goes to the first by name",
			nodes: []*corev1.Node{
				self, withMAC(node("c", cidrs("10.244.1.0/24"), "172.30.3.2"), macC), b(),
			},
			want: vx("b", "10.244.1.0/24", macB, "172.30.2.2"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plan(Decide("a", tt.nodes, VXLAN))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Decide:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestDecideVXLANFollowsTheNodeList walks a cluster through nodes
// joining, publishing their VTEPs, being re-addressed, getting a new
// VTEP (a device made again) and leaving: each state's plan is a
// function of that state alone, so what a step no longer wants is what
// the applier removes.
func TestDecideVXLANFollowsTheNodeList(t *testing.T) {
	const macB, macB2, macC = "0a:58:0a:f4:01:00", "0a:58:0a:f4:01:99", "0a:58:0a:f4:02:00"
	a := withMAC(node("a", cidrs("10.244.0.0/24"), "172.30.1.2"), "0a:58:0a:f4:00:00")
	bNoMAC := node("b", cidrs("10.244.1.0/24"), "172.30.2.2")
	b := withMAC(bNoMAC.DeepCopy(), macB)
	c := withMAC(node("c", cidrs("10.244.2.0/24"), "172.30.3.2"), macC)
	bMoved := withMAC(node("b", cidrs("10.244.1.0/24"), "172.30.9.2"), macB)
	bNewMAC := withMAC(node("b", cidrs("10.244.1.0/24"), "172.30.9.2"), macB2)
	steps := []struct {
		name  string
		nodes []*corev1.Node
		want  []string
	}{
		{"b joins and has no VTEP yet", []*corev1.Node{a, bNoMAC}, nil},
		{"b publishes its VTEP", []*corev1.Node{a, b}, vx("b", "10.244.1.0/24", macB, "172.30.2.2")},
		{"c joins", []*corev1.Node{a, b, c},
			sortedPlan(vx("b", "10.244.1.0/24", macB, "172.30.2.2"), vx("c", "10.244.2.0/24", macC, "172.30.3.2"))},
		{"b is re-addressed: its tunnel goes to the new InternalIP", []*corev1.Node{a, bMoved, c},
			sortedPlan(vx("b", "10.244.1.0/24", macB, "172.30.9.2"), vx("c", "10.244.2.0/24", macC, "172.30.3.2"))},
		{"b's device is made again: its new MAC", []*corev1.Node{a, bNewMAC, c},
			sortedPlan(vx("b", "10.244.1.0/24", macB2, "172.30.9.2"), vx("c", "10.244.2.0/24", macC, "172.30.3.2"))},
		{"b is deleted", []*corev1.Node{a, c}, vx("c", "10.244.2.0/24", macC, "172.30.3.2")},
	}
	for _, s := range steps {
		if got := plan(Decide("a", s.nodes, VXLAN)); !slices.Equal(got, s.want) {
			t.Errorf("%s:\n got %q\nwant %q", s.name, got, s.want)
		}
	}
}
