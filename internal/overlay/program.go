package overlay

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/netmap"
)

// program is what a Plane writes into the kernel, derived from a map, the
// plane's addresses and the measured round trips. Two equal programs need no
// work, so Apply compares digests.
type program struct {
	Encrypt      bool
	InstanceCIDR netip.Prefix
	ServiceCIDR  netip.Prefix
	Subnet       netip.Prefix
	Gateway      netip.Addr
	Peers        []peer
	Services     []serviceRule
	Isolation    []isolationRule
	// Names maps a DNS name (with the trailing dot) to its address.
	Names map[string]netip.Addr
}

// peer is another worker that owns a subnet.
type peer struct {
	ID        string
	Cluster   string
	Subnet    netip.Prefix
	Endpoint  netip.AddrPort
	PublicKey string
}

// serviceRule is one service address and where its connections go: in turn
// over RR (round robin), or all to Closest. An empty target list rejects.
type serviceRule struct {
	IP      netip.Addr
	Targets []netip.Addr
}

// isolationRule rejects traffic into Dst from Src.
type isolationRule struct {
	Namespace string
	Dst       []netip.Addr
	Src       []netip.Addr
}

// digest identifies the program.
func (p *program) digest() [32]byte {
	b, _ := json.Marshal(p)
	return sha256.Sum256(b)
}

// compile derives the program for worker self from m. rtt gives the
// measured round trip to a peer worker (false when not measured yet); prev
// is the program in place (nil at first), whose closest choices are kept
// while they stay about as good, so that noise in the round trips does
// not move flows back and forth.
func compile(m *netmap.Map, rtt func(worker string) (time.Duration, bool), prev *program) (*program, error) {
	p := &program{Encrypt: m.Encrypt, Names: map[string]netip.Addr{}}
	var err error
	instCIDR, svcCIDR := m.InstanceCIDR, m.ServiceCIDR
	if instCIDR == "" {
		instCIDR = netmap.DefaultInstanceCIDR
	}
	if svcCIDR == "" {
		svcCIDR = netmap.DefaultServiceCIDR
	}
	if p.InstanceCIDR, err = parseV4Prefix("instance_cidr", instCIDR); err != nil {
		return nil, err
	}
	if p.ServiceCIDR, err = parseV4Prefix("service_cidr", svcCIDR); err != nil {
		return nil, err
	}
	if p.Subnet, err = parseV4Prefix("self.subnet", m.Self.Subnet); err != nil {
		return nil, err
	}
	if p.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("self.subnet %s: want a prefix of at most /30: %w", p.Subnet, errdefs.ErrInvalid)
	}
	p.Gateway = p.Subnet.Addr().Next()

	selfCluster := ""
	for _, w := range m.Workers {
		if w.ID == m.Self.ID {
			selfCluster = w.Cluster
		}
	}
	workers := map[string]netmap.Worker{}
	for _, w := range m.Workers {
		workers[w.ID] = w
		if w.ID == m.Self.ID || w.Subnet == "" {
			continue
		}
		sn, err := parseV4Prefix("workers["+w.ID+"].subnet", w.Subnet)
		if err != nil {
			return nil, err
		}
		if sn.Overlaps(p.Subnet) {
			return nil, fmt.Errorf("workers[%s].subnet %s overlaps this worker's %s: %w", w.ID, sn, p.Subnet, errdefs.ErrInvalid)
		}
		ep, err := netip.ParseAddrPort(w.Endpoint)
		if err != nil || !ep.Addr().Is4() {
			// A worker without a usable tunnel end cannot be reached;
			// leave it out rather than refusing the whole map.
			continue
		}
		p.Peers = append(p.Peers, peer{ID: w.ID, Cluster: w.Cluster, Subnet: sn, Endpoint: ep, PublicKey: w.PublicKey})
	}
	sort.Slice(p.Peers, func(i, j int) bool { return p.Peers[i].ID < p.Peers[j].ID })

	nsIPs := map[string][]netip.Addr{}
	for _, s := range m.Services {
		var rr []netip.Addr
		var backends []netmap.Backend
		for _, b := range s.Instances {
			ip, err := netip.ParseAddr(b.IP)
			if err != nil || !ip.Is4() {
				continue
			}
			rr = append(rr, ip)
			backends = append(backends, b)
			nsIPs[s.Namespace] = append(nsIPs[s.Namespace], ip)
		}
		sort.Slice(rr, func(i, j int) bool { return rr[i].Less(rr[j]) })
		name := netmap.Name(s.Name, s.App, s.Namespace) + "."
		if ip, err := netip.ParseAddr(s.RRIP); err == nil && ip.Is4() {
			p.Services = append(p.Services, serviceRule{IP: ip, Targets: rr})
			p.Names[name] = ip
		}
		if ip, err := netip.ParseAddr(s.ClosestIP); err == nil && ip.Is4() {
			var t []netip.Addr
			if c, ok := closest(backends, m.Self.ID, selfCluster, workers, rtt, prev.closestTarget(ip)); ok {
				t = []netip.Addr{c}
			}
			p.Services = append(p.Services, serviceRule{IP: ip, Targets: t})
			p.Names["closest."+name] = ip
		}
	}
	sort.Slice(p.Services, func(i, j int) bool { return p.Services[i].IP.Less(p.Services[j].IP) })

	for _, iso := range m.Isolated {
		allowed := map[string]bool{iso.Namespace: true}
		for _, a := range iso.Allow {
			allowed[a] = true
		}
		r := isolationRule{Namespace: iso.Namespace, Dst: uniq(nsIPs[iso.Namespace])}
		var src []netip.Addr
		for ns, ips := range nsIPs {
			if !allowed[ns] {
				src = append(src, ips...)
			}
		}
		r.Src = uniq(src)
		if len(r.Dst) > 0 && len(r.Src) > 0 {
			p.Isolation = append(p.Isolation, r)
		}
	}
	sort.Slice(p.Isolation, func(i, j int) bool { return p.Isolation[i].Namespace < p.Isolation[j].Namespace })
	return p, nil
}

// closest picks the backend for a closest_ip: one on this worker first, then
// one in this worker's cluster, then one elsewhere; within a tier the lowest
// measured round trip wins, unmeasured ones come last, ties go to the lower
// address so that every Apply picks the same.
func closest(bs []netmap.Backend, self, selfCluster string, workers map[string]netmap.Worker, rtt func(string) (time.Duration, bool), sticky netip.Addr) (netip.Addr, bool) {
	type cand struct {
		ip   netip.Addr
		tier int
		rtt  time.Duration
	}
	var best, kept *cand
	for _, b := range bs {
		ip, err := netip.ParseAddr(b.IP)
		if err != nil {
			continue
		}
		c := cand{ip: ip, tier: 2, rtt: time.Duration(1<<62 - 1)}
		switch {
		case b.Worker == self:
			c.tier, c.rtt = 0, 0
		default:
			if w, ok := workers[b.Worker]; ok && selfCluster != "" && w.Cluster == selfCluster {
				c.tier = 1
			}
			if d, ok := rtt(b.Worker); ok {
				c.rtt = d
			}
		}
		if c.ip == sticky {
			cc := c
			kept = &cc
		}
		if best == nil || c.tier < best.tier || (c.tier == best.tier && (c.rtt < best.rtt || (c.rtt == best.rtt && c.ip.Less(best.ip)))) {
			cc := c
			best = &cc
		}
	}
	if best == nil {
		return netip.Addr{}, false
	}
	// Keep the earlier choice while it is in the best tier and within a
	// fifth (and a quarter millisecond) of the best round trip.
	if kept != nil && kept.tier == best.tier && kept.rtt <= best.rtt+best.rtt/5+250*time.Microsecond {
		return kept.ip, true
	}
	return best.ip, true
}

// closestTarget is where the program sends the closest address ip.
func (p *program) closestTarget(ip netip.Addr) netip.Addr {
	if p == nil {
		return netip.Addr{}
	}
	for _, s := range p.Services {
		if s.IP == ip && len(s.Targets) == 1 {
			return s.Targets[0]
		}
	}
	return netip.Addr{}
}

func parseV4Prefix(field, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%s %q: want an IPv4 CIDR such as 10.18.1.0/24: %w", field, s, errdefs.ErrInvalid)
	}
	return p.Masked(), nil
}

func uniq(in []netip.Addr) []netip.Addr {
	sort.Slice(in, func(i, j int) bool { return in[i].Less(in[j]) })
	var out []netip.Addr
	for i, a := range in {
		if i == 0 || a != in[i-1] {
			out = append(out, a)
		}
	}
	return out
}

// vtepMAC is the tunnel device's hardware address of the worker owning
// subnet: locally administered, unicast, and derived from the subnet so
// that every worker computes the same one without asking.
func vtepMAC(subnet netip.Prefix) net.HardwareAddr {
	a := subnet.Addr().As4()
	return net.HardwareAddr{0x0e, 0x6f, a[0], a[1], a[2], a[3]}
}

// vtepAddr is the tunnel device's address of the worker owning subnet (the
// subnet's network address, as flannel does).
func vtepAddr(subnet netip.Prefix) netip.Addr { return subnet.Addr() }

// lastAddr is the broadcast address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}
