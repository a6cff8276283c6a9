package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lab is a small network of test hosts: one network namespace per host, each
// joined by a veth pair to a bridge that lives in a namespace of its own (the
// switch). The test process reaches the hosts through one more veth on the
// switch. A link is cut by taking the host's port down inside the switch, so
// packets are dropped rather than routed anywhere else: nothing leaves the
// machine.
type lab struct {
	t      *testing.T
	id     string
	subnet string // "10.251.N"
	sw     string // switch namespace
	// sharedMounts runs hedge on the hosts in the test's mount namespace
	// (for container workers).
	sharedMounts bool
	hosts        []*host
}

// host is one machine of the lab.
type host struct {
	lab  *lab
	name string
	ns   string
	ip   string
	port string // the host's port on the switch
}

func needLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip to create network namespaces (apt-get install iproute2)")
	}
}

func newLab(t *testing.T) *lab {
	t.Helper()
	needLab(t)
	var b [2]byte
	_, _ = rand.Read(b[:])
	l := &lab{t: t, id: hex.EncodeToString(b[:]), subnet: fmt.Sprintf("10.251.%d", 1+int(b[0])%250)}
	l.sw = "hg" + l.id + "sw"
	t.Cleanup(l.close)
	l.run("ip", "netns", "add", l.sw)
	l.in(l.sw, "ip", "link", "add", "br0", "type", "bridge")
	l.in(l.sw, "ip", "link", "set", "br0", "up")
	// The test's own port on the switch.
	tp, sp := "hg"+l.id+"t", "hg"+l.id+"tp"
	l.run("ip", "link", "add", tp, "type", "veth", "peer", "name", sp)
	l.run("ip", "link", "set", sp, "netns", l.sw)
	l.in(l.sw, "ip", "link", "set", sp, "master", "br0", "up")
	l.run("ip", "addr", "add", l.subnet+".254/24", "dev", tp)
	l.run("ip", "link", "set", tp, "up")
	return l
}

func (l *lab) run(args ...string) {
	l.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (l *lab) in(ns string, args ...string) {
	l.t.Helper()
	l.run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// addHost adds a machine to the lab.
func (l *lab) addHost(name string) *host {
	l.t.Helper()
	n := len(l.hosts) + 1
	h := &host{lab: l, name: name, ns: "hg" + l.id + name, ip: fmt.Sprintf("%s.%d", l.subnet, n+1), port: fmt.Sprintf("hg%sp%d", l.id, n)}
	inner := fmt.Sprintf("hg%sh%d", l.id, n)
	l.run("ip", "netns", "add", h.ns)
	l.run("ip", "link", "add", inner, "type", "veth", "peer", "name", h.port)
	l.run("ip", "link", "set", inner, "netns", h.ns)
	l.run("ip", "link", "set", h.port, "netns", l.sw)
	l.in(l.sw, "ip", "link", "set", h.port, "master", "br0", "up")
	l.in(h.ns, "ip", "addr", "add", h.ip+"/24", "dev", inner)
	l.in(h.ns, "ip", "link", "set", inner, "up")
	l.in(h.ns, "ip", "link", "set", "lo", "up")
	l.hosts = append(l.hosts, h)
	return h
}

// cut takes the host off the network; heal puts it back.
func (h *host) cut()  { h.lab.in(h.lab.sw, "ip", "link", "set", h.port, "down") }
func (h *host) heal() { h.lab.in(h.lab.sw, "ip", "link", "set", h.port, "up") }

// addr is host:port on this host.
func (h *host) addr(port int) string { return h.ip + ":" + strconv.Itoa(port) }

// crash kills every process on the host with SIGKILL, as a power loss would.
func (h *host) crash() {
	for _, pid := range h.pids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.pids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *host) pids() []int {
	out, _ := exec.Command("ip", "netns", "pids", h.ns).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// start runs hedge with args on this host.
func (h *host) start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	wrap := []string{"ip", "netns", "exec", h.ns}
	if h.lab.sharedMounts {
		// Only the network namespace: ip netns exec also gives the process
		// a mount namespace of its own (to show the namespace's /sys), and
		// then containerd, outside it, sees neither the network namespaces
		// the containerd driver pins for its containers nor the cgroups.
		wrap = []string{"nsenter", "--net=/run/netns/" + h.ns}
	}
	p := &proc{t: t, name: name, env: env, log: filepath.Join(t.TempDir(), name+".log"),
		wrap: wrap, args: args}
	p.start()
	t.Cleanup(func() { p.stop() })
	return p
}

func (l *lab) close() {
	for _, h := range l.hosts {
		for _, pid := range h.pids() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, h := range l.hosts {
		_ = exec.Command("ip", "netns", "del", h.ns).Run()
	}
	_ = exec.Command("ip", "link", "del", "hg"+l.id+"t").Run()
	_ = exec.Command("ip", "netns", "del", l.sw).Run()
}
