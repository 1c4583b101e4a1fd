package integration

import (
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// requireRoot fails (never skips) a test that changes the network.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test makes network namespaces, routes and iptables rules and needs root (run make test as root)")
	}
}

// testNetns is a network namespace the test made, alive while the test
// runs: nothing the test does in it touches the machine's network.
type testNetns struct {
	ns netns.NsHandle
	// h speaks netlink inside the namespace.
	h *netlink.Handle
}

// newNetns makes a network namespace, held by a file descriptor only
// (no bind mount to leak): it goes away when the test ends.
func newNetns(t testing.TB) *testNetns {
	t.Helper()
	requireRoot(t)
	type made struct {
		ns  netns.NsHandle
		err error
	}
	c := make(chan made, 1)
	go func() {
		// Only this thread enters the new namespace; it goes back before
		// it is unlocked. Should going back fail, the thread stays
		// locked and Go ends it with this goroutine.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			c <- made{err: err}
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			c <- made{err: err}
			return
		}
		if err := netns.Set(orig); err != nil {
			ns.Close()
			c <- made{err: err}
			return
		}
		runtime.UnlockOSThread()
		c <- made{ns: ns}
	}()
	m := <-c
	if m.err != nil {
		t.Fatalf("make a network namespace: %v", m.err)
	}
	h, err := netlink.NewHandleAt(m.ns)
	if err != nil {
		m.ns.Close()
		t.Fatalf("netlink in the namespace: %v", err)
	}
	t.Cleanup(func() { h.Close(); m.ns.Close() })
	n := &testNetns{ns: m.ns, h: h}
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return n
}

// addLink adds an interface with the addresses (CIDR notation), up and
// with a carrier: the segment the namespace's "nodes" share. It is one
// end of a veth pair whose other end (NAME-peer) stays in the namespace
// too (this kernel may lack the dummy driver; every CNI host has veth).
func (n *testNetns) addLink(t testing.TB, name string, addrs ...string) netlink.Link {
	t.Helper()
	if err := n.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "-peer"}); err != nil {
		t.Fatalf("add link %s: %v", name, err)
	}
	link, err := n.h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := n.h.LinkByName(name + "-peer")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		n.addAddr(t, link, a)
	}
	for _, l := range []netlink.Link{peer, link} {
		if err := n.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	return link
}

func (n *testNetns) addAddr(t testing.TB, link netlink.Link, cidr string) {
	t.Helper()
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.h.AddrAdd(link, addr); err != nil {
		t.Fatalf("add address %s: %v", cidr, err)
	}
}

// do runs f on a thread inside the namespace, for what has no netlink
// handle: the programs it starts (iptables) run there too.
func (n *testNetns) do(t testing.TB, f func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.ns); err != nil {
			done <- err
			return
		}
		defer func() {
			// Back to the test's namespace, or the thread dies with the
			// goroutine (it stays locked).
			if err := netns.Set(orig); err == nil {
				runtime.UnlockOSThread()
			}
			done <- nil
		}()
		f()
	}()
	if err := <-done; err != nil {
		t.Fatalf("enter the test's network namespace: %v", err)
	}
}

// routesIn reads the namespace's main table: destination to gateway and
// protocol.
type tableRoute struct {
	gw    string
	proto netlink.RouteProtocol
}

func (n *testNetns) routes(t testing.TB) map[string]tableRoute {
	t.Helper()
	rs, err := n.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 254}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatalf("list routes: %v", err)
	}
	out := map[string]tableRoute{}
	for _, r := range rs {
		if r.Dst == nil {
			continue
		}
		gw := ""
		if r.Gw != nil {
			gw = r.Gw.String()
		}
		out[r.Dst.String()] = tableRoute{gw: gw, proto: r.Protocol}
	}
	return out
}

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}
