package routes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Protocol is the route protocol (rtm_protocol, `ip route … proto N`)
// the routes of this package carry. It is how the Applier tells its
// routes from everyone else's in the shared main table: it lists, replaces
// and deletes only routes of this protocol, so a route an administrator,
// DHCP or another network agent made is never touched, and a route of
// ours left by a kubelet that stopped is still recognised as ours. 0x6b
// (107) is in neither the kernel's list (include/uapi/linux/rtnetlink.h)
// nor iproute2's rt_protos, and no network agent we know of uses it
// (BIRD takes 12, Calico 80, BGP daemons 186).
const Protocol netlink.RouteProtocol = 0x6b

// Applier keeps the main routing table's routes of Protocol, and the
// neighbour and FDB entries of the VXLAN device, equal to a Plan; it
// makes and removes the device too (vxlan.go). The device and everything
// on it are the kubelet's alone, so its entries need no mark. It is safe
// for one caller at a time.
type Applier struct {
	h   *netlink.Handle
	log *zap.Logger

	mu sync.Mutex // guards blocked
	// blocked are the routes last found not installable (gateway not
	// reachable, or the destination held by a route not ours), so each
	// is logged once, not at every sync.
	blocked map[Route]bool
}

// NewApplier returns an applier on the network namespace of handle h (nil
// means the namespace of the calling thread, the node's own).
func NewApplier(h *netlink.Handle, log *zap.Logger) *Applier {
	if log == nil {
		log = zap.NewNop()
	}
	if h == nil {
		h = &netlink.Handle{}
	}
	return &Applier{h: h, log: log, blocked: map[Route]bool{}}
}

// Apply makes the tables hold exactly p: the VXLAN device's neighbour and
// FDB entries are set first, so that the kernel never has to resolve a
// route's gateway on its own, then routes of Protocol are added, replaced
// and deleted, then the entries no longer wanted go. A route whose
// gateway is not directly reachable (ENETUNREACH), or whose destination
// already has a route that is not ours, is not an error: it is logged
// with its node and returned in pending, for the next Apply to try again.
// err collects what failed otherwise. A plan with VXLAN entries needs the
// device (EnsureDevice); without the device, a plan has nothing there to
// remove.
func (a *Applier) Apply(p Plan) (pending []Route, err error) {
	dev, err := a.device()
	if err != nil {
		return nil, err
	}
	if dev == nil && (len(p.Neighbors) > 0 || len(p.FDB) > 0) {
		return nil, fmt.Errorf("vxlan device %s: does not exist", DeviceName)
	}
	var errs []error
	var stale func() error
	if dev != nil {
		if stale, err = a.setEntries(dev, p); err != nil {
			errs = append(errs, err)
		}
	}
	pending, err = a.applyRoutes(p.Routes, dev)
	if err != nil {
		errs = append(errs, err)
	}
	if stale != nil {
		if err := stale(); err != nil {
			errs = append(errs, err)
		}
	}
	return pending, errors.Join(errs...)
}

// applyRoutes adds, replaces and deletes routes of Protocol until they
// are exactly want. dev is the VXLAN device, when it exists.
func (a *Applier) applyRoutes(want []Route, dev netlink.Link) (pending []Route, err error) {
	ours, foreign, err := a.list()
	if err != nil {
		return nil, err
	}
	var errs []error
	wanted := map[netip.Prefix]bool{}
	blocked := map[Route]bool{}
	for _, r := range want {
		wanted[r.Dst] = true
		devIndex := 0
		if r.Dev != "" {
			if dev == nil || r.Dev != DeviceName {
				errs = append(errs, fmt.Errorf("route %s: no device %s", r, r.Dev))
				continue
			}
			devIndex = dev.Attrs().Index
		}
		if have, ok := ours[r.Dst]; ok && matches(have, r, devIndex) {
			continue
		}
		if _, ok := foreign[r.Dst]; ok {
			// Replacing it would take over a route someone else owns.
			blocked[r] = true
			a.logBlocked(r, "destination has a route that is not the kubelet's; leaving it")
			continue
		}
		switch err := a.h.RouteReplace(toNetlink(r, devIndex)); {
		case err == nil:
			a.log.Info("route to node's pods set", zap.String("node", r.Node), zap.Stringer("podCIDR", r.Dst), zap.Stringer("via", r.Gateway), zap.String("dev", r.Dev))
		case errors.Is(err, unix.ENETUNREACH):
			blocked[r] = true
			a.logBlocked(r, "node's InternalIP is not directly reachable (host-gw needs the nodes on one L2 segment; --node-routes=vxlan does not); retrying later")
		default:
			errs = append(errs, fmt.Errorf("route %s: %w", r, err))
		}
	}
	for dst, have := range ours {
		if wanted[dst] {
			continue
		}
		if err := a.h.RouteDel(have); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", have, err))
			continue
		}
		a.log.Info("route to pods of a node no longer wanted removed", zap.Stringer("podCIDR", dst), zap.Stringer("via", have.Gw))
	}
	a.mu.Lock()
	a.blocked = blocked
	a.mu.Unlock()
	for _, r := range want {
		if blocked[r] {
			pending = append(pending, r)
		}
	}
	return pending, errors.Join(errs...)
}

// matches tells whether route have, of ours, is r: same gateway and, for
// a route through a device, that device and onlink. A host-gw route is
// on whatever link the kernel chose, but never onlink.
func matches(have *netlink.Route, r Route, devIndex int) bool {
	gw, _ := netip.AddrFromSlice(have.Gw)
	if gw.Unmap() != r.Gateway {
		return false
	}
	onlink := have.Flags&int(netlink.FLAG_ONLINK) != 0
	if r.Dev == "" {
		return !onlink
	}
	return have.LinkIndex == devIndex && onlink == r.OnLink
}

// logBlocked warns about a route that cannot be set the first time it
// cannot, and only at debug level while it stays so.
func (a *Applier) logBlocked(r Route, why string) {
	a.mu.Lock()
	seen := a.blocked[r]
	a.mu.Unlock()
	log := a.log.Warn
	if seen {
		log = a.log.Debug
	}
	log("route to node's pods not set: "+why, zap.String("node", r.Node), zap.Stringer("podCIDR", r.Dst), zap.Stringer("via", r.Gateway))
}

// RemoveAll deletes every route of Protocol from the main table, and the
// VXLAN device with its entries: what a teardown does, whichever mode
// the kubelet ran in.
func (a *Applier) RemoveAll() error {
	var errs []error
	if err := a.RemoveDevice(); err != nil {
		errs = append(errs, err)
	}
	ours, _, err := a.list()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, r := range ours {
		if err := a.h.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// list reads the main table: our routes by destination, and the
// destinations that have a route of another protocol with the priority
// ours get (0), which a replace of ours would overwrite.
func (a *Applier) list() (ours map[netip.Prefix]*netlink.Route, foreign map[netip.Prefix]bool, err error) {
	rs, err := a.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		// ErrDumpInterrupted included: the table changed while read;
		// the next sync reads it again.
		return nil, nil, fmt.Errorf("list routes: %w", err)
	}
	ours, foreign = map[netip.Prefix]*netlink.Route{}, map[netip.Prefix]bool{}
	for i := range rs {
		r := &rs[i]
		if r.Dst == nil {
			continue // a default route: never ours
		}
		dst, ok := fromIPNet(r.Dst)
		if !ok {
			continue
		}
		switch {
		case r.Protocol == Protocol:
			ours[dst] = r
		case r.Priority == 0 && r.Tos == 0 && r.Type == unix.RTN_UNICAST:
			foreign[dst] = true
		}
	}
	return ours, foreign, nil
}

// toNetlink is r as a route of Protocol in the main table; devIndex is
// the index of r.Dev, when r has one.
func toNetlink(r Route, devIndex int) *netlink.Route {
	nr := &netlink.Route{
		Dst:      &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Gw:       r.Gateway.AsSlice(),
		Protocol: Protocol,
		Table:    unix.RT_TABLE_MAIN,
	}
	if r.Dev != "" {
		nr.LinkIndex = devIndex
	}
	if r.OnLink {
		nr.SetFlag(netlink.FLAG_ONLINK)
	}
	return nr
}

func fromIPNet(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	ip = ip.Unmap()
	if ip.Is4() && ones > 32 {
		ones -= 96
	}
	return netip.PrefixFrom(ip, ones).Masked(), true
}
