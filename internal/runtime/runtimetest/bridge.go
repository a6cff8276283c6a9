package runtimetest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// Bridge is a host bridge made for one test, standing in for the instance
// network's bridge (internal/overlay): it holds the gateway address, as the
// overlay's does.
type Bridge struct {
	Name    string
	Gateway netip.Addr
	Prefix  netip.Prefix // the bridge's /24
}

// NewBridge creates a bridge named after prefix (at most 15 characters with
// a random suffix) on a free /24 of 10.18.192.0/18 with the gateway address
// .1, and removes it, with the FORWARD rules the drivers added for it, when
// the test ends. It skips the test when ip(8) is missing, and fails it when
// the bridge cannot be made.
func NewBridge(t testing.TB, prefix string) *Bridge {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command: apt-get install iproute2")
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	name := fmt.Sprintf("%s%x", prefix, binary.BigEndian.Uint32(r[:]))
	if len(name) > 15 {
		name = name[:15]
	}
	pfx := freeSubnet(t)
	gw := pfx.Addr().Next()
	run(t, "ip", "link", "add", name, "type", "bridge")
	t.Cleanup(func() {
		for _, rule := range runtime.ForwardRules(name) {
			_ = exec.Command("iptables", append([]string{"-w", "-t", "filter", "-D", "FORWARD"}, rule...)...).Run()
		}
		if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
			t.Errorf("remove bridge %s: %v: %s", name, err, out)
		}
	})
	run(t, "ip", "addr", "add", netip.PrefixFrom(gw, pfx.Bits()).String(), "dev", name)
	run(t, "ip", "link", "set", name, "up")
	return &Bridge{Name: name, Gateway: gw, Prefix: pfx}
}

// Network is the instance network of host n (.2 to .254) on the bridge, with
// dns as its name servers.
func (b *Bridge) Network(n int, dns ...string) *runtime.Network {
	a := b.Prefix.Addr().As4()
	a[3] = byte(n)
	return &runtime.Network{
		Address: netip.PrefixFrom(netip.AddrFrom4(a), b.Prefix.Bits()).String(),
		Gateway: b.Gateway.String(),
		Bridge:  b.Name,
		DNS:     dns,
	}
}

// Ports lists the devices attached to the bridge (veths, taps), sorted.
func (b *Bridge) Ports(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("/sys/class/net", b.Name, "brif"))
	if err != nil {
		t.Fatalf("ports of bridge %s: %v", b.Name, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// Addresses lists the bridge's IPv4 addresses with their prefixes.
func (b *Bridge) Addresses(t testing.TB) []string {
	t.Helper()
	ifc, err := net.InterfaceByName(b.Name)
	if err != nil {
		t.Fatalf("bridge %s: %v", b.Name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		t.Fatalf("addresses of bridge %s: %v", b.Name, err)
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			out = append(out, n.String())
		}
	}
	return out
}

// HostAddress is an IPv4 address of this host outside the instance network's
// ranges (10.18.0.0/16) and not loopback: an instance reaches it only through
// its default route. It skips the test when the host has none.
func HostAddress(t testing.TB) netip.Addr {
	t.Helper()
	addrs, _ := net.InterfaceAddrs()
	inst := netip.MustParsePrefix("10.18.0.0/16")
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP.To4())
		if ok && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !inst.Contains(ip) {
			return ip
		}
	}
	t.Skip("this host has no IPv4 address besides loopback")
	return netip.Addr{}
}

// freeSubnet picks a /24 of 10.18.192.0/18 that no route of this host
// covers.
func freeSubnet(t testing.TB) netip.Prefix {
	t.Helper()
	routes := hostRoutes(t)
	for i := 0; i < 64; i++ {
		var r [1]byte
		_, _ = rand.Read(r[:])
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 18, 192 + r[0]%63, 0}), 24)
		if !slices.ContainsFunc(routes, func(q netip.Prefix) bool { return q.Bits() > 0 && q.Overlaps(p) }) {
			return p
		}
	}
	t.Fatal("no free /24 in 10.18.192.0/18")
	return netip.Prefix{}
}

// hostRoutes reads the IPv4 routing table's destinations.
func hostRoutes(t testing.TB) []netip.Prefix {
	t.Helper()
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] == "Iface" {
			continue
		}
		var dst, mask uint32
		if _, err := fmt.Sscanf(f[1]+" "+f[7], "%x %x", &dst, &mask); err != nil {
			continue
		}
		var d, m [4]byte
		binary.LittleEndian.PutUint32(d[:], dst)
		binary.LittleEndian.PutUint32(m[:], mask)
		ones, _ := net.IPMask(m[:]).Size()
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(d), ones))
	}
	return out
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// Witness is a TCP listener on the host that answers "hello from the host"
// and notes who connected, to prove from the host that an instance reached
// it, and from which address.
type Witness struct {
	Addr netip.AddrPort
	ln   net.Listener
	mu   sync.Mutex
	from []netip.Addr
}

// NewWitness listens on ip (a free port) until the test ends.
func NewWitness(t testing.TB, ip netip.Addr) *Witness {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	w := &Witness{Addr: netip.MustParseAddrPort(ln.Addr().String()), ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if a, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
				w.mu.Lock()
				w.from = append(w.from, a.Addr().Unmap())
				w.mu.Unlock()
			}
			_, _ = c.Write([]byte("hello from the host\n"))
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return w
}

// From lists the addresses that connected so far.
func (w *Witness) From() []netip.Addr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.from)
}

// ProbeScript is a busybox sh script that prints what the instance network
// gave the instance running it: its resolv.conf, eth0's address, its routes,
// the answer of http://peer:8080/ (the test server's hello) and of the
// host's witness. It prints "checked" when done, then sleeps.
func ProbeScript(peer netip.Addr, host *Witness) string {
	return fmt.Sprintf(`cat /etc/resolv.conf; ip -4 addr show eth0; ip route; echo "peer: $(wget -q -O- http://%s:8080/)"; echo "host: $(nc %s %d </dev/null)"; echo checked; exec sleep 600`,
		peer, host.Addr.Addr(), host.Addr.Port())
}

// CheckProbe checks the output of ProbeScript run by an instance on n whose
// only name server is the gateway: exactly its address, a default route via
// the gateway (which the host's witness, on an address outside the instance
// network, confirms by the connection it saw from the instance), the peer's
// hello.
func (b *Bridge) CheckProbe(t testing.TB, logs string, n *runtime.Network, host *Witness) {
	t.Helper()
	for _, want := range []string{
		"nameserver " + b.Gateway.String() + "\n",
		"inet " + n.Address + " ",
		"default via " + b.Gateway.String() + " dev eth0",
		"peer: hello from",
		"host: hello from the host",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the probe's output lacks %q:\n%s", want, logs)
		}
	}
	if strings.Count(logs, "nameserver") != 1 {
		t.Errorf("the probe's resolv.conf names other servers than its network's DNS:\n%s", logs)
	}
	if from := host.From(); !slices.Contains(from, n.Prefix().Addr()) {
		t.Errorf("the host's listener on %s saw connections from %v, want one from %s through its default route", host.Addr, from, n.Prefix().Addr())
	}
}

// CheckClean checks that nothing of the instances is left on the bridge: no
// port (veth, TAP), and no address but the gateway's.
func (b *Bridge) CheckClean(t testing.TB) {
	t.Helper()
	if ports := b.Ports(t); len(ports) != 0 {
		t.Errorf("bridge ports after Remove = %v, want none left", ports)
	}
	want := netip.PrefixFrom(b.Gateway, b.Prefix.Bits()).String()
	if addrs := b.Addresses(t); !slices.Equal(addrs, []string{want}) {
		t.Errorf("bridge addresses after Remove = %v, want only the gateway's %s", addrs, want)
	}
}
