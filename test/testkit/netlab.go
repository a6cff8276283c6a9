package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// NetLab is a small network of test hosts on one machine: one network
// namespace per host, each joined by a veth pair to a bridge that lives in a
// namespace of its own (the switch). The test process reaches the hosts
// through one more veth on the switch, at Subnet.254. Every name the lab
// makes starts with its prefix and ID, so Close finds them all and labs of
// parallel tests never meet. The end-to-end suite (hosts running hedge) and
// the overlay's lab (hosts running a Plane) both build on it.
type NetLab struct {
	T      testing.TB
	Prefix string // of every namespace and link name, e.g. "hg"
	ID     string // random, after Prefix
	Subnet string // the hosts' /24, e.g. "10.251.7"
	Switch string // the switch namespace
	hosts  int
}

// NeedNetLab skips the test where namespaces cannot be made.
func NeedNetLab(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip to create network namespaces (apt-get install iproute2)")
	}
}

// NewNetLab makes the switch and the test's port on it. net is the first
// two octets of the lab's subnet ("10.251"); the third is random. Close runs
// when the test ends, after the cleanups registered later (which stop what
// runs on the hosts).
func NewNetLab(t testing.TB, prefix, net string) *NetLab {
	t.Helper()
	NeedNetLab(t)
	var b [2]byte
	_, _ = rand.Read(b[:])
	l := &NetLab{T: t, Prefix: prefix, ID: hex.EncodeToString(b[:]), Subnet: fmt.Sprintf("%s.%d", net, 1+int(b[0])%250)}
	l.Switch = l.Name("sw")
	t.Cleanup(l.Close)
	l.Run("ip", "netns", "add", l.Switch)
	l.In(l.Switch, "ip", "link", "add", "br0", "type", "bridge")
	l.In(l.Switch, "ip", "link", "set", "br0", "up")
	tp, sp := l.Name("t"), l.Name("tp")
	l.Run("ip", "link", "add", tp, "type", "veth", "peer", "name", sp)
	l.Run("ip", "link", "set", sp, "netns", l.Switch)
	l.In(l.Switch, "ip", "link", "set", sp, "master", "br0", "up")
	l.Run("ip", "addr", "add", l.Subnet+".254/24", "dev", tp)
	l.Run("ip", "link", "set", tp, "up")
	return l
}

// Name is a name of this lab: Prefix, ID, suffix.
func (l *NetLab) Name(suffix string) string { return l.Prefix + l.ID + suffix }

// Run runs a command and fails the test if it fails.
func (l *NetLab) Run(args ...string) {
	l.T.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.T.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// In runs a command in namespace ns.
func (l *NetLab) In(ns string, args ...string) {
	l.T.Helper()
	l.Run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// AddHost adds a machine named name: its namespace, its address on the
// lab's subnet (hosts take .2, .3, ...) and its port on the switch (down
// it to cut the host off).
func (l *NetLab) AddHost(name string) (ns, ip, port string) {
	l.T.Helper()
	l.hosts++
	n := l.hosts
	ns, ip, port = l.Name(name), fmt.Sprintf("%s.%d", l.Subnet, n+1), l.Name(fmt.Sprintf("p%d", n))
	inner := l.Name(fmt.Sprintf("h%d", n))
	l.Run("ip", "netns", "add", ns)
	l.Run("ip", "link", "add", inner, "type", "veth", "peer", "name", port)
	l.Run("ip", "link", "set", inner, "netns", ns)
	l.Run("ip", "link", "set", port, "netns", l.Switch)
	l.In(l.Switch, "ip", "link", "set", port, "master", "br0", "up")
	l.In(ns, "ip", "addr", "add", ip+"/24", "dev", inner)
	l.In(ns, "ip", "link", "set", inner, "up")
	l.In(ns, "ip", "link", "set", "lo", "up")
	return ns, ip, port
}

// Close deletes every namespace of the lab (hosts, switch, and any the
// test made under Name) and the test's port.
func (l *NetLab) Close() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], l.Prefix+l.ID) {
			_ = exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
	_ = exec.Command("ip", "link", "del", l.Name("t")).Run()
}
