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

// Applier keeps the main routing table's routes of Protocol equal to the
// wanted ones. It is safe for one caller at a time.
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

// Apply adds, replaces and deletes routes of Protocol until they are
// exactly want. A route whose gateway is not directly reachable
// (ENETUNREACH), or whose destination already has a route that is not
// ours, is not an error: it is logged with its node and returned in
// pending, for the next Apply to try again. err collects what failed
// otherwise.
func (a *Applier) Apply(want []Route) (pending []Route, err error) {
	ours, foreign, err := a.list()
	if err != nil {
		return nil, err
	}
	var errs []error
	wanted := map[netip.Prefix]bool{}
	blocked := map[Route]bool{}
	for _, r := range want {
		wanted[r.Dst] = true
		if gw, ok := ours[r.Dst]; ok && gw == r.Gateway {
			continue
		}
		if _, ok := foreign[r.Dst]; ok {
			// Replacing it would take over a route someone else owns.
			blocked[r] = true
			a.logBlocked(r, "destination has a route that is not the kubelet's; leaving it")
			continue
		}
		switch err := a.h.RouteReplace(toNetlink(r)); {
		case err == nil:
			a.log.Info("route to node's pods set", zap.String("node", r.Node), zap.Stringer("podCIDR", r.Dst), zap.Stringer("via", r.Gateway))
		case errors.Is(err, unix.ENETUNREACH):
			blocked[r] = true
			a.logBlocked(r, "node's InternalIP is not directly reachable (host-gw needs the nodes on one L2 segment); retrying later")
		default:
			errs = append(errs, fmt.Errorf("route %s: %w", r, err))
		}
	}
	for dst, gw := range ours {
		if wanted[dst] {
			continue
		}
		if err := a.h.RouteDel(toNetlink(Route{Dst: dst, Gateway: gw})); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s via %s: %w", dst, gw, err))
			continue
		}
		a.log.Info("route to pods of a node no longer wanted removed", zap.Stringer("podCIDR", dst), zap.Stringer("via", gw))
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

// RemoveAll deletes every route of Protocol from the main table: what a
// teardown does.
func (a *Applier) RemoveAll() error {
	ours, _, err := a.list()
	if err != nil {
		return err
	}
	var errs []error
	for dst, gw := range ours {
		if err := a.h.RouteDel(toNetlink(Route{Dst: dst, Gateway: gw})); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s via %s: %w", dst, gw, err))
		}
	}
	return errors.Join(errs...)
}

// list reads the main table: our routes (destination to gateway), and
// the destinations that have a route of another protocol with the
// priority ours get (0), which a replace of ours would overwrite.
func (a *Applier) list() (ours map[netip.Prefix]netip.Addr, foreign map[netip.Prefix]bool, err error) {
	rs, err := a.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		// ErrDumpInterrupted included: the table changed while read;
		// the next sync reads it again.
		return nil, nil, fmt.Errorf("list routes: %w", err)
	}
	ours, foreign = map[netip.Prefix]netip.Addr{}, map[netip.Prefix]bool{}
	for _, r := range rs {
		if r.Dst == nil {
			continue // a default route: never ours
		}
		dst, ok := fromIPNet(r.Dst)
		if !ok {
			continue
		}
		switch {
		case r.Protocol == Protocol:
			gw, _ := netip.AddrFromSlice(r.Gw)
			ours[dst] = gw.Unmap()
		case r.Priority == 0 && r.Tos == 0 && r.Type == unix.RTN_UNICAST:
			foreign[dst] = true
		}
	}
	return ours, foreign, nil
}

func toNetlink(r Route) *netlink.Route {
	return &netlink.Route{
		Dst:      &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Gw:       r.Gateway.AsSlice(),
		Protocol: Protocol,
		Table:    unix.RT_TABLE_MAIN,
	}
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
