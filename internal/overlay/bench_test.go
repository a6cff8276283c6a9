package overlay_test

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/netmap"
)

// The benchmarks print what a user compares: TCP stream throughput (MB/s)
// and request/response round trips (µs/op) between two instances on one
// worker, on two workers (VXLAN, WireGuard), by instance address and by
// service address, next to two plain namespaces joined by a veth pair (the
// floor). Nothing is asserted. Run:
//
//	go test ./internal/overlay -run '^$' -bench . -benchtime 2s

const chunk = 64 << 10

// benchStream sends b.N chunks from ns to addr's sink (port 81).
func benchStream(b *testing.B, ns, host string) {
	b.Helper()
	c, err := dial(b, ns, net.JoinHostPort(host, "81"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// benchRR does b.N one-byte request/response exchanges with addr's echo
// server (port 80).
func benchRR(b *testing.B, ns, host string) {
	b.Helper()
	c, err := dial(b, ns, net.JoinHostPort(host, "80"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetNoDelay(true)
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	one := []byte{'x'}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(one); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadByte(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/rr")
}

func BenchmarkLab(b *testing.B) {
	l := newLab(b)
	a := l.addHost("a", "c1", "10.18.1.0/24")
	bh := l.addHost("b", "c2", "10.18.17.0/24")
	l.apply()
	a1, a2, b1 := a.addInstance("a1"), a.addInstance("a2"), bh.addInstance("b1")
	l.setService(netmap.Service{ID: "same", Name: "same", App: "x", Namespace: "n", RRIP: "10.30.0.1", ClosestIP: "10.30.0.2", Instances: backends(a2)})
	l.setService(netmap.Service{ID: "far", Name: "far", App: "x", Namespace: "n", RRIP: "10.30.0.3", ClosestIP: "10.30.0.4", Instances: backends(b1)})
	l.apply()
	floor := l.floor()
	// The underlay between the two hosts (over the switch) is the floor of
	// traffic between workers.
	var echo, sink net.Listener
	var err1, err2 error
	inNS(b, bh.ns, func() {
		echo, err1 = net.Listen("tcp", bh.ip+":80")
		sink, err2 = net.Listen("tcp", bh.ip+":81")
	})
	if err1 != nil || err2 != nil {
		b.Fatal(err1, err2)
	}
	defer echo.Close()
	defer sink.Close()
	go serveEcho(echo, "underlay")
	go serveSink(sink)

	pairs := []struct{ name, ns, to string }{
		{"floor-veth", floor.ns, floor.ip},
		{"floor-underlay", a.ns, bh.ip},
		{"one-worker/instance-ip", a1.ns, a2.ip},
		{"one-worker/service-ip", a1.ns, "10.30.0.1"},
		{"two-workers-vxlan/instance-ip", a1.ns, b1.ip},
		{"two-workers-vxlan/service-ip", a1.ns, "10.30.0.3"},
	}
	for _, p := range pairs {
		b.Run(p.name+"/stream", func(b *testing.B) { benchStream(b, p.ns, p.to) })
		b.Run(p.name+"/rr", func(b *testing.B) { benchRR(b, p.ns, p.to) })
	}

	b.Run("apply-to-answer", func(b *testing.B) {
		var total time.Duration
		for i := 0; i < b.N; i++ {
			svc := netmap.Service{ID: fmt.Sprintf("new%d", i), Name: fmt.Sprintf("new%d", i), App: "x", Namespace: "n",
				RRIP: fmt.Sprintf("10.30.2.%d", 1+i%250), ClosestIP: fmt.Sprintf("10.30.3.%d", 1+i%250), Instances: backends(b1)}
			l.setService(svc)
			start := time.Now()
			l.apply()
			for {
				if _, err := who(b, a1.ns, svc.RRIP+":80"); err == nil {
					break
				}
			}
			total += time.Since(start)
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/apply-to-answer")
	})

	// The same between two workers with WireGuard.
	l.mu.Lock()
	l.encrypt = true
	l.mu.Unlock()
	l.apply()
	for _, p := range []struct{ name, ns, to string }{
		{"two-workers-wireguard/instance-ip", a1.ns, b1.ip},
		{"two-workers-wireguard/service-ip", a1.ns, "10.30.0.3"},
	} {
		b.Run(p.name+"/stream", func(b *testing.B) { benchStream(b, p.ns, p.to) })
		b.Run(p.name+"/rr", func(b *testing.B) { benchRR(b, p.ns, p.to) })
	}
}

// floor is two plain namespaces over a veth pair, serving as instances do;
// it returns the client's side as an instance (ns) and the server's address.
func (l *lab) floor() *instance {
	l.t.Helper()
	cns, sns := l.Name("fc"), l.Name("fs")
	cv, sv := l.Name("fv1"), l.Name("fv2")
	l.Run("ip", "netns", "add", cns)
	l.Run("ip", "netns", "add", sns)
	l.Run("ip", "link", "add", cv, "type", "veth", "peer", "name", sv)
	l.Run("ip", "link", "set", cv, "netns", cns)
	l.Run("ip", "link", "set", sv, "netns", sns)
	l.In(cns, "ip", "addr", "add", "10.99.0.1/24", "dev", cv)
	l.In(sns, "ip", "addr", "add", "10.99.0.2/24", "dev", sv)
	for _, ns := range []string{cns, sns} {
		l.In(ns, "ip", "link", "set", "lo", "up")
	}
	l.In(cns, "ip", "link", "set", cv, "up")
	l.In(sns, "ip", "link", "set", sv, "up")
	var echo, sink net.Listener
	var err1, err2 error
	inNS(l.t, sns, func() {
		echo, err1 = net.Listen("tcp", ":80")
		sink, err2 = net.Listen("tcp", ":81")
	})
	if err1 != nil || err2 != nil {
		l.t.Fatal(err1, err2)
	}
	l.t.Cleanup(func() { echo.Close(); sink.Close() })
	go serveEcho(echo, "floor")
	go serveSink(sink)
	return &instance{id: "floor", ns: cns, ip: "10.99.0.2"}
}
