package overlay

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TableName is the overlay's nftables table (family ip). The plane never
// touches any other table.
const TableName = "hedge"

const (
	icmpPortUnreachable = 3
	icmpAdminProhibited = 13
	// ipsDstNAT is conntrack's IPS_DST_NAT status bit.
	ipsDstNAT = 1 << 5
)

func table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
}

// writeRules replaces the overlay's table with the one p asks for, in one
// netlink batch: either the whole new table is in place or the old one
// still is.
func writeRules(p *program, live []netip.Addr, tunnelPort int) error {
	c, err := nftables.New(nftables.WithSockOptions(bigReceiveBuffer))
	if err != nil {
		return fmt.Errorf("overlay: nftables: %w", err)
	}
	defer c.CloseLasting()
	t := table()
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)

	liveSet := &nftables.Set{Table: t, Name: "live", KeyType: nftables.TypeIPAddr}
	if err := c.AddSet(liveSet, addrElems(liveAddrs(p, live))); err != nil {
		return fmt.Errorf("overlay: set live: %w", err)
	}

	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	nout := c.AddChain(&nftables.Chain{Name: "nat_output", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
	in := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})

	// Service addresses: only instances (prerouting on the bridge) and this
	// host's processes (output) are translated.
	// Addresses with one target share one map and one rule.
	single := &nftables.Set{Table: t, Name: "single", IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeIPAddr}
	var singles []nftables.SetElement
	for _, s := range p.Services {
		if len(s.Targets) == 1 {
			singles = append(singles, nftables.SetElement{Key: s.IP.AsSlice(), Val: s.Targets[0].AsSlice()})
		}
	}
	if err := c.AddSet(single, singles); err != nil {
		return fmt.Errorf("overlay: map single: %w", err)
	}
	singleRule := []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: single.Name, SetID: single.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: cat(iifIs(BridgeName), singleRule)})
	c.AddRule(&nftables.Rule{Table: t, Chain: nout, Exprs: singleRule})
	for i, s := range p.Services {
		var target []expr.Any
		switch len(s.Targets) {
		case 0, 1:
			continue // rejected below, or in the map above
		default:
			m := &nftables.Set{Table: t, Name: fmt.Sprintf("rr%d", i), IsMap: true, Constant: true,
				KeyType: nftables.TypeInteger, DataType: nftables.TypeIPAddr, KeyByteOrder: binaryutil.NativeEndian}
			var elems []nftables.SetElement
			for j, ip := range s.Targets {
				elems = append(elems, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(j)), Val: ip.AsSlice()})
			}
			if err := c.AddSet(m, elems); err != nil {
				return fmt.Errorf("overlay: map of %s: %w", s.IP, err)
			}
			target = []expr.Any{
				&expr.Numgen{Register: 1, Modulus: uint32(len(s.Targets)), Type: unix.NFT_NG_INCREMENTAL},
				&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
			}
		}
		dnat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1}
		rule := cat(daddrIs(s.IP), target, []expr.Any{dnat})
		c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: cat(iifIs(BridgeName), rule)})
		c.AddRule(&nftables.Rule{Table: t, Chain: nout, Exprs: rule})
	}

	// An instance answered by itself through a service address would see
	// a packet from its own address and drop it: such calls come from the
	// gateway instead (the port is in hairpin mode, see hairpin.go).
	var local []netip.Addr
	for _, s := range p.Services {
		for _, ip := range s.Targets {
			if p.Subnet.Contains(ip) {
				local = append(local, ip)
			}
		}
	}
	for _, ip := range uniq(local) {
		c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip.AsSlice()},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip.AsSlice()},
			&expr.Masq{},
		}})
	}
	// Instances leaving for the world look like the host; overlay traffic
	// keeps its instance source.
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: cat(
		saddrIn(p.Subnet), daddrNotIn(p.InstanceCIDR), daddrNotIn(p.ServiceCIDR), []expr.Any{&expr.Masq{}})})

	// Fail fast: a service address nothing answers, an address of this
	// subnet no instance holds.
	for _, ch := range []*nftables.Chain{fwd, out} {
		for _, r := range reject(daddrIn(p.ServiceCIDR), icmpPortUnreachable) {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
		}
		for _, r := range reject(cat(daddrIn(p.Subnet), daddrNotInSet(liveSet)), icmpPortUnreachable) {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
		}
	}
	// Connections into instances come only from their bridge and the
	// tunnels (answers to their own connections to the world come back
	// on the underlay).
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: cat(ctNew(), daddrIn(p.Subnet),
		iifIsNot(BridgeName), iifIsNot(VXLANName), iifIsNot(WGName), []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}})})
	// Isolated namespaces.
	for i, iso := range p.Isolation {
		dst := &nftables.Set{Table: t, Name: fmt.Sprintf("iso%d_dst", i), KeyType: nftables.TypeIPAddr}
		src := &nftables.Set{Table: t, Name: fmt.Sprintf("iso%d_src", i), KeyType: nftables.TypeIPAddr}
		if err := c.AddSet(dst, addrElems(iso.Dst)); err != nil {
			return fmt.Errorf("overlay: isolation of %s: %w", iso.Namespace, err)
		}
		if err := c.AddSet(src, addrElems(iso.Src)); err != nil {
			return fmt.Errorf("overlay: isolation of %s: %w", iso.Namespace, err)
		}
		// New connections only: the answers of a connection the isolated
		// side opened pass.
		match := cat(ctNew(), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: dst.Name, SetID: dst.ID},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: src.Name, SetID: src.ID},
		})
		// A connection this worker itself translated (a service address
		// answered on this worker) is dropped: a reset made here would
		// leave with the instance's address, not the service's, and the
		// caller would ignore it. Elsewhere it is refused.
		dnatted := []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: cat(match, dnatted, []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}})})
		for _, r := range reject(match, icmpAdminProhibited) {
			c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: r})
		}
	}
	// The gateway's services (names, round-trip echo) are for instances,
	// peers through the tunnels and this host; not for the underlay.
	c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: cat(daddrIs(p.Gateway),
		iifIsNot(BridgeName), iifIsNot(VXLANName), iifIsNot(WGName), iifIsNot("lo"), []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}})})
	// VXLAN carries no authentication of its own: take its packets only
	// from the workers in the map.
	if !p.Encrypt {
		peers := &nftables.Set{Table: t, Name: "peers", KeyType: nftables.TypeIPAddr}
		var eps []netip.Addr
		for _, pr := range p.Peers {
			eps = append(eps, pr.Endpoint.Addr())
		}
		if err := c.AddSet(peers, addrElems(uniq(eps))); err != nil {
			return fmt.Errorf("overlay: set peers: %w", err)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(tunnelPort))},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: peers.Name, SetID: peers.ID, Invert: true},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("overlay: write table %s: %w", TableName, err)
	}
	return nil
}

// setLive updates the set of live addresses in place (Attach, Detach).
func setLive(ip netip.Addr, add bool) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	s := &nftables.Set{Table: table(), Name: "live", KeyType: nftables.TypeIPAddr}
	if add {
		err = c.SetAddElements(s, addrElems([]netip.Addr{ip}))
	} else {
		err = c.SetDeleteElements(s, addrElems([]netip.Addr{ip}))
	}
	if err != nil {
		return err
	}
	return c.Flush()
}

// deleteTable removes the overlay's table if it exists.
func deleteTable() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	t := table()
	c.AddTable(t)
	c.DelTable(t)
	return c.Flush()
}

// forgetFlows deletes the connection tracking entries of flows answered by
// ip, so that their next packet is translated afresh (to a live backend)
// or refused, instead of going to an instance that is gone.
func forgetFlows(ip netip.Addr) error {
	f := &netlink.ConntrackFilter{}
	if err := f.AddIP(netlink.ConntrackReplySrcIP, ip.AsSlice()); err != nil {
		return err
	}
	_, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f)
	return err
}

func liveAddrs(p *program, live []netip.Addr) []netip.Addr {
	out := append([]netip.Addr{vtepAddr(p.Subnet), p.Gateway, lastAddr(p.Subnet)}, live...)
	return uniq(out)
}

func addrElems(ips []netip.Addr) []nftables.SetElement {
	var out []nftables.SetElement
	for _, ip := range ips {
		out = append(out, nftables.SetElement{Key: ip.AsSlice()})
	}
	return out
}

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// ctNew matches the first packet of a connection.
func ctNew() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func daddrIs(ip netip.Addr) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip.AsSlice()},
	}
}

func prefixMatch(offset uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	mask := ipNet(p).Mask
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: 1, Data: p.Addr().AsSlice()},
	}
}

func daddrIn(p netip.Prefix) []expr.Any    { return prefixMatch(16, p, expr.CmpOpEq) }
func daddrNotIn(p netip.Prefix) []expr.Any { return prefixMatch(16, p, expr.CmpOpNeq) }
func saddrIn(p netip.Prefix) []expr.Any    { return prefixMatch(12, p, expr.CmpOpEq) }

func daddrNotInSet(s *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID, Invert: true},
	}
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

func iifIs(n string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n)}}
}

func iifIsNot(n string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(n)}}
}

// reject is two rules for match: TCP gets a reset, the rest an ICMP
// unreachable with code.
func reject(match []expr.Any, code uint8) [][]expr.Any {
	tcp := cat(match, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
	})
	other := cat(match, []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: code}})
	return [][]expr.Any{tcp, other}
}

// bigReceiveBuffer lets the kernel's acknowledgements of a large batch (one
// per rule) fit in the socket; the default buffer overflows at a few
// hundred rules.
func bigReceiveBuffer(c *mnl.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	}); err != nil {
		return err
	}
	return serr
}
