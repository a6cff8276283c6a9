package e2e

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/test/testkit"
)

// lab is a small network of test hosts: one network namespace per host, each
// joined by a veth pair to a bridge that lives in a namespace of its own (the
// switch). The test process reaches the hosts through one more veth on the
// switch. A link is cut by taking the host's port down inside the switch, so
// packets are dropped rather than routed anywhere else: nothing leaves the
// machine.
type lab struct {
	*testkit.NetLab
	t *testing.T
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

func needLab(t *testing.T) { testkit.NeedNetLab(t) }

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{NetLab: testkit.NewNetLab(t, "hg", "10.251"), t: t}
	// Registered after the NetLab's Close, so it runs before it: the
	// hosts' processes die before their namespaces go.
	t.Cleanup(l.killAll)
	return l
}

// addHost adds a machine to the lab.
func (l *lab) addHost(name string) *host {
	l.t.Helper()
	h := &host{lab: l, name: name}
	h.ns, h.ip, h.port = l.AddHost(name)
	l.hosts = append(l.hosts, h)
	return h
}

// cut takes the host off the network; heal puts it back.
func (h *host) cut()  { h.lab.In(h.lab.Switch, "ip", "link", "set", h.port, "down") }
func (h *host) heal() { h.lab.In(h.lab.Switch, "ip", "link", "set", h.port, "up") }

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

// killAll kills what runs on the hosts.
func (l *lab) killAll() {
	for _, h := range l.hosts {
		for _, pid := range h.pids() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	time.Sleep(100 * time.Millisecond)
}
