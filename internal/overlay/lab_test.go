package overlay_test

// The lab: hosts are network namespaces joined by a switch (a bridge in a
// namespace of its own), each running a real Plane in a helper process
// (this test binary, re-executed under ip netns exec, driven over a unix
// socket). Instances are network namespaces with a veth on their host's
// bridge and the address their host's Plane gave them.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"
	"go.uber.org/goleak"

	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/overlay"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/test/testkit"
)

const helperEnv = "HEDGE_OVERLAY_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	goleak.VerifyTestMain(m)
}

// request and reply are the helper's protocol: one JSON request per
// connection, one reply.
type request struct {
	Op       string      `json:"op"` // apply, attach, detach, tunnel, rtts, teardown
	Map      *netmap.Map `json:"map,omitempty"`
	Instance string      `json:"instance,omitempty"`
}

type reply struct {
	Err     string                   `json:"err,omitempty"`
	Network *runtime.Network         `json:"network,omitempty"`
	Tunnel  *netmap.TunnelInfo       `json:"tunnel,omitempty"`
	RTTs    map[string]time.Duration `json:"rtts,omitempty"`
}

// runHelper is the helper process: one Plane, served on a unix socket.
func runHelper() int {
	var cfg overlay.Config
	if err := json.Unmarshal([]byte(os.Getenv(helperEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	sock := filepath.Join(cfg.DataDir, "helper.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; ln.Close() }()
	// Everything the plane starts must be gone after Close and Teardown.
	mine := goleak.IgnoreCurrent()
	leaked := func() int {
		if err := goleak.Find(mine); err != nil {
			fmt.Fprintln(os.Stderr, "helper: goroutines left after the plane closed:", err)
			return 3
		}
		return 0
	}
	p, err := overlay.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			_ = p.Close()
			return leaked()
		}
		var req request
		var rep reply
		if err := json.NewDecoder(c).Decode(&req); err != nil {
			rep.Err = err.Error()
		}
		switch req.Op {
		case "apply":
			if err := p.Apply(context.Background(), req.Map); err != nil {
				rep.Err = err.Error()
			}
		case "attach":
			n, err := p.Attach(req.Instance)
			if err != nil {
				rep.Err = err.Error()
			}
			rep.Network = n
		case "detach":
			p.Detach(req.Instance)
		case "tunnel":
			rep.Tunnel = p.Tunnel()
		case "rtts":
			rep.RTTs = p.RTTs()
		case "teardown":
			if err := p.Teardown(); err != nil {
				rep.Err = err.Error()
			}
		}
		_ = json.NewEncoder(c).Encode(rep)
		c.Close()
		if req.Op == "teardown" {
			ln.Close()
			return leaked()
		}
	}
}

type lab struct {
	*testkit.NetLab
	t     testing.TB
	hosts []*host
	n     int // instances made

	mu       sync.Mutex
	services []netmap.Service
	isolated []netmap.Isolation
	encrypt  bool
	// ports are tunnel ports other than the default, by host name.
	ports map[string]int
}

type host struct {
	lab     *lab
	name    string
	ns      string
	ip      string
	cluster string
	subnet  string
	dir     string
	cmd     *exec.Cmd
	tunnel  *netmap.TunnelInfo
}

type instance struct {
	id   string
	host *host
	ns   string
	ip   string
	gw   string
	veth string
	ln   net.Listener
}

func newLab(t testing.TB) *lab {
	t.Helper()
	l := &lab{NetLab: testkit.NewNetLab(t, "ho", "10.252"), t: t}
	// Registered after the NetLab's Close, so it runs first: the planes
	// tear down while their namespaces still stand.
	t.Cleanup(l.close)
	return l
}

// addHost adds a machine with a running Plane; subnet is its share of the
// instance network.
func (l *lab) addHost(name, cluster, subnet string) *host {
	l.t.Helper()
	h := &host{lab: l, name: name, cluster: cluster, subnet: subnet}
	// Not t.TempDir: that would be removed before the lab's cleanup asks
	// the planes to tear down over their sockets in it.
	dir, err := os.MkdirTemp("", "overlay-"+name+"-")
	if err != nil {
		l.t.Fatal(err)
	}
	h.dir = dir
	h.ns, h.ip, _ = l.AddHost(name)
	l.hosts = append(l.hosts, h)
	h.start()
	return h
}

// start runs the host's Plane.
func (h *host) start() {
	t := h.lab.t
	t.Helper()
	cfg, _ := json.Marshal(overlay.Config{DataDir: h.dir, TunnelAddr: h.ip, TunnelPort: h.lab.ports[h.name], ProbeInterval: 500 * time.Millisecond})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(h.dir, "helper.sock"))
	logf, err := os.Create(filepath.Join(h.dir, "plane.log"))
	if err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command("ip", "netns", "exec", h.ns, self, "-test.run=^$")
	h.cmd.Env = append(os.Environ(), helperEnv+"="+string(cfg))
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	// A plane outliving a killed test would hold its namespace.
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		// Dial, not stat: the socket's file exists from bind on, a moment
		// before the helper listens (CI once got "connection refused").
		if c, err := net.Dial("unix", filepath.Join(h.dir, "helper.sock")); err == nil {
			_ = c.Close()
			break
		}
		if i > 200 {
			b, _ := os.ReadFile(filepath.Join(h.dir, "plane.log"))
			t.Fatalf("plane on %s did not start:\n%s", h.name, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.tunnel = h.call(request{Op: "tunnel"}).Tunnel
}

// stop ends the host's Plane process (its kernel state stays, as when a
// worker restarts); the process fails if the plane left goroutines.
func (h *host) stop() {
	if h.cmd == nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	if err := h.cmd.Wait(); err != nil {
		b, _ := os.ReadFile(filepath.Join(h.dir, "plane.log"))
		h.lab.t.Errorf("plane on %s: %v\n%s", h.name, err, b)
	}
	h.cmd = nil
}

func (h *host) call(req request) reply {
	h.lab.t.Helper()
	rep, err := h.try(req)
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(h.dir, "plane.log"))
		h.lab.t.Fatalf("%s on %s: %v\nplane log:\n%s", req.Op, h.name, err, b)
	}
	return rep
}

func (h *host) try(req request) (reply, error) {
	var rep reply
	c, err := net.Dial("unix", filepath.Join(h.dir, "helper.sock"))
	if err != nil {
		return rep, err
	}
	defer c.Close()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return rep, err
	}
	if err := json.NewDecoder(c).Decode(&rep); err != nil {
		return rep, err
	}
	if rep.Err != "" {
		return rep, fmt.Errorf("%s", rep.Err)
	}
	return rep, nil
}

// mapFor is the lab's map as h's cluster would serve it to h.
func (l *lab) mapFor(h *host, rev uint64) *netmap.Map {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := &netmap.Map{Revision: rev, InstanceCIDR: netmap.DefaultInstanceCIDR, ServiceCIDR: netmap.DefaultServiceCIDR,
		Encrypt: l.encrypt, Self: netmap.Self{ID: h.name, Subnet: h.subnet}, Isolated: l.isolated}
	for _, o := range l.hosts {
		m.Workers = append(m.Workers, netmap.Worker{ID: o.name, Name: o.name, Cluster: o.cluster, Subnet: o.subnet,
			Endpoint: o.tunnel.Endpoint, PublicKey: o.tunnel.PublicKey})
	}
	m.Services = append(m.Services, l.services...)
	return m
}

var revision uint64

// apply sends the current map to every host.
func (l *lab) apply() {
	l.t.Helper()
	revision++
	for _, h := range l.hosts {
		h.call(request{Op: "apply", Map: l.mapFor(h, revision)})
	}
}

// setService adds or replaces a service in the lab's map (not applied).
func (l *lab) setService(s netmap.Service) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.services {
		if l.services[i].ID == s.ID {
			l.services[i] = s
			return
		}
	}
	l.services = append(l.services, s)
}

func backends(is ...*instance) []netmap.Backend {
	var out []netmap.Backend
	for _, i := range is {
		out = append(out, netmap.Backend{InstanceID: i.id, IP: i.ip, Worker: i.host.name})
	}
	return out
}

// addInstance makes an instance on h: a namespace on h's bridge with the
// address h's Plane attached, serving TCP port 80 (it writes its id, then
// echoes) and UDP port 9999 (it records what arrives).
func (h *host) addInstance(id string) *instance {
	l := h.lab
	l.t.Helper()
	l.n++
	nw := h.call(request{Op: "attach", Instance: id}).Network
	in := &instance{id: id, host: h, ns: l.Name(fmt.Sprintf("i%d", l.n)), gw: nw.Gateway, veth: l.Name(fmt.Sprintf("a%d", l.n))}
	in.ip = strings.Split(nw.Address, "/")[0]
	peerName := l.Name(fmt.Sprintf("b%d", l.n))
	l.Run("ip", "netns", "add", in.ns)
	l.Run("ip", "link", "add", in.veth, "type", "veth", "peer", "name", peerName)
	l.Run("ip", "link", "set", in.veth, "netns", h.ns)
	l.Run("ip", "link", "set", peerName, "netns", in.ns)
	l.In(h.ns, "ip", "link", "set", in.veth, "master", nw.Bridge, "up")
	l.In(in.ns, "ip", "link", "set", peerName, "name", "eth0")
	l.In(in.ns, "ip", "addr", "add", nw.Address, "dev", "eth0")
	l.In(in.ns, "ip", "link", "set", "eth0", "up")
	l.In(in.ns, "ip", "link", "set", "lo", "up")
	l.In(in.ns, "ip", "route", "add", "default", "via", nw.Gateway)
	var err error
	inNS(l.t, in.ns, func() { in.ln, err = net.Listen("tcp", ":80") })
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { in.ln.Close() })
	go serveEcho(in.ln, id)
	var sink net.Listener
	inNS(l.t, in.ns, func() { sink, err = net.Listen("tcp", ":81") })
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { sink.Close() })
	go serveSink(sink)
	return in
}

// serveSink reads until the caller closes its side, then answers one byte
// (for throughput: the caller knows everything arrived).
func serveSink(ln net.Listener) {
	serve(ln, func(c net.Conn) {
		buf := make([]byte, 256<<10)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		_, _ = c.Write([]byte{1})
	})
}

// kill takes the instance off its host's bridge and releases its address,
// as a stop does.
func (in *instance) kill() {
	in.host.lab.In(in.host.ns, "ip", "link", "del", in.veth)
	in.host.call(request{Op: "detach", Instance: in.id})
}

func serveEcho(ln net.Listener, id string) {
	serve(ln, func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		fmt.Fprintf(c, "%s %s\n", id, host)
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
}

// serve runs handle for each connection of ln; when ln is closed, it
// closes the connections still open (a peer that vanished never closes
// its side) and waits for the handlers.
func serve(ln net.Listener, handle func(net.Conn)) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	open := map[net.Conn]bool{}
	defer func() {
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		open[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { mu.Lock(); delete(open, c); mu.Unlock(); c.Close() }()
			handle(c)
		}()
	}
}

// inNS runs fn on a thread in the named network namespace: sockets made in
// fn belong to that namespace for their whole life.
func inNS(t testing.TB, name string, fn func()) {
	t.Helper()
	goruntime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		goruntime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		goruntime.UnlockOSThread()
		t.Fatalf("namespace %s: %v", name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		goruntime.UnlockOSThread()
		t.Fatal(err)
	}
	fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with the goroutine instead of
		// serving others in the wrong namespace.
		t.Fatal(err)
	}
	goruntime.UnlockOSThread()
}

// dial connects from namespace ns to addr (ip:port).
func dial(t testing.TB, ns, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	inNS(t, ns, func() { c, err = net.DialTimeout("tcp", addr, 5*time.Second) })
	return c, err
}

// who asks the instance answering at addr for its id.
func who(t testing.TB, ns, addr string) (string, error) {
	id, _, err := whoSees(t, ns, addr)
	return id, err
}

// whoSees asks the instance answering at addr for its id and the address
// it sees the caller come from.
func whoSees(t testing.TB, ns, addr string) (id, caller string, err error) {
	c, err := dial(t, ns, addr)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	f := strings.Fields(line)
	if len(f) != 2 {
		return "", "", fmt.Errorf("answer %q: %v", line, err)
	}
	return f[0], f[1], nil
}

// lookup asks the resolver at server (from namespace ns) for name's A
// record.
func lookup(t testing.TB, ns, server, proto, name string) (string, int) {
	t.Helper()
	var c net.Conn
	var err error
	inNS(t, ns, func() { c, err = net.DialTimeout(proto, net.JoinHostPort(server, "53"), 5*time.Second) })
	if err != nil {
		t.Fatalf("resolver %s: %v", server, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	dc := &dns.Conn{Conn: c}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	if err := dc.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	r, err := dc.ReadMsg()
	if err != nil {
		t.Fatalf("%s query %s: %v", proto, name, err)
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String(), r.Rcode
		}
	}
	return "", r.Rcode
}

func execIn(ns string, args ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
}

func (l *lab) close() {
	for _, h := range l.hosts {
		if h.cmd != nil {
			if _, err := h.try(request{Op: "teardown"}); err != nil {
				l.t.Errorf("teardown on %s: %v", h.name, err)
				_ = h.cmd.Process.Signal(syscall.SIGTERM)
			}
			if err := h.cmd.Wait(); err != nil {
				b, _ := os.ReadFile(filepath.Join(h.dir, "plane.log"))
				l.t.Errorf("plane on %s: %v\n%s", h.name, err, b)
			}
			h.cmd = nil
		}
	}
	for _, h := range l.hosts {
		_ = os.RemoveAll(h.dir)
	}
}
