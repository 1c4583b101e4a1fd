package routes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// The VXLAN device of --node-routes=vxlan, as flannel's vxlan backend
// makes flannel.1: VNI 1 on the Linux VXLAN port 8472 (not IANA's 4789,
// as flannel, so the two never meet a stray listener of the other),
// learning off (every entry comes from the Node objects).
const (
	DeviceName = "coracle.1"
	VNI        = 1
	VXLANPort  = 8472
	// EncapOverhead is what VXLAN adds to each packet over IPv4: outer
	// IPv4 (20), UDP (8) and VXLAN (8) headers and the inner Ethernet
	// header (14).
	EncapOverhead = 50
)

// EnsureDevice makes the VXLAN device, unless it exists as wanted: local
// address local (the node's InternalIP), on the link that holds that
// address (the tunnel's packets leave through it), MTU that link's less
// EncapOverhead. A device of that name made otherwise (another address,
// port, VNI, link, learning on) is deleted and made again. Its address
// is podCIDR's network address as a /32 (no prefix route, no broadcast:
// it is only the source of the node's own traffic to other nodes' pods,
// and the gateway the other nodes route this node's pod CIDR to); an
// invalid podCIDR (none yet) leaves it without one. It returns the
// device's MAC, which the other nodes need: a device made again has a
// new one.
func (a *Applier) EnsureDevice(local netip.Addr, podCIDR netip.Prefix) (net.HardwareAddr, error) {
	parent, err := a.linkWithAddr(local)
	if err != nil {
		return nil, err
	}
	want := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: DeviceName, MTU: parent.Attrs().MTU - EncapOverhead},
		VxlanId:   VNI, VtepDevIndex: parent.Attrs().Index, SrcAddr: local.AsSlice(), Port: VXLANPort, Learning: false,
	}
	link, err := a.device()
	if err != nil {
		return nil, err
	}
	if link != nil {
		if why := incompatible(want, link); why != "" {
			a.log.Warn("vxlan device made otherwise; making it again", zap.String("device", DeviceName), zap.String("differs", why))
			if err := a.h.LinkDel(link); err != nil && !isNotFound(err) {
				return nil, fmt.Errorf("delete vxlan device %s: %w", DeviceName, err)
			}
			link = nil
		}
	}
	if link == nil {
		if err := a.h.LinkAdd(want); err != nil {
			return nil, fmt.Errorf("add vxlan device %s: %w", DeviceName, err)
		}
		if link, err = a.h.LinkByName(DeviceName); err != nil {
			return nil, fmt.Errorf("vxlan device %s: %w", DeviceName, err)
		}
		a.log.Info("vxlan device made", zap.String("device", DeviceName), zap.Stringer("local", local),
			zap.String("parent", parent.Attrs().Name), zap.Stringer("mac", link.Attrs().HardwareAddr))
	}
	if link.Attrs().MTU != want.MTU {
		if err := a.h.LinkSetMTU(link, want.MTU); err != nil {
			return nil, fmt.Errorf("vxlan device %s: mtu %d: %w", DeviceName, want.MTU, err)
		}
	}
	if err := a.setDeviceAddr(link, podCIDR); err != nil {
		return nil, err
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := a.h.LinkSetUp(link); err != nil {
			return nil, fmt.Errorf("vxlan device %s: up: %w", DeviceName, err)
		}
	}
	return link.Attrs().HardwareAddr, nil
}

// incompatible says how an existing link differs from the device wanted
// in what cannot be changed in place, or "".
func incompatible(want *netlink.Vxlan, l netlink.Link) string {
	have, ok := l.(*netlink.Vxlan)
	switch {
	case !ok:
		return "link type " + l.Type()
	case have.VxlanId != want.VxlanId:
		return fmt.Sprintf("vni %d", have.VxlanId)
	case have.VtepDevIndex != want.VtepDevIndex:
		return fmt.Sprintf("parent link index %d", have.VtepDevIndex)
	case !have.SrcAddr.Equal(want.SrcAddr):
		return fmt.Sprintf("local address %v", have.SrcAddr)
	case have.Port != want.Port:
		return fmt.Sprintf("port %d", have.Port)
	case have.Learning:
		return "learning on"
	case len(have.Group) > 0 && !have.Group.IsUnspecified():
		return fmt.Sprintf("group %v", have.Group)
	case have.FlowBased:
		return "external (flow based)"
	}
	return ""
}

// setDeviceAddr leaves the device exactly the /32 of podCIDR's network
// address (none for an invalid podCIDR): the address of a former pod
// CIDR goes.
func (a *Applier) setDeviceAddr(link netlink.Link, podCIDR netip.Prefix) error {
	var want netip.Addr
	if podCIDR.IsValid() && podCIDR.Addr().Is4() {
		want = podCIDR.Masked().Addr()
	}
	addrs, err := a.h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("vxlan device %s: addresses: %w", DeviceName, err)
	}
	found := false
	for _, ad := range addrs {
		ip, _ := netip.AddrFromSlice(ad.IP)
		ones, _ := ad.Mask.Size()
		if ip.Unmap() == want && ones == 32 {
			found = true
			continue
		}
		if err := a.h.AddrDel(link, &ad); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("vxlan device %s: remove address %s: %w", DeviceName, ad.IPNet, err)
		}
	}
	if found || !want.IsValid() {
		return nil
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: want.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := a.h.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("vxlan device %s: address %s: %w", DeviceName, addr.IPNet, err)
	}
	return nil
}

// RemoveDevice deletes the VXLAN device, if there is one; its neighbour
// and FDB entries, and the routes through it, go with it.
func (a *Applier) RemoveDevice() error {
	link, err := a.device()
	if err != nil || link == nil {
		return err
	}
	if err := a.h.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete vxlan device %s: %w", DeviceName, err)
	}
	a.log.Info("vxlan device removed", zap.String("device", DeviceName))
	return nil
}

// device is the VXLAN device, or nil when there is none.
func (a *Applier) device() (netlink.Link, error) {
	link, err := a.h.LinkByName(DeviceName)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vxlan device %s: %w", DeviceName, err)
	}
	return link, nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// linkWithAddr is the link holding address ip: the VXLAN device's
// parent.
func (a *Applier) linkWithAddr(ip netip.Addr) (netlink.Link, error) {
	if !ip.IsValid() {
		return nil, errors.New("vxlan device: no local address (the node has no InternalIP)")
	}
	family := netlink.FAMILY_V4
	if !ip.Is4() {
		family = netlink.FAMILY_V6
	}
	addrs, err := a.h.AddrList(nil, family)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, ad := range addrs {
		if have, _ := netip.AddrFromSlice(ad.IP); have.Unmap() == ip {
			link, err := a.h.LinkByIndex(ad.LinkIndex)
			if err != nil {
				return nil, fmt.Errorf("link of %s: %w", ip, err)
			}
			return link, nil
		}
	}
	return nil, fmt.Errorf("vxlan device: no link has the node's InternalIP %s", ip)
}

// OverlayMTU is the MTU of packets that fit the VXLAN tunnel from local
// (the node's InternalIP): its link's less EncapOverhead, what the pods'
// interfaces should have.
func OverlayMTU(h *netlink.Handle, local netip.Addr) (int, error) {
	link, err := NewApplier(h, nil).linkWithAddr(local)
	if err != nil {
		return 0, err
	}
	return link.Attrs().MTU - EncapOverhead, nil
}

// setEntries adds and replaces the device's neighbour and FDB entries
// that p wants; stale removes those it does not, and is to be called
// once the routes that needed them are gone.
func (a *Applier) setEntries(dev netlink.Link, p Plan) (stale func() error, err error) {
	idx := dev.Attrs().Index
	neighs, err := a.h.NeighList(idx, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("list neighbours of %s: %w", DeviceName, err)
	}
	fdb, err := a.h.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return nil, fmt.Errorf("list fdb of %s: %w", DeviceName, err)
	}
	var errs []error
	wantNeigh := map[netip.Addr]string{}
	for _, n := range p.Neighbors {
		wantNeigh[n.IP] = n.MAC
		if slices.ContainsFunc(neighs, func(h netlink.Neigh) bool {
			return h.State&netlink.NUD_PERMANENT != 0 && addrOf(h.IP) == n.IP && h.HardwareAddr.String() == n.MAC
		}) {
			continue
		}
		mac, _ := net.ParseMAC(n.MAC)
		if err := a.h.NeighSet(&netlink.Neigh{
			LinkIndex: idx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, Type: unix.RTN_UNICAST,
			IP: n.IP.AsSlice(), HardwareAddr: mac,
		}); err != nil {
			errs = append(errs, fmt.Errorf("neighbour %s: %w", n, err))
			continue
		}
		a.log.Info("vtep of node's pods set", zap.String("node", n.Node), zap.Stringer("vtep", n.IP), zap.String("mac", n.MAC))
	}
	wantFDB := map[string]netip.Addr{}
	for _, f := range p.FDB {
		wantFDB[f.MAC] = f.Dst
		if slices.ContainsFunc(fdb, func(h netlink.Neigh) bool {
			return h.HardwareAddr.String() == f.MAC && addrOf(h.IP) == f.Dst
		}) {
			continue
		}
		mac, _ := net.ParseMAC(f.MAC)
		// A replace: a MAC already sent elsewhere (the node moved) now
		// goes to its new address.
		if err := a.h.NeighSet(&netlink.Neigh{
			LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT,
			IP: f.Dst.AsSlice(), HardwareAddr: mac,
		}); err != nil {
			errs = append(errs, fmt.Errorf("fdb %s: %w", f, err))
			continue
		}
		a.log.Info("tunnel to node set", zap.String("node", f.Node), zap.String("mac", f.MAC), zap.Stringer("dst", f.Dst))
	}
	stale = func() error {
		var errs []error
		for _, h := range neighs {
			ip := addrOf(h.IP)
			if h.State&netlink.NUD_PERMANENT == 0 {
				continue // the kernel's own, which age out
			}
			if _, ok := wantNeigh[ip]; ok {
				continue // replaced, if it changed
			}
			if err := a.h.NeighDel(&netlink.Neigh{LinkIndex: idx, Family: unix.AF_INET, IP: h.IP}); err != nil && !isGone(err) {
				errs = append(errs, fmt.Errorf("delete neighbour %s on %s: %w", ip, DeviceName, err))
				continue
			}
			a.log.Info("vtep no longer wanted removed", zap.Stringer("vtep", ip), zap.Stringer("mac", h.HardwareAddr))
		}
		for _, h := range fdb {
			if dst, ok := wantFDB[h.HardwareAddr.String()]; ok && dst == addrOf(h.IP) {
				continue
			}
			if err := a.h.NeighDel(&netlink.Neigh{
				LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, IP: h.IP, HardwareAddr: h.HardwareAddr,
			}); err != nil && !isGone(err) {
				errs = append(errs, fmt.Errorf("delete fdb %s dst %s on %s: %w", h.HardwareAddr, h.IP, DeviceName, err))
				continue
			}
			a.log.Info("tunnel no longer wanted removed", zap.Stringer("mac", h.HardwareAddr), zap.Stringer("dst", h.IP))
		}
		return errors.Join(errs...)
	}
	return stale, errors.Join(errs...)
}

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// isGone is a delete's error for what is not there (any more).
func isGone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}
