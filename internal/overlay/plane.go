package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/runtime"
)

// Config configures a Plane.
type Config struct {
	// DataDir keeps the instances' addresses and the WireGuard key.
	DataDir string
	// TunnelPort is the UDP port of this worker's tunnel end
	// (netmap.DefaultTunnelPort when 0). The round-trip echo listens on
	// the port above it, on the gateway address.
	TunnelPort int
	// TunnelAddr is this worker's underlay address. When empty, the source
	// address the kernel picks for the route to Upstream is used.
	TunnelAddr string
	// Upstream is an address this worker talks to (its cluster's host).
	Upstream string
	// ProbeInterval is how often round trips to the peers are measured
	// (2s when 0).
	ProbeInterval time.Duration
	Logger        *slog.Logger
}

// Plane is a worker's data path on the instance network. It implements the
// worker's NetPlane. Its methods are safe for concurrent use.
type Plane struct {
	cfg    Config
	log    *slog.Logger
	key    *wgKey
	local  netip.Addr
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu       sync.Mutex
	ipam     *ipam
	last     *netmap.Map
	prog     *program // as programmed
	digest   [32]byte
	backends map[netip.Addr]bool
	wg       *wireGuard
	res      *resolver
	resAddr  netip.Addr
	echo     net.PacketConn
	echoAddr string

	rttMu sync.Mutex
	rtts  map[string]time.Duration
}

// New loads the plane's state from cfg.DataDir and starts measuring round
// trips. Nothing is written into the kernel before the first Apply with a
// subnet.
func New(cfg Config) (*Plane, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("overlay: data dir: %w", errdefs.ErrInvalid)
	}
	if cfg.TunnelPort == 0 {
		cfg.TunnelPort = netmap.DefaultTunnelPort
	}
	if cfg.TunnelPort < 1 || cfg.TunnelPort > 65534 {
		return nil, fmt.Errorf("overlay: tunnel port %d: want 1-65534: %w", cfg.TunnelPort, errdefs.ErrInvalid)
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	local, err := underlayAddr(cfg.TunnelAddr, cfg.Upstream)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.DataDir, "overlay")
	a, err := loadIPAM(filepath.Join(dir, "addresses.json"))
	if err != nil {
		return nil, err
	}
	key, err := loadKey(filepath.Join(dir, "wireguard.key"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Plane{cfg: cfg, log: cfg.Logger, key: key, local: local, cancel: cancel, ipam: a, rtts: map[string]time.Duration{}}
	p.done.Add(2)
	go p.measure(ctx)
	go p.hairpin(ctx)
	return p, nil
}

// underlayAddr is the configured tunnel address, or the source the kernel
// picks toward upstream (no packet is sent).
func underlayAddr(addr, upstream string) (netip.Addr, error) {
	if addr != "" {
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is4() {
			return netip.Addr{}, fmt.Errorf("overlay: tunnel address %q: want an IPv4 address: %w", addr, errdefs.ErrInvalid)
		}
		return a, nil
	}
	if upstream == "" {
		return netip.Addr{}, fmt.Errorf("overlay: tunnel address: give one, or an upstream address to find it from: %w", errdefs.ErrInvalid)
	}
	host := upstream
	if h, _, err := net.SplitHostPort(upstream); err == nil {
		host = h
	}
	a, err := sourceToward(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("overlay: find the tunnel address toward %s: %w", host, err)
	}
	if a.IsLoopback() {
		// The cluster runs on this host (hedge up): other workers need an
		// address they can reach, the one of the default route.
		if d, err := sourceToward("192.0.2.1"); err == nil {
			a = d
		}
	}
	return a, nil
}

// sourceToward is the source address the kernel picks for host.
func sourceToward(host string) (netip.Addr, error) {
	c, err := net.Dial("udp4", net.JoinHostPort(host, "9"))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}

// Tunnel is this worker's tunnel end, for its node report.
func (p *Plane) Tunnel() *netmap.TunnelInfo {
	return &netmap.TunnelInfo{
		Endpoint:  netip.AddrPortFrom(p.local, uint16(p.cfg.TunnelPort)).String(),
		PublicKey: p.key.publicBase64(),
	}
}

// RTTs are the last measured round trips to the peer workers, by worker id.
func (p *Plane) RTTs() map[string]time.Duration {
	p.rttMu.Lock()
	defer p.rttMu.Unlock()
	out := make(map[string]time.Duration, len(p.rtts))
	for k, v := range p.rtts {
		out[k] = v
	}
	return out
}

func (p *Plane) rttOf(worker string) (time.Duration, bool) {
	p.rttMu.Lock()
	defer p.rttMu.Unlock()
	d, ok := p.rtts[worker]
	return d, ok
}

// Apply programs the kernel from m: bridge, tunnel, routes, the table of
// service addresses and the resolver's names. It is idempotent and does
// nothing when the parts of m that matter here did not change.
func (p *Plane) Apply(ctx context.Context, m *netmap.Map) error {
	if m == nil {
		return fmt.Errorf("overlay: apply: no map: %w", errdefs.ErrInvalid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = m
	if m.Self.Subnet == "" {
		return nil
	}
	return p.program(ctx, m)
}

// program writes m unless it compiles to what is already there. p.mu held.
func (p *Plane) program(ctx context.Context, m *netmap.Map) error {
	prog, err := compile(m, p.rttOf, p.prog)
	if err != nil {
		return fmt.Errorf("overlay: map revision %d: %w", m.Revision, err)
	}
	d := prog.digest()
	if p.prog != nil && d == p.digest {
		return nil
	}
	if dropped, err := p.ipam.setSubnet(prog.Subnet); err != nil {
		return err
	} else if dropped > 0 {
		p.log.Warn("overlay: subnet changed, addresses released", "subnet", prog.Subnet.String(), "released", dropped)
	}
	if _, err := ensureBridge(prog); err != nil {
		return err
	}
	if prog.Encrypt {
		if err := deleteLink(VXLANName); err != nil {
			return err
		}
		if p.wg == nil {
			wg, err := startWireGuard(p.key, p.cfg.TunnelPort, underlayMTU(p.local)-80, p.log)
			if err != nil {
				return err
			}
			p.wg = wg
		}
		if err := p.wg.sync(prog); err != nil {
			return err
		}
	} else {
		if p.wg != nil {
			p.wg.close()
			p.wg = nil
		}
		if err := deleteLink(WGName); err != nil {
			return err
		}
		vx, err := ensureVXLAN(prog, p.local, p.cfg.TunnelPort)
		if err != nil {
			return err
		}
		if err := syncVXLANPeers(vx, prog); err != nil {
			return err
		}
	}
	if err := writeRules(prog, p.ipam.live(), p.cfg.TunnelPort); err != nil {
		return err
	}
	if err := p.serve(prog); err != nil {
		return err
	}
	// Flows answered by an instance that left every service are forgotten,
	// so they fail at once and new ones pick live instances.
	now := map[netip.Addr]bool{}
	for _, s := range m.Services {
		for _, b := range s.Instances {
			if ip, err := netip.ParseAddr(b.IP); err == nil {
				now[ip] = true
			}
		}
	}
	for ip := range p.backends {
		if !now[ip] {
			if err := forgetFlows(ip); err != nil {
				p.log.Warn("overlay: forget flows", "ip", ip.String(), "error", err)
			}
		}
	}
	p.backends = now
	p.prog, p.digest = prog, d
	p.log.Info("overlay: programmed", "revision", m.Revision, "subnet", prog.Subnet.String(),
		"peers", len(prog.Peers), "services", len(prog.Services), "encrypt", prog.Encrypt)
	return nil
}

// serve starts the resolver and the round-trip echo on the gateway (again
// when the gateway moved). p.mu held.
func (p *Plane) serve(prog *program) error {
	if p.res == nil || p.resAddr != prog.Gateway {
		if p.res != nil {
			p.res.close()
		}
		r := newResolver(p.log)
		if err := r.listen(prog.Gateway); err != nil {
			return fmt.Errorf("overlay: resolver on %s: %w", prog.Gateway, err)
		}
		p.res, p.resAddr = r, prog.Gateway
	}
	p.res.setNames(prog.Names)
	if ea := echoAddr(prog.Gateway, p.cfg.TunnelPort); p.echo == nil || p.echoAddr != ea {
		if p.echo != nil {
			p.echo.Close()
		}
		pc, err := net.ListenPacket("udp4", ea)
		if err != nil {
			return fmt.Errorf("overlay: round-trip echo on %s: %w", ea, err)
		}
		p.echo, p.echoAddr = pc, ea
		go echoServer(pc)
	}
	return nil
}

// measure probes the peers every ProbeInterval and reprograms when the
// closest instances change with the round trips. It ticks on a link.Beat,
// with the worker's other periodic loops, and does nothing while the map
// names no peer (a lone worker, `hedge up`): an idle machine wakes for it
// no more often than for its heartbeat.
func (p *Plane) measure(ctx context.Context) {
	defer p.done.Done()
	beat := link.NewBeat(p.cfg.ProbeInterval)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			beat.Next()
		}
		p.mu.Lock()
		var peers []peer
		if p.prog != nil {
			peers = p.prog.Peers
		}
		p.mu.Unlock()
		p.rttMu.Lock()
		had := len(p.rtts) > 0
		p.rttMu.Unlock()
		if len(peers) == 0 && !had {
			continue
		}
		got := probeAll(ctx, peers, time.Second)
		p.rttMu.Lock()
		p.rtts = got
		p.rttMu.Unlock()
		p.mu.Lock()
		if p.last != nil && p.prog != nil && ctx.Err() == nil {
			if err := p.program(ctx, p.last); err != nil {
				p.log.Warn("overlay: reprogram after round trips", "error", err)
			}
		}
		p.mu.Unlock()
	}
}

// Attach gives the instance its address, the same one until Detach (and
// across restarts of the worker).
func (p *Plane) Attach(instanceID string) (*runtime.Network, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	subnet, err := netip.ParsePrefix(p.ipam.Subnet)
	if err != nil {
		return nil, fmt.Errorf("overlay: attach %s: this worker has no subnet yet: %w", instanceID, errdefs.ErrUnavailable)
	}
	ip, err := p.ipam.get(instanceID)
	if err != nil {
		return nil, fmt.Errorf("overlay: attach %s: %w", instanceID, err)
	}
	if p.prog != nil {
		if err := setLive(ip, true); err != nil {
			return nil, fmt.Errorf("overlay: attach %s: %w", instanceID, err)
		}
	}
	gw := subnet.Addr().Next().String()
	return &runtime.Network{
		Address: netip.PrefixFrom(ip, subnet.Bits()).String(),
		Gateway: gw,
		Bridge:  BridgeName,
		DNS:     []string{gw},
	}, nil
}

// Detach releases the instance's address; traffic to it is refused from
// now on and its flows are forgotten.
func (p *Plane) Detach(instanceID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.ipam.Addrs[instanceID]
	if !ok {
		return
	}
	if err := p.ipam.release(instanceID); err != nil {
		p.log.Warn("overlay: release address", "instance", instanceID, "error", err)
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || p.prog == nil {
		return
	}
	if err := setLive(ip, false); err != nil {
		p.log.Warn("overlay: detach", "instance", instanceID, "error", err)
	}
	if err := forgetFlows(ip); err != nil {
		p.log.Warn("overlay: forget flows", "instance", instanceID, "error", err)
	}
	if err := forgetNeighbour(ip); err != nil {
		p.log.Warn("overlay: forget neighbour", "instance", instanceID, "error", err)
	}
}

// Close stops the plane's goroutines and servers. The bridge, the VXLAN
// device, the routes and the table stay, so running instances keep their
// network while the worker restarts; the WireGuard tunnel lives in this
// process and stops with it.
func (p *Plane) Close() error {
	p.cancel()
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.res != nil {
		p.res.close()
		p.res = nil
	}
	if p.echo != nil {
		p.echo.Close()
		p.echo = nil
	}
	if p.wg != nil {
		p.wg.close()
		p.wg = nil
	}
	return nil
}

// Teardown closes the plane and removes everything it put in the kernel
// (for hedge node delete, and tests).
func (p *Plane) Teardown() error {
	err := p.Close()
	err = errors.Join(err, deleteTable())
	for _, n := range []string{VXLANName, WGName, BridgeName} {
		err = errors.Join(err, deleteLink(n))
	}
	p.mu.Lock()
	p.prog = nil
	p.mu.Unlock()
	return err
}
