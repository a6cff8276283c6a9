package overlay_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/overlay"
	"github.com/hedgeorch/hedge/internal/worker"
)

var _ worker.NetPlane = (*overlay.Plane)(nil)

// threeHosts is the lab of the issue: A and B in cluster 1, C in cluster 2.
// C's tunnel listens on another port than the others'.
func threeHosts(t *testing.T) (*lab, *host, *host, *host) {
	l := newLab(t)
	l.ports = map[string]int{"c": 4800}
	a := l.addHost("a", "c1", "10.18.1.0/24")
	b := l.addHost("b", "c1", "10.18.2.0/24")
	c := l.addHost("c", "c2", "10.18.17.0/24")
	return l, a, b, c
}

func mustWho(t *testing.T, ns, addr, want string) {
	t.Helper()
	got, err := who(t, ns, addr)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	if got != want {
		t.Fatalf("%s answered %q, want %q", addr, got, want)
	}
}

func TestLabInstancesReachEachOther(t *testing.T) {
	l, a, b, c := threeHosts(t)
	l.apply()
	a1, a2 := a.addInstance("a1"), a.addInstance("a2")
	b1, c1 := b.addInstance("b1"), c.addInstance("c1")
	cases := []struct {
		name string
		from string
		to   *instance
	}{
		{"same host", a1.ns, a2},
		{"same cluster", a1.ns, b1},
		{"other cluster", a1.ns, c1},
		{"back across clusters", c1.ns, a1},
		{"host process to remote instance", a.ns, c1},
		{"host process to own instance", b.ns, b1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustWho(t, tc.from, net.JoinHostPort(tc.to.ip, "80"), tc.to.id)
		})
	}
	t.Run("callee sees the caller's instance address", func(t *testing.T) {
		_, caller, err := whoSees(t, a1.ns, net.JoinHostPort(c1.ip, "80"))
		if err != nil {
			t.Fatal(err)
		}
		if caller != a1.ip {
			t.Fatalf("c1 sees the caller as %s, want a1's %s (overlay traffic is never masqueraded)", caller, a1.ip)
		}
	})
	t.Run("the world sees the host's address", func(t *testing.T) {
		// Host b's own underlay address is outside both ranges.
		var ln net.Listener
		var err error
		inNS(t, b.ns, func() { ln, err = net.Listen("tcp", b.ip+":0") })
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go serveEcho(ln, "world")
		_, caller, err := whoSees(t, a1.ns, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if caller != a.ip {
			t.Fatalf("the world sees a1 as %s, want host a's %s (masqueraded)", caller, a.ip)
		}
	})
	t.Run("a machine on the underlay cannot connect in", func(t *testing.T) {
		// A plain machine on the switch that routes the instance
		// network through host a.
		ns, in, out := l.Name("x"), l.Name("xi"), l.Name("xo")
		l.Run("ip", "netns", "add", ns)
		l.Run("ip", "link", "add", in, "type", "veth", "peer", "name", out)
		l.Run("ip", "link", "set", in, "netns", ns)
		l.Run("ip", "link", "set", out, "netns", l.Switch)
		l.In(l.Switch, "ip", "link", "set", out, "master", "br0", "up")
		l.In(ns, "ip", "addr", "add", l.Subnet+".250/24", "dev", in)
		l.In(ns, "ip", "link", "set", in, "up")
		l.In(ns, "ip", "route", "add", "10.18.0.0/16", "via", a.ip)
		// One-way (UDP): a TCP answer would be masqueraded on its way
		// out and fail anyway, proving nothing about the way in.
		var pc net.PacketConn
		var err error
		inNS(t, a1.ns, func() { pc, err = net.ListenPacket("udp4", ":9998") })
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		var c net.Conn
		inNS(t, ns, func() { c, err = net.Dial("udp4", net.JoinHostPort(a1.ip, "9998")) })
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("knock")); err != nil {
			t.Fatal(err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, from, err := pc.ReadFrom(make([]byte, 16)); err == nil {
			t.Fatalf("a1 received %d bytes from %s, a machine outside the overlay", n, from)
		}
		// Nor does it get answers from the gateway's resolver.
		var dc net.Conn
		inNS(t, ns, func() { dc, err = net.Dial("udp4", net.JoinHostPort(a1.gw, "53")) })
		if err != nil {
			t.Fatal(err)
		}
		defer dc.Close()
		q := new(dns.Msg)
		q.SetQuestion("nothing.x.y.hedge.", dns.TypeA) // answered at once, were it let in
		_ = dc.SetDeadline(time.Now().Add(2 * time.Second))
		d := &dns.Conn{Conn: dc}
		if err := d.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
		if r, err := d.ReadMsg(); err == nil {
			t.Fatalf("the gateway's resolver answered a machine outside the overlay: %v", r)
		}
		// The same datagram from an instance arrives (else the check
		// above proves nothing).
		inNS(t, b1.ns, func() { c, err = net.Dial("udp4", net.JoinHostPort(a1.ip, "9998")) })
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("knock")); err != nil {
			t.Fatal(err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := pc.ReadFrom(make([]byte, 16)); err != nil {
			t.Fatalf("a1 did not receive b1's datagram: %v", err)
		}
	})
	t.Run("address of no instance is refused at once", func(t *testing.T) {
		_, err := dial(t, a1.ns, "10.18.2.200:80")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect to an unused address: %v, want connection refused", err)
		}
	})
}

func TestLabRoundRobin(t *testing.T) {
	l, a, b, c := threeHosts(t)
	l.apply()
	client := a.addInstance("client")
	s1, s2, s3 := a.addInstance("s1"), b.addInstance("s2"), c.addInstance("s3")
	l.setService(netmap.Service{ID: "web", Name: "web", App: "shop", Namespace: "default",
		RRIP: "10.30.0.10", ClosestIP: "10.30.0.11", Instances: backends(s1, s2, s3)})
	l.apply()
	counts := map[string]int{}
	for i := 0; i < 300; i++ {
		if i == 100 || i == 200 {
			// A new revision of the same map changes nothing (were the
			// table rebuilt, the turn would start over and the counts
			// drift by two).
			l.apply()
		}
		id, err := who(t, client.ns, "10.30.0.10:80")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		counts[id]++
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		if n := counts[id]; n < 99 || n > 101 {
			t.Errorf("%s answered %d of 300 calls, want 100 ± 1 (all: %v)", id, n, counts)
		}
	}
	t.Logf("round robin over 3: %v", counts)
}

func TestLabClosest(t *testing.T) {
	l, a, b, c := threeHosts(t)
	l.apply()
	client := a.addInstance("client")
	near, site, far := a.addInstance("near"), b.addInstance("site"), c.addInstance("far")
	svc := netmap.Service{ID: "db", Name: "db", App: "shop", Namespace: "default", RRIP: "10.30.0.20", ClosestIP: "10.30.0.21"}
	steps := []struct {
		name string
		live []*instance
		want string
	}{
		{"own worker first", []*instance{near, site, far}, "near"},
		{"then the same cluster", []*instance{site, far}, "site"},
		{"then the other cluster", []*instance{far}, "far"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			svc.Instances = backends(st.live...)
			l.setService(svc)
			l.apply()
			for i := 0; i < 10; i++ {
				mustWho(t, client.ns, "10.30.0.21:80", st.want)
			}
			// A host process gets the same answer.
			mustWho(t, a.ns, "10.30.0.21:80", st.want)
		})
	}
	t.Run("round trips to every peer are measured", func(t *testing.T) {
		// Probes run every 500ms in the lab; wait for a round with both.
		var rtts map[string]time.Duration
		for i := 0; i < 100; i++ {
			rtts = a.call(request{Op: "rtts"}).RTTs
			if rtts["b"] > 0 && rtts["c"] > 0 {
				t.Logf("round trips from a: %v", rtts)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("round trips from a: %v, want b and c", rtts)
	})
	t.Run("no instance left: refused", func(t *testing.T) {
		svc.Instances = nil
		l.setService(svc)
		l.apply()
		if _, err := dial(t, client.ns, "10.30.0.21:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect to a service with no instance: %v, want connection refused", err)
		}
	})
}

func TestLabRemovedBackendFailsFast(t *testing.T) {
	l, a, b, c := threeHosts(t)
	l.apply()
	client := a.addInstance("client")
	x, y := b.addInstance("x"), c.addInstance("y")
	svc := netmap.Service{ID: "api", Name: "api", App: "shop", Namespace: "default", RRIP: "10.30.0.30", ClosestIP: "10.30.0.31",
		Instances: backends(x, y)}
	l.setService(svc)
	l.apply()
	// Hold a connection to x through the service address.
	var held net.Conn
	for i := 0; i < 4 && held == nil; i++ {
		conn, err := dial(t, client.ns, "10.30.0.30:80")
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "x ") {
			held = conn
		} else {
			conn.Close()
		}
	}
	if held == nil {
		t.Fatal("no connection reached x")
	}
	defer held.Close()

	x.kill()
	svc.Instances = backends(y)
	l.setService(svc)
	l.apply()

	t.Run("the held connection fails at once", func(t *testing.T) {
		_ = held.SetDeadline(time.Now().Add(10 * time.Second))
		_, err := held.Write([]byte("ping\n"))
		if err == nil {
			_, err = held.Read(make([]byte, 16))
		}
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("the connection to a removed instance: %v, want it reset", err)
		}
	})
	t.Run("new connections reach the live instance", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			mustWho(t, client.ns, "10.30.0.30:80", "y")
		}
	})
	t.Run("the dead instance's address is refused", func(t *testing.T) {
		if _, err := dial(t, client.ns, net.JoinHostPort(x.ip, "80")); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect to the removed instance: %v, want connection refused", err)
		}
	})
}

func TestLabIsolation(t *testing.T) {
	l, a, b, c := threeHosts(t)
	l.apply()
	prod1, prod2 := c.addInstance("prod1"), a.addInstance("prod2")
	dev, ops := a.addInstance("dev"), b.addInstance("ops")
	l.setService(netmap.Service{ID: "p", Name: "p", App: "app", Namespace: "prod", RRIP: "10.30.1.1", ClosestIP: "10.30.1.2", Instances: backends(prod1, prod2)})
	l.setService(netmap.Service{ID: "d", Name: "d", App: "app", Namespace: "dev", RRIP: "10.30.1.3", ClosestIP: "10.30.1.4", Instances: backends(dev)})
	l.setService(netmap.Service{ID: "o", Name: "o", App: "app", Namespace: "ops", RRIP: "10.30.1.5", ClosestIP: "10.30.1.6", Instances: backends(ops)})
	l.mu.Lock()
	l.isolated = []netmap.Isolation{{Namespace: "prod", Allow: []string{"ops"}}}
	l.mu.Unlock()
	l.apply()
	refused := []struct {
		name string
		from *instance
		addr string
	}{
		{"other namespace, other cluster", dev, net.JoinHostPort(prod1.ip, "80")},
		{"other namespace, same worker", dev, net.JoinHostPort(prod2.ip, "80")},
	}
	for _, tc := range refused {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			if _, err := dial(t, tc.from.ns, tc.addr); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dev -> %s: %v, want refused", tc.addr, err)
			}
		})
	}
	t.Run("not reached: other namespace, through the service address", func(t *testing.T) {
		// The closest address goes to prod2 on dev's own worker, the
		// round robin one to both; a connection translated on the same
		// worker is dropped (not refused), the others are refused.
		for _, addr := range []string{"10.30.1.2:80", "10.30.1.1:80", "10.30.1.1:80"} {
			if id, err := who(t, dev.ns, addr); err == nil {
				t.Fatalf("dev reached %s through %s", id, addr)
			}
		}
	})
	t.Run("allowed: own namespace", func(t *testing.T) { mustWho(t, prod2.ns, net.JoinHostPort(prod1.ip, "80"), "prod1") })
	t.Run("allowed: a namespace in allow", func(t *testing.T) { mustWho(t, ops.ns, net.JoinHostPort(prod1.ip, "80"), "prod1") })
	t.Run("not isolated: prod reaches dev", func(t *testing.T) { mustWho(t, prod1.ns, net.JoinHostPort(dev.ip, "80"), "dev") })
}

func TestLabDNS(t *testing.T) {
	l, a, _, c := threeHosts(t)
	l.apply()
	client := a.addInstance("client")
	s := c.addInstance("s") // in the other cluster
	l.setService(netmap.Service{ID: "web", Name: "web", App: "shop", Namespace: "default", RRIP: "10.30.0.40", ClosestIP: "10.30.0.41", Instances: backends(s)})
	l.apply()
	cases := []struct {
		name  string
		q     string
		want  string
		rcode int
	}{
		{"service name", netmap.Name("web", "shop", "default"), "10.30.0.40", 0},
		{"closest name", "closest." + netmap.Name("web", "shop", "default"), "10.30.0.41", 0},
		{"unknown name", netmap.Name("nope", "shop", "default"), "", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, proto := range []string{"udp", "tcp"} {
				got, rcode := lookup(t, client.ns, client.gw, proto, tc.q)
				if rcode != tc.rcode || got != tc.want {
					t.Fatalf("%s %s: %q rcode %d, want %q rcode %d", proto, tc.q, got, rcode, tc.want, tc.rcode)
				}
			}
		})
	}
	t.Run("the name connects", func(t *testing.T) {
		ip, _ := lookup(t, client.ns, client.gw, "udp", netmap.Name("web", "shop", "default"))
		mustWho(t, client.ns, net.JoinHostPort(ip, "80"), "s")
	})
}

func TestLabWireGuard(t *testing.T) {
	l := newLab(t)
	l.encrypt = true
	a := l.addHost("a", "c1", "10.18.1.0/24")
	b := l.addHost("b", "c2", "10.18.17.0/24")
	l.apply()
	a1, b1 := a.addInstance("a1"), b.addInstance("b1")
	l.setService(netmap.Service{ID: "web", Name: "web", App: "shop", Namespace: "default", RRIP: "10.30.0.50", ClosestIP: "10.30.0.51", Instances: backends(b1)})
	l.apply()
	mustWho(t, a1.ns, net.JoinHostPort(b1.ip, "80"), "b1")
	mustWho(t, b1.ns, net.JoinHostPort(a1.ip, "80"), "a1")
	mustWho(t, a1.ns, "10.30.0.50:80", "b1")
	mustWho(t, a.ns, "10.30.0.51:80", "b1")
	// Nothing in the clear: no VXLAN device carries it.
	if out, err := execIn(a.ns, "ip", "-o", "link", "show", overlay.VXLANName); err == nil {
		t.Fatalf("encrypted mode left %s up: %s", overlay.VXLANName, out)
	}
}

func TestLabWorkerRestartKeepsAddresses(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "c1", "10.18.1.0/24")
	b := l.addHost("b", "c1", "10.18.2.0/24")
	l.apply()
	a1, b1 := a.addInstance("a1"), b.addInstance("b1")
	key := a.tunnel.PublicKey
	a.stop()
	t.Run("instances keep their network while the plane is down", func(t *testing.T) {
		mustWho(t, b1.ns, net.JoinHostPort(a1.ip, "80"), "a1")
	})
	a.start()
	l.apply()
	t.Run("same address and key after the restart", func(t *testing.T) {
		if a.tunnel.PublicKey != key {
			t.Fatal("the WireGuard key changed across a restart")
		}
		nw := a.call(request{Op: "attach", Instance: "a1"}).Network
		if nw.Address != a1.ip+"/24" {
			t.Fatalf("a1 got %s after the restart, had %s", nw.Address, a1.ip)
		}
		a2 := a.addInstance("a2")
		if a2.ip == a1.ip {
			t.Fatal("a new instance got a1's address")
		}
		mustWho(t, a1.ns, net.JoinHostPort(b1.ip, "80"), "b1")
		mustWho(t, b1.ns, net.JoinHostPort(a2.ip, "80"), "a2")
	})
}

func TestLabVXLANOnlyFromPeers(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "c1", "10.18.1.0/24")
	b := l.addHost("b", "c1", "10.18.2.0/24")
	l.apply()
	a1 := a.addInstance("a1")
	var pc net.PacketConn
	var err error
	inNS(t, a1.ns, func() { pc, err = net.ListenPacket("udp4", ":9999") })
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// A VXLAN packet carrying UDP to a1, as if from an instance of b.
	frame := vxlanFrame(netip.MustParsePrefix(b.subnet), netip.MustParsePrefix(a.subnet),
		netip.MustParseAddr("10.18.2.77"), netip.MustParseAddr(a1.ip), []byte("smuggled"))
	send := func(ns string) {
		t.Helper()
		var c net.Conn
		if ns == "" {
			c, err = net.Dial("udp4", a.ip+":4789")
		} else {
			inNS(t, ns, func() { c, err = net.Dial("udp4", a.ip+":4789") })
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	got := func() string {
		buf := make([]byte, 64)
		_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	t.Run("from a host not in the map: dropped", func(t *testing.T) {
		send("") // the test's own port on the switch
		if s := got(); s != "" {
			t.Fatalf("a1 received %q from a non-peer's VXLAN packet", s)
		}
	})
	t.Run("the same packet from a peer's address: delivered", func(t *testing.T) {
		send(b.ns)
		if s := got(); s != "smuggled" {
			t.Fatalf("a1 received %q, want the packet (the check above proves nothing otherwise)", s)
		}
	})
}

// vxlanFrame is a VXLAN packet (VNI 1) with an Ethernet frame from the
// tunnel device of subnet from to that of subnet to, carrying UDP src ->
// dst:9999.
func vxlanFrame(from, to netip.Prefix, src, dst netip.Addr, payload []byte) []byte {
	mac := func(p netip.Prefix) []byte { a := p.Addr().As4(); return []byte{0x0e, 0x6f, a[0], a[1], a[2], a[3]} }
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], 5555)
	binary.BigEndian.PutUint16(udp[2:], 9999)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	out := []byte{0x08, 0, 0, 0, 0, 0, 1, 0}
	out = append(out, mac(to)...)
	out = append(out, mac(from)...)
	out = append(out, 0x08, 0x00)
	out = append(out, ip...)
	return append(out, udp...)
}

func TestLabTeardownRemovesDevices(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "c1", "10.18.1.0/24")
	l.addHost("b", "c1", "10.18.2.0/24")
	l.apply()
	for _, dev := range []string{overlay.BridgeName, overlay.VXLANName} {
		if out, err := execIn(a.ns, "ip", "link", "show", dev); err != nil {
			t.Fatalf("%s missing after apply: %s", dev, out)
		}
	}
	a.call(request{Op: "teardown"})
	if err := a.cmd.Wait(); err != nil {
		t.Fatalf("plane after teardown: %v", err)
	}
	a.cmd = nil
	for _, dev := range []string{overlay.BridgeName, overlay.VXLANName, overlay.WGName} {
		if out, err := execIn(a.ns, "ip", "link", "show", dev); err == nil {
			t.Fatalf("%s still there after teardown: %s", dev, out)
		}
	}
	if out, _ := execIn(a.ns, "ip", "route", "show", "10.30.0.0/16"); len(out) > 0 {
		t.Fatalf("service route still there after teardown: %s", out)
	}
}

func TestLabDNSForwardsOtherNames(t *testing.T) {
	l := newLab(t)
	// The host's resolver, as its resolv.conf names it (ip netns exec
	// mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf).
	up := l.Subnet + ".254"
	pc, err := net.ListenPacket("udp4", up+":53")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "example.test." {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5},
				A: net.ParseIP("192.0.2.99")})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	defer func() { _ = srv.Shutdown() }()
	etc := "/etc/netns/ho" + l.ID + "a"
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(etc)
	if err := os.WriteFile(etc+"/resolv.conf", []byte("nameserver 127.0.0.53\nnameserver "+up+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := l.addHost("a", "c1", "10.18.1.0/24")
	l.apply()
	client := a.addInstance("client")
	if ip, rcode := lookup(t, client.ns, client.gw, "udp", "example.test"); ip != "192.0.2.99" {
		t.Fatalf("example.test through the gateway: %q rcode %d, want the host resolver's 192.0.2.99 (loopback servers skipped)", ip, rcode)
	}
}

func TestLabCallsItsOwnService(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "c1", "10.18.1.0/24")
	l.apply()
	me, other := a.addInstance("me"), a.addInstance("other")
	l.setService(netmap.Service{ID: "s", Name: "s", App: "x", Namespace: "n", RRIP: "10.30.0.60", ClosestIP: "10.30.0.61", Instances: backends(me, other)})
	l.apply()
	counts := map[string]int{}
	for i := 0; i < 10; i++ {
		id, err := who(t, me.ns, "10.30.0.60:80")
		if err != nil {
			t.Fatalf("call %d through its own service's address: %v", i, err)
		}
		counts[id]++
	}
	if counts["me"] != 5 || counts["other"] != 5 {
		t.Fatalf("answers %v, want 5 from itself and 5 from the other", counts)
	}
}
