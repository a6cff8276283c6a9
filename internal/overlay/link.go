package overlay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Device names. hedge0 stays the containerd bridge of workers without an
// overlay; these are the overlay's own.
const (
	BridgeName = "hedgeov0"
	VXLANName  = "hedgevx"
	WGName     = "hedgewg"
	vni        = 1
)

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

func hostNet(a netip.Addr) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}
}

// writeSysctl sets a /proc/sys value; missing keys are left alone.
func writeSysctl(path, v string) error {
	err := os.WriteFile(path, []byte(v), 0o644)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// ensureBridge makes the instances' bridge with the gateway address on it and
// a route for the service range, so that host processes can connect to
// service addresses (their destination is rewritten on the way out).
func ensureBridge(p *program) (netlink.Link, error) {
	l, err := netlink.LinkByName(BridgeName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return nil, fmt.Errorf("overlay: find %s: %w", BridgeName, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("overlay: create %s: %w", BridgeName, err)
		}
		if l, err = netlink.LinkByName(BridgeName); err != nil {
			return nil, fmt.Errorf("overlay: find %s: %w", BridgeName, err)
		}
	}
	if err := setOnlyAddr(l, netip.PrefixFrom(p.Gateway, p.Subnet.Bits())); err != nil {
		return nil, err
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("overlay: %s up: %w", BridgeName, err)
	}
	rt := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(p.ServiceCIDR), Src: p.Gateway.AsSlice(), Scope: netlink.SCOPE_LINK}
	if err := netlink.RouteReplace(rt); err != nil {
		return nil, fmt.Errorf("overlay: route %s dev %s: %w", p.ServiceCIDR, BridgeName, err)
	}
	// Forward between instances and tunnels; let bridged IPv4 traffic pass
	// the ip hooks, so that a service address answered by an instance on
	// the same bridge is translated back (and isolation applies there too).
	if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
		return nil, fmt.Errorf("overlay: enable forwarding: %w", err)
	}
	if err := writeSysctl("/proc/sys/net/bridge/bridge-nf-call-iptables", "1"); err != nil {
		return nil, fmt.Errorf("overlay: bridge netfilter: %w", err)
	}
	return l, nil
}

// setOnlyAddr makes want the link's only IPv4 address.
func setOnlyAddr(l netlink.Link, want netip.Prefix) error {
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("overlay: addresses of %s: %w", l.Attrs().Name, err)
	}
	have := false
	for _, a := range addrs {
		ones, _ := a.Mask.Size()
		if a.IP.Equal(want.Addr().AsSlice()) && ones == want.Bits() {
			have = true
			continue
		}
		if err := netlink.AddrDel(l, &a); err != nil {
			return fmt.Errorf("overlay: remove %s from %s: %w", a.IPNet, l.Attrs().Name, err)
		}
	}
	if have {
		return nil
	}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipNet(want)}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("overlay: add %s to %s: %w", want, l.Attrs().Name, err)
	}
	return nil
}

// ensureVXLAN makes the kernel VXLAN device of this worker: no learning (the
// map says where every peer is), listening on port, with the MAC and
// address every peer derives from this worker's subnet.
func ensureVXLAN(p *program, local netip.Addr, port int) (netlink.Link, error) {
	mac := vtepMAC(p.Subnet)
	l, err := netlink.LinkByName(VXLANName)
	if err == nil {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || vx.Port != port || !vx.SrcAddr.Equal(local.AsSlice()) || vx.VxlanId != vni || vx.Learning {
			if err := netlink.LinkDel(l); err != nil {
				return nil, fmt.Errorf("overlay: replace %s: %w", VXLANName, err)
			}
			l = nil
		}
	} else {
		l = nil
	}
	if l == nil {
		mtu := underlayMTU(local) - 50
		vx := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: VXLANName, MTU: mtu, HardwareAddr: mac},
			VxlanId:   vni, SrcAddr: local.AsSlice(), Port: port, Learning: false,
		}
		if err := netlink.LinkAdd(vx); err != nil {
			return nil, fmt.Errorf("overlay: create %s (udp %d): %w", VXLANName, port, err)
		}
		if l, err = netlink.LinkByName(VXLANName); err != nil {
			return nil, fmt.Errorf("overlay: find %s: %w", VXLANName, err)
		}
	}
	if l.Attrs().HardwareAddr.String() != mac.String() {
		if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
			return nil, fmt.Errorf("overlay: %s address: %w", VXLANName, err)
		}
	}
	if err := setOnlyAddr(l, netip.PrefixFrom(vtepAddr(p.Subnet), 32)); err != nil {
		return nil, err
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("overlay: %s up: %w", VXLANName, err)
	}
	return l, nil
}

// syncVXLANPeers writes, for every peer, flannel's three entries: a route
// to its subnet via its tunnel address, a permanent neighbour giving that
// address the peer's MAC, and a forwarding entry sending the MAC to the
// peer's underlay end (with the peer's own port). Entries of workers no
// longer in the map are removed.
func syncVXLANPeers(l netlink.Link, p *program) error {
	idx := l.Attrs().Index
	wantMAC := map[string]bool{}
	wantNeigh := map[string]bool{}
	for _, pr := range p.Peers {
		mac := vtepMAC(pr.Subnet)
		wantMAC[mac.String()] = true
		wantNeigh[vtepAddr(pr.Subnet).String()] = true
		if err := fdbReplace(idx, mac, pr.Endpoint); err != nil {
			return fmt.Errorf("overlay: forwarding entry of %s: %w", pr.ID, err)
		}
		n := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, Type: unix.RTN_UNICAST,
			IP: vtepAddr(pr.Subnet).AsSlice(), HardwareAddr: mac}
		if err := netlink.NeighSet(n); err != nil {
			return fmt.Errorf("overlay: neighbour of %s: %w", pr.ID, err)
		}
	}
	if err := syncRoutes(idx, p, true); err != nil {
		return err
	}
	fdb, err := netlink.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("overlay: list forwarding entries: %w", err)
	}
	for _, n := range fdb {
		if n.State&netlink.NUD_PERMANENT == 0 || wantMAC[n.HardwareAddr.String()] || n.HardwareAddr.String() == l.Attrs().HardwareAddr.String() {
			continue
		}
		n.Flags = netlink.NTF_SELF
		_ = netlink.NeighDel(&n)
	}
	neigh, err := netlink.NeighList(idx, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("overlay: list neighbours: %w", err)
	}
	for _, n := range neigh {
		if !wantNeigh[n.IP.String()] {
			_ = netlink.NeighDel(&n)
		}
	}
	return nil
}

// fdbReplace writes a permanent forwarding entry mac -> ep on a VXLAN
// device. The netlink library's Neigh has no port, so the message is
// built here with NDA_PORT (each peer may listen on its own port).
func fdbReplace(idx int, mac net.HardwareAddr, ep netip.AddrPort) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK)
	req.AddData(&netlink.Ndmsg{Family: unix.AF_BRIDGE, Index: uint32(idx), State: uint16(netlink.NUD_PERMANENT), Flags: uint8(netlink.NTF_SELF)})
	req.AddData(nl.NewRtAttr(unix.NDA_LLADDR, mac))
	req.AddData(nl.NewRtAttr(unix.NDA_DST, ep.Addr().AsSlice()))
	port := make([]byte, 2)
	binary.BigEndian.PutUint16(port, ep.Port())
	req.AddData(nl.NewRtAttr(unix.NDA_PORT, port))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// syncRoutes makes the routes on link idx exactly one per peer subnet; via
// the peer's tunnel address (VXLAN) or straight into the device (WireGuard).
// Traffic of host processes leaves with the gateway as source, so replies
// come back through the tunnel.
func syncRoutes(idx int, p *program, via bool) error {
	want := map[string]bool{}
	for _, pr := range p.Peers {
		rt := &netlink.Route{LinkIndex: idx, Dst: ipNet(pr.Subnet), Src: p.Gateway.AsSlice()}
		if via {
			rt.Gw = vtepAddr(pr.Subnet).AsSlice()
			rt.Flags = int(netlink.FLAG_ONLINK)
		} else {
			rt.Scope = netlink.SCOPE_LINK
		}
		if err := netlink.RouteReplace(rt); err != nil {
			return fmt.Errorf("overlay: route to %s (%s): %w", pr.Subnet, pr.ID, err)
		}
		want[pr.Subnet.String()] = true
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: idx}, netlink.RT_FILTER_OIF)
	if err != nil {
		return fmt.Errorf("overlay: list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Protocol == unix.RTPROT_KERNEL {
			continue
		}
		if ones, _ := r.Dst.Mask.Size(); ones == 32 || want[r.Dst.String()] {
			continue
		}
		_ = netlink.RouteDel(&r)
	}
	return nil
}

// deleteLink removes a device if it exists.
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("overlay: delete %s: %w", name, err)
	}
	return nil
}

// underlayMTU is the MTU of the device holding local (1500 when unknown).
func underlayMTU(local netip.Addr) int {
	links, err := netlink.LinkList()
	if err != nil {
		return 1500
	}
	for _, l := range links {
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			if a.IP.Equal(local.AsSlice()) && l.Attrs().MTU > 0 {
				return l.Attrs().MTU
			}
		}
	}
	return 1500
}

// forgetNeighbour drops the bridge's neighbour entry for a detached
// instance's address, so that the next holder of the address is found by a
// fresh ARP rather than sent frames for the old instance's MAC.
func forgetNeighbour(ip netip.Addr) error {
	br, err := netlink.LinkByName(BridgeName)
	if err != nil {
		return err
	}
	err = netlink.NeighDel(&netlink.Neigh{LinkIndex: br.Attrs().Index, Family: netlink.FAMILY_V4, IP: ip.AsSlice()})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
