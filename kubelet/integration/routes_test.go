package integration

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"coracle.dev/kubelet/internal/network/routes"
	"coracle.dev/shared/testserver"
)

// TestNodeRoutes runs node a's route controller, as the kubelet runs it
// with --node-routes=host-gw, against a real apiserver and in a network
// namespace the test made, whose interface seg0 is the nodes' L2 segment
// (172.31.0.0/24). Nodes join, get their pod CIDRs, move, become
// reachable and leave; the routes, read back with netlink, follow.
func TestNodeRoutes(t *testing.T) {
	n := newNetns(t)
	seg := n.addLink(t, "seg0", "172.31.0.1/24")
	ts := testserver.Start(t)
	client := clientFor(t, ts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	createNode := func(name, cidr, ip string) {
		t.Helper()
		node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if cidr != "" {
			node.Spec.PodCIDR, node.Spec.PodCIDRs = cidr, []string{cidr}
		}
		node.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: ip}, {Type: v1.NodeHostName, Address: name}}
		created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Whether create keeps the status or not, the kubelet's way of
		// writing it is the status subresource.
		created.Status.Addresses = node.Status.Addresses
		if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	updateNode := func(name string, change func(*v1.Node), status bool) {
		t.Helper()
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		change(node)
		if status {
			_, err = client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		} else {
			_, err = client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ours := func() map[string]string {
		out := map[string]string{}
		for dst, r := range n.routes(t) {
			if r.proto == routes.Protocol {
				out[dst] = r.gw
			}
		}
		return out
	}
	waitRoutes := func(what string, want map[string]string) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() (bool, error) {
			got := ours()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return false, fmt.Errorf("routes of protocol %d: %v, want %v", routes.Protocol, got, want)
			}
			return true, nil
		})
	}

	createNode("a", "10.244.0.0/24", "172.31.0.1")
	createNode("b", "10.244.1.0/24", "172.31.0.2")

	var mu sync.Mutex
	var cidrs []netip.Prefix
	nf := informers.NewSharedInformerFactory(client, 0)
	c, err := routes.NewController(routes.Options{
		Self: "a", Nodes: nf.Core().V1().Nodes(),
		Applier: routes.NewApplier(n.h, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))),
		PodCIDRs: func(p []netip.Prefix) error {
			mu.Lock()
			defer mu.Unlock()
			cidrs = p
			return nil
		},
		Resync: 500 * time.Millisecond,
		Log:    zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	})
	if err != nil {
		t.Fatal(err)
	}
	nf.Start(ctx.Done())
	defer nf.Shutdown()
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitRoutes("a route to b's pods via b", map[string]string{"10.244.1.0/24": "172.31.0.2"})

	createNode("c", "", "172.31.0.3")
	createNode("z", "10.244.9.0/24", "172.30.9.9") // not on seg0
	updateNode("c", func(n *v1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"} }, false)
	waitRoutes("c's pod CIDR routed once allocated; z, unreachable, not", map[string]string{
		"10.244.1.0/24": "172.31.0.2", "10.244.2.0/24": "172.31.0.3",
	})

	updateNode("b", func(n *v1.Node) { n.Status.Addresses[0].Address = "172.31.0.22" }, true)
	waitRoutes("b re-addressed", map[string]string{"10.244.1.0/24": "172.31.0.22", "10.244.2.0/24": "172.31.0.3"})

	// z's gateway becomes reachable: the resync retries it.
	n.addAddr(t, seg, "172.30.9.1/24")
	waitRoutes("z routed once reachable", map[string]string{
		"10.244.1.0/24": "172.31.0.22", "10.244.2.0/24": "172.31.0.3", "10.244.9.0/24": "172.30.9.9",
	})

	// A route deleted by hand comes back at the next resync.
	if err := n.h.RouteDel(&netlink.Route{Dst: mustCIDR("10.244.2.0/24"), Protocol: routes.Protocol, Table: 254}); err != nil {
		t.Fatal(err)
	}
	waitRoutes("a route deleted by hand restored", map[string]string{
		"10.244.1.0/24": "172.31.0.22", "10.244.2.0/24": "172.31.0.3", "10.244.9.0/24": "172.30.9.9",
	})

	// A route someone else owns is left alone, even to a pod CIDR.
	foreign := &netlink.Route{Dst: mustCIDR("10.244.7.0/24"), Gw: parseIP("172.31.0.99"), Protocol: netlink.RouteProtocol(4), Table: 254}
	if err := n.h.RouteAdd(foreign); err != nil {
		t.Fatal(err)
	}
	createNode("e", "10.244.7.0/24", "172.31.0.5")

	if err := client.CoreV1().Nodes().Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoutes("b's route removed with b", map[string]string{"10.244.2.0/24": "172.31.0.3", "10.244.9.0/24": "172.30.9.9"})
	if r := n.routes(t)["10.244.7.0/24"]; r.gw != "172.31.0.99" || r.proto != 4 {
		t.Errorf("the static route to 10.244.7.0/24 was changed: %+v", r)
	}

	eventually(t, 10*time.Second, "every node's pod CIDR listed for the masquerade", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		var got []string
		for _, p := range cidrs {
			got = append(got, p.String())
		}
		want := []string{"10.244.0.0/24", "10.244.2.0/24", "10.244.7.0/24", "10.244.9.0/24"}
		if !slices.Equal(got, want) {
			return false, fmt.Errorf("pod CIDRs %v, want %v", got, want)
		}
		return true, nil
	})

	// Teardown removes ours, and only ours.
	cancel()
	<-done
	if err := routes.NewApplier(n.h, nil).RemoveAll(); err != nil {
		t.Fatal(err)
	}
	if got := ours(); len(got) != 0 {
		t.Errorf("after teardown: %v", got)
	}
	if r := n.routes(t)["10.244.7.0/24"]; r.proto != 4 {
		t.Errorf("teardown removed a route not ours: %+v", n.routes(t))
	}
	if r := n.routes(t)["172.31.0.0/24"]; r.proto != 2 {
		t.Errorf("the segment's own route (proto kernel) is gone: %+v", n.routes(t))
	}
}
