package servicelb

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, ip string, ready bool) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if ip != "" {
		n.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeExternalIP, Address: "203.0.113.1"}, {Type: v1.NodeInternalIP, Address: ip}}
	}
	status := v1.ConditionFalse
	if ready {
		status = v1.ConditionTrue
	}
	n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: status}}
	return n
}

func TestPlan(t *testing.T) {
	nodes := []*v1.Node{node("c", "172.31.0.12", true), node("b", "172.31.0.9", true), node("a", "172.31.0.5", false)}
	cases := []struct {
		name       string
		nodes      []*v1.Node
		self       string
		selfIP     string
		wantLeader bool
		wantIPs    []string
	}{
		{name: "first Ready node writes every Ready node's InternalIP", nodes: nodes, self: "b", wantLeader: true, wantIPs: []string{"172.31.0.9", "172.31.0.12"}},
		{name: "a NotReady node does not write", nodes: nodes, self: "a"},
		{name: "a later node does not write", nodes: nodes, self: "c"},
		{name: "no Ready node: the first node writes", nodes: []*v1.Node{node("b", "172.31.0.9", false), node("a", "172.31.0.5", false)}, self: "a", wantLeader: true, wantIPs: []string{"172.31.0.5", "172.31.0.9"}},
		{name: "own address from --bind-address when the Node has none", nodes: []*v1.Node{node("a", "", true)}, self: "a", selfIP: "172.31.0.7", wantLeader: true, wantIPs: []string{"172.31.0.7"}},
		{name: "no nodes", self: "a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leader, ing := Plan(tc.nodes, tc.self, tc.selfIP)
			if leader != tc.wantLeader {
				t.Fatalf("leader = %v, want %v", leader, tc.wantLeader)
			}
			var ips []string
			for _, i := range ing {
				if i.IPMode == nil || *i.IPMode != v1.LoadBalancerIPModeVIP {
					t.Errorf("ingress %s without ipMode VIP", i.IP)
				}
				ips = append(ips, i.IP)
			}
			if len(ips) != len(tc.wantIPs) {
				t.Fatalf("ingress %v, want %v", ips, tc.wantIPs)
			}
			for i := range ips {
				if ips[i] != tc.wantIPs[i] {
					t.Fatalf("ingress %v, want %v", ips, tc.wantIPs)
				}
			}
		})
	}
}
