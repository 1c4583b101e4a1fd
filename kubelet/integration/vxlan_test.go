package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/kubelet/internal/network/cni"
	"coracle.dev/kubelet/internal/network/routes"
	"coracle.dev/shared/testserver"
)

// TestNodeRoutesVXLAN builds two nodes that share no L2 segment, each in
// a network namespace of the test's, and connects their pods with the
// route controller in vxlan mode, as kubelets run it with
// --node-routes=vxlan, against a real apiserver:
//
//	pod a (10.244.1.5)          router            pod b (10.244.2.5)
//	  │ cni0 10.244.1.1     172.30.1.1  172.30.2.1     cni0 10.244.2.1 │
//	node a ── eth0 172.30.1.2 ──┘            └── 172.30.2.2 eth0 ── node b
//	  coracle.1 10.244.1.0/32                        coracle.1 10.244.2.0/32
//
// host-gw cannot work there (b's InternalIP is not on a's segment). The
// overlay carries TCP both ways with the pods' addresses kept (the pod
// network's masquerade, run in each node, exempts pod CIDRs and still
// masquerades the rest); survives a controller restart (same device,
// same MAC) and a device deleted by hand (made again, its new MAC
// republished and taken up by the other node); switching a node to
// host-gw and back leaves no stale entry on either node; a deleted Node's
// entries go; the teardown leaves no device and no route.
func TestNodeRoutesVXLAN(t *testing.T) {
	router := newNetns(t)
	if _, err := iptables.New(); err != nil {
		t.Fatalf("iptables: %v (deploy/install-deps.sh installs it)", err)
	}
	router.sysctl(t, "net/ipv4/ip_forward", "1")
	hosts := []*overlayHost{
		newOverlayHost(t, router, "a", 1),
		newOverlayHost(t, router, "b", 2),
	}
	a, b := hosts[0], hosts[1]
	ts := testserver.Start(t)
	client := clientFor(t, ts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, h := range hosts {
		createOverlayNode(ctx, t, client, h)
	}

	// host-gw has no way to b's pods from a: the route is refused
	// (ENETUNREACH: the gateway is not on a link of a's), left pending.
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var list []*v1.Node
	for i := range nodes.Items {
		list = append(list, &nodes.Items[i])
	}
	pending, err := routes.NewApplier(a.ns.h, nil).Apply(routes.Decide("a", list, routes.HostGW))
	if err != nil || len(pending) != 1 || pending[0].Dst.String() != "10.244.2.0/24" {
		t.Fatalf("host-gw across segments: pending %v, err %v; want b's route pending", pending, err)
	}
	if got := a.ours(t); len(got.routes) != 0 {
		t.Fatalf("host-gw across segments set routes: %v", got.routes)
	}

	for _, h := range hosts {
		h.start(ctx, t, client, routes.VXLAN)
	}
	defer func() {
		for _, h := range hosts {
			h.stop()
		}
	}()
	macA := waitOverlay(t, client, "both nodes reach each other through the overlay", a, b)
	waitOverlay(t, client, "b's side", b, a)
	a.checkDevice(t)

	// Pod to pod, both ways, across the tunnel: each side sees the
	// other pod's own address.
	exchange(t, a.pod, b.pod, "10.244.2.5:8080", "10.244.1.5")
	exchange(t, b.pod, a.pod, "10.244.1.5:8080", "10.244.2.5")
	// Pod to a node is masqueraded still: b sees a's InternalIP.
	exchange(t, a.pod, b.ns, "172.30.2.2:8081", "172.30.1.2")

	// A restarted controller keeps the device and its MAC: it finds
	// them as they are, and puts back a route deleted meanwhile.
	a.stop()
	if err := a.ns.h.RouteDel(&netlink.Route{Dst: mustCIDR("10.244.2.0/24"), Protocol: routes.Protocol, Table: 254}); err != nil {
		t.Fatal(err)
	}
	a.start(ctx, t, client, routes.VXLAN)
	if got := waitOverlay(t, client, "a restarted, its route put back", a, b); got != macA {
		t.Fatalf("a's VTEP MAC changed across a restart: %s, was %s", got, macA)
	}

	// A device deleted by hand is made again, with a new MAC, which b
	// takes up from a's Node.
	dev, err := a.ns.h.LinkByName(routes.DeviceName)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ns.h.LinkDel(dev); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a's device made again", func() (bool, error) {
		mac, err := a.deviceMAC()
		if err != nil {
			return false, err
		}
		return mac != macA, fmt.Errorf("MAC %s", mac)
	})
	macA2 := waitOverlay(t, client, "a's new MAC republished", a, b)
	waitOverlay(t, client, "b uses a's new MAC", b, a)
	if macA2 == macA {
		t.Fatalf("a's device made again kept MAC %s", macA)
	}
	exchange(t, b.pod, a.pod, "10.244.1.5:8082", "10.244.2.5")

	// a switches to host-gw: its device, entries and annotation go, and
	// with the annotation b's entries for a; b's route stays unset on a
	// (unreachable).
	a.stop()
	a.start(ctx, t, client, routes.HostGW)
	eventually(t, 30*time.Second, "a on host-gw keeps nothing of vxlan, nor does b for a", func() (bool, error) {
		if _, err := a.deviceMAC(); err == nil {
			return false, errors.New("a still has the vxlan device")
		}
		if mac := nodeMAC(ctx, client, "a"); mac != "" {
			return false, fmt.Errorf("a's Node still has %s=%s", routes.VTEPMACAnnotation, mac)
		}
		if got := a.ours(t); !got.empty() {
			return false, fmt.Errorf("a: %v", got)
		}
		if got := b.ours(t); !got.empty() {
			return false, fmt.Errorf("b: %v", got)
		}
		return true, nil
	})
	a.stop()
	a.start(ctx, t, client, routes.VXLAN)
	waitOverlay(t, client, "a back on vxlan", a, b)
	waitOverlay(t, client, "b reaches a again", b, a)
	exchange(t, a.pod, b.pod, "10.244.2.5:8083", "10.244.1.5")

	// Node b deleted: a's route, neighbour and FDB entry for it go.
	if err := client.CoreV1().Nodes().Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "b's entries removed from a with b", func() (bool, error) {
		if got := a.ours(t); !got.empty() {
			return false, fmt.Errorf("a: %v", got)
		}
		return true, nil
	})

	// Teardown: no device, no route of ours.
	for _, h := range hosts {
		h.stop()
		if err := routes.NewApplier(h.ns.h, nil).RemoveAll(); err != nil {
			t.Fatal(err)
		}
		if _, err := h.ns.h.LinkByName(routes.DeviceName); err == nil {
			t.Errorf("%s: %s left after teardown", h.name, routes.DeviceName)
		}
		for dst, r := range h.ns.routes(t) {
			if r.proto == routes.Protocol {
				t.Errorf("%s: route to %s left after teardown", h.name, dst)
			}
		}
	}
}

// overlayHost is one node of TestNodeRoutesVXLAN: its namespace, with a
// bridge and one pod behind it, and the route controller running in it.
type overlayHost struct {
	name    string
	i       int // 1 for a, 2 for b
	ns, pod *testNetns
	network *cni.Network
	stop    func()

	mu sync.Mutex // guards cidrs
	// cidrs are the pod CIDRs the masquerade last exempted.
	cidrs []string
}

// newOverlayHost makes node name: a namespace whose eth0 (172.30.i.2/24)
// goes to the router (172.30.i.1, its default route), a bridge cni0
// holding the pod CIDR 10.244.i.0/24's gateway, and a pod namespace on
// it (10.244.i.5, default route via the bridge, the MTU the tunnel
// allows, as the kubelet's CNI configuration gives pods with vxlan). Its
// pod network's masquerade rules are set as the kubelet sets them.
func newOverlayHost(t *testing.T, router *testNetns, name string, i int) *overlayHost {
	h := &overlayHost{name: name, i: i, ns: newNetns(t), pod: newNetns(t), stop: func() {}}
	h.ns.sysctl(t, "net/ipv4/ip_forward", "1")
	rIf, eth0 := router.veth(t, fmt.Sprintf("to-%s", name), h.ns, "eth0", 0)
	router.addAddr(t, rIf, fmt.Sprintf("172.30.%d.1/24", i))
	h.ns.addAddr(t, eth0, fmt.Sprintf("172.30.%d.2/24", i))
	h.ns.up(t, eth0)
	router.up(t, rIf)
	if err := h.ns.h.RouteAdd(&netlink.Route{Gw: parseIP(fmt.Sprintf("172.30.%d.1", i))}); err != nil {
		t.Fatalf("%s: default route: %v", name, err)
	}

	mtu, err := routes.OverlayMTU(h.ns.h, netip.MustParseAddr(fmt.Sprintf("172.30.%d.2", i)))
	if err != nil || mtu != 1500-routes.EncapOverhead {
		t.Fatalf("%s: OverlayMTU = %d, %v; want %d", name, mtu, err, 1500-routes.EncapOverhead)
	}
	if err := h.ns.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "cni0"}}); err != nil {
		t.Fatalf("%s: bridge: %v", name, err)
	}
	br, err := h.ns.h.LinkByName("cni0")
	if err != nil {
		t.Fatal(err)
	}
	h.ns.addAddr(t, br, fmt.Sprintf("10.244.%d.1/24", i))
	h.ns.up(t, br)
	port, podIf := h.ns.veth(t, "veth-pod", h.pod, "eth0", mtu)
	if err := h.ns.h.LinkSetMaster(port, br); err != nil {
		t.Fatal(err)
	}
	h.ns.up(t, port)
	h.pod.addAddr(t, podIf, fmt.Sprintf("10.244.%d.5/24", i))
	h.pod.up(t, podIf)
	if err := h.pod.h.RouteAdd(&netlink.Route{Gw: parseIP(fmt.Sprintf("10.244.%d.1", i))}); err != nil {
		t.Fatalf("%s: pod's default route: %v", name, err)
	}

	h.network = cni.New(cni.Options{BinDir: "/usr/lib/cni", StateDir: t.TempDir(), Bridge: "cni0", NetworkName: "coracle"})
	if err := h.ns.in(func() error { return h.network.SetPodCIDR(fmt.Sprintf("10.244.%d.0/24", i)) }); err != nil {
		t.Fatalf("%s: masquerade: %v", name, err)
	}
	return h
}

// start runs the node's route controller in mode until stop: its own
// informer, its applier on the node's namespace, its masquerade
// exemptions set in that namespace.
func (h *overlayHost) start(ctx context.Context, t *testing.T, client kubernetes.Interface, mode routes.Mode) {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).With(zap.String("host", h.name))
	nf := informers.NewSharedInformerFactory(client, 0)
	c, err := routes.NewController(routes.Options{
		Self: h.name, Mode: mode, Nodes: nf.Core().V1().Nodes(), Client: client,
		Applier: routes.NewApplier(h.ns.h, log),
		PodCIDRs: func(p []netip.Prefix) error {
			if err := h.ns.in(func() error { return h.network.SetClusterPodCIDRs(p) }); err != nil {
				return err
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			h.cidrs = nil
			for _, c := range p {
				h.cidrs = append(h.cidrs, c.String())
			}
			return nil
		},
		Resync: 500 * time.Millisecond,
		Log:    log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	nf.Start(ctx.Done())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	h.stop = func() {
		cancel()
		<-done
		nf.Shutdown()
		h.stop = func() {}
	}
}

// tables are the overlay's entries in a node: routes of routes.Protocol
// (destination to "via GW dev DEV onlink"), the device's permanent
// neighbours (address to MAC) and its FDB (MAC to destination).
type tables struct {
	routes, neigh, fdb map[string]string
}

func (t tables) empty() bool { return len(t.routes)+len(t.neigh)+len(t.fdb) == 0 }

func (t tables) String() string {
	return fmt.Sprintf("routes %v, neighbours %v, fdb %v", t.routes, t.neigh, t.fdb)
}

func (h *overlayHost) ours(t *testing.T) tables {
	t.Helper()
	out := tables{routes: map[string]string{}, neigh: map[string]string{}, fdb: map[string]string{}}
	rs, err := h.ns.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 254, Protocol: routes.Protocol}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatalf("%s: list routes: %v", h.name, err)
	}
	for _, r := range rs {
		via := "via " + r.Gw.String()
		if l, err := h.ns.h.LinkByIndex(r.LinkIndex); err == nil {
			via += " dev " + l.Attrs().Name
		}
		if r.Flags&int(netlink.FLAG_ONLINK) != 0 {
			via += " onlink"
		}
		out.routes[r.Dst.String()] = via
	}
	dev, err := h.ns.h.LinkByName(routes.DeviceName)
	if err != nil {
		return out
	}
	neighs, err := h.ns.h.NeighList(dev.Attrs().Index, unix.AF_INET)
	if err != nil {
		t.Fatalf("%s: list neighbours: %v", h.name, err)
	}
	for _, n := range neighs {
		if n.State&netlink.NUD_PERMANENT != 0 {
			out.neigh[n.IP.String()] = n.HardwareAddr.String()
		}
	}
	fdb, err := h.ns.h.NeighList(dev.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		t.Fatalf("%s: list fdb: %v", h.name, err)
	}
	for _, n := range fdb {
		out.fdb[n.HardwareAddr.String()] = n.IP.String()
	}
	return out
}

func (h *overlayHost) deviceMAC() (string, error) {
	dev, err := h.ns.h.LinkByName(routes.DeviceName)
	if err != nil {
		return "", err
	}
	return dev.Attrs().HardwareAddr.String(), nil
}

// checkDevice checks the device is made as flannel makes flannel.1.
func (h *overlayHost) checkDevice(t *testing.T) {
	t.Helper()
	l, err := h.ns.h.LinkByName(routes.DeviceName)
	if err != nil {
		t.Fatal(err)
	}
	vx, ok := l.(*netlink.Vxlan)
	if !ok {
		t.Fatalf("%s is a %s, want vxlan", routes.DeviceName, l.Type())
	}
	eth0, err := h.ns.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("172.30.%d.2", h.i)
	if vx.VxlanId != 1 || vx.Port != 8472 || vx.Learning || vx.SrcAddr.String() != local || vx.VtepDevIndex != eth0.Attrs().Index ||
		vx.MTU != 1450 || vx.Flags&net.FlagUp == 0 {
		t.Errorf("%s: vni %d, port %d, learning %v, local %v, link %d, mtu %d, flags %v; want vni 1, port 8472, no learning, local %s, link %d (eth0), mtu 1450, up",
			routes.DeviceName, vx.VxlanId, vx.Port, vx.Learning, vx.SrcAddr, vx.VtepDevIndex, vx.MTU, vx.Flags, local, eth0.Attrs().Index)
	}
	addrs, err := h.ns.h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range addrs {
		got = append(got, a.IPNet.String())
	}
	if want := []string{fmt.Sprintf("10.244.%d.0/32", h.i)}; !slices.Equal(got, want) {
		t.Errorf("%s: addresses %v, want %v", routes.DeviceName, got, want)
	}
}

// waitOverlay waits until from has published its device's MAC in its
// Node, has the route, neighbour and FDB entry that reach to's pods
// through to's device (and nothing else of ours), and keeps the source
// of its pods' traffic to them; it returns from's MAC.
func waitOverlay(t *testing.T, client kubernetes.Interface, what string, from, to *overlayHost) string {
	t.Helper()
	var mac string
	eventually(t, 30*time.Second, what, func() (bool, error) {
		var err error
		if mac, err = from.deviceMAC(); err != nil {
			return false, err
		}
		if got := nodeMAC(context.Background(), client, from.name); got != mac {
			return false, fmt.Errorf("%s's Node has %s=%q, its device %s", from.name, routes.VTEPMACAnnotation, got, mac)
		}
		toMAC, err := to.deviceMAC()
		if err != nil {
			return false, err
		}
		vtep := fmt.Sprintf("10.244.%d.0", to.i)
		want := tables{
			routes: map[string]string{vtep + "/24": "via " + vtep + " dev " + routes.DeviceName + " onlink"},
			neigh:  map[string]string{vtep: toMAC},
			fdb:    map[string]string{toMAC: fmt.Sprintf("172.30.%d.2", to.i)},
		}
		if got := from.ours(t); got.String() != want.String() {
			return false, fmt.Errorf("%s: %v, want %v", from.name, got, want)
		}
		from.mu.Lock()
		defer from.mu.Unlock()
		if !slices.Contains(from.cidrs, vtep+"/24") {
			return false, fmt.Errorf("%s masquerades traffic to %s/24 (exempts %v)", from.name, vtep, from.cidrs)
		}
		return true, nil
	})
	return mac
}

func nodeMAC(ctx context.Context, client kubernetes.Interface, name string) string {
	n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return n.Annotations[routes.VTEPMACAnnotation]
}

func createOverlayNode(ctx context.Context, t *testing.T, client kubernetes.Interface, h *overlayHost) {
	t.Helper()
	cidr := fmt.Sprintf("10.244.%d.0/24", h.i)
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: h.name}, Spec: v1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}}}
	created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: fmt.Sprintf("172.30.%d.2", h.i)}, {Type: v1.NodeHostName, Address: h.name}}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// exchange connects from namespace from to addr, a listener in namespace
// to, sends 64 KiB (more than one tunnel MTU's worth) and reads them
// back; the listener must see the connection come from wantSource.
func exchange(t *testing.T, from, to *testNetns, addr, wantSource string) {
	t.Helper()
	var ln net.Listener
	var err error
	to.do(t, func() { ln, err = net.Listen("tcp4", addr) })
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	defer ln.Close()
	seen := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			seen <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		seen <- host
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		_, _ = io.Copy(c, c)
	}()
	var conn net.Conn
	from.do(t, func() { conn, err = net.DialTimeout("tcp4", addr, 10*time.Second) })
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	payload := make([]byte, 64<<10)
	_, _ = rand.Read(payload)
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		if cw, ok := conn.(*net.TCPConn); ok && err == nil {
			err = cw.CloseWrite()
		}
		werr <- err
	}()
	back, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read back from %s: %v", addr, err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	if !bytes.Equal(back, payload) {
		t.Fatalf("%s echoed %d bytes, not the %d sent", addr, len(back), len(payload))
	}
	if src := <-seen; src != wantSource {
		t.Errorf("connection to %s came from %s, want %s", addr, src, wantSource)
	}
}

// veth makes a veth pair: name in n, peer in namespace to, both with mtu
// (0: the default), down.
func (n *testNetns) veth(t testing.TB, name string, to *testNetns, peer string, mtu int) (netlink.Link, netlink.Link) {
	t.Helper()
	if err := n.h.LinkAdd(&netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}, PeerName: peer, PeerNamespace: netlink.NsFd(int(to.ns)),
	}); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	l, err := n.h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := to.h.LinkByName(peer)
	if err != nil {
		t.Fatal(err)
	}
	return l, p
}

func (n *testNetns) up(t testing.TB, l netlink.Link) {
	t.Helper()
	if err := n.h.LinkSetUp(l); err != nil {
		t.Fatalf("set %s up: %v", l.Attrs().Name, err)
	}
}

// sysctl sets a sysctl of the namespace (path under /proc/sys): /proc/sys/net
// is the namespace of the thread that opens it.
func (n *testNetns) sysctl(t testing.TB, path, value string) {
	t.Helper()
	file := "/proc/sys/" + path
	if err := n.in(func() error { return os.WriteFile(file, []byte(value), 0o644) }); err != nil {
		t.Fatalf("sysctl %s: %v", path, err)
	}
	var got []byte
	if err := n.in(func() (err error) { got, err = os.ReadFile(file); return err }); err != nil || strings.TrimSpace(string(got)) != value {
		t.Fatalf("sysctl %s reads %q, %v; want %s", path, got, err, value)
	}
}

// in runs f on a thread inside the namespace and returns its error; it
// is do for goroutines other than the test's.
func (n *testNetns) in(f func() error) error {
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
		err = f()
		// Back to the test's namespace, or the thread dies with the
		// goroutine (it stays locked).
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}
