package routes

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

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

func TestWanted(t *testing.T) {
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
			for _, r := range Wanted("a", tt.nodes) {
				got = append(got, r.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Wanted:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestWantedFollowsTheNodeList walks a cluster through nodes joining,
// being re-addressed and leaving: each state's routes are a function of
// that state alone.
func TestWantedFollowsTheNodeList(t *testing.T) {
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
		for _, r := range Wanted("a", s.nodes) {
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
	for _, tt := range []struct {
		name string
		cur  *corev1.Node
		want bool
	}{
		{"a status heartbeat", heartbeat, false},
		{"a new InternalIP", moved, true},
		{"a new pod CIDR", recidr, true},
	} {
		if got := routingChanged(b, tt.cur); got != tt.want {
			t.Errorf("%s: routingChanged = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNetlinkConversionRoundTrips(t *testing.T) {
	for _, r := range []Route{
		{Dst: netip.MustParsePrefix("10.244.1.0/24"), Gateway: netip.MustParseAddr("172.31.250.12")},
		{Dst: netip.MustParsePrefix("fd10:0:0:1::/64"), Gateway: netip.MustParseAddr("fd00::12")},
	} {
		nr := toNetlink(r)
		dst, ok := fromIPNet(nr.Dst)
		if !ok || dst != r.Dst {
			t.Errorf("%s: destination came back as %v", r, dst)
		}
		if nr.Protocol != Protocol {
			t.Errorf("%s: protocol %d, want %d", r, nr.Protocol, Protocol)
		}
	}
}
