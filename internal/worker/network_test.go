package worker

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/cluster"
	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/store"
)

// fakeNet is a NetPlane that hands out 10.18.0.x addresses, after refusing
// the first unavailable asks as a worker without a subnet does.
type fakeNet struct {
	mu          sync.Mutex
	unavailable int // Attach fails with ErrUnavailable this many more times
	never       bool
	addrs       map[string]string
	detached    []string
	maps        []*netmap.Map
	// at is when each map was applied.
	at []time.Time
}

var _ NetPlane = (*fakeNet)(nil)

func newFakeNet(unavailable int) *fakeNet {
	return &fakeNet{unavailable: unavailable, addrs: map[string]string{}}
}

func (n *fakeNet) Apply(_ context.Context, m *netmap.Map) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.maps = append(n.maps, m)
	n.at = append(n.at, time.Now())
	return nil
}

func (n *fakeNet) Attach(id string) (*runtime.Network, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.never || n.unavailable > 0 {
		n.unavailable--
		return nil, fmt.Errorf("attach %s: %w", id, errdefs.New(errdefs.ErrUnavailable, "the worker has no subnet yet"))
	}
	a, ok := n.addrs[id]
	if !ok {
		a = fmt.Sprintf("10.18.0.%d/24", len(n.addrs)+2)
		n.addrs[id] = a
	}
	return &runtime.Network{Address: a, Gateway: "10.18.0.1", Bridge: "hedge0", DNS: []string{"10.18.0.1"}}, nil
}

func (n *fakeNet) Detach(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.detached = append(n.detached, id)
	delete(n.addrs, id)
}

func (n *fakeNet) Tunnel() *netmap.TunnelInfo {
	return &netmap.TunnelInfo{Endpoint: "192.0.2.7:4789", PublicKey: "cHVi"}
}

func (n *fakeNet) revisions() []uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []uint64
	for _, m := range n.maps {
		out = append(out, m.Revision)
	}
	return out
}

func container(s *api.ServiceSpec) { s.Virtualization = api.VirtContainer }

// TestUnitContainersGetAnAddressProcessesDoNot: a container instance is
// started on the instance network (after the worker got its subnet) and
// reports its address, a process instance is not attached, the node
// report carries the tunnel end, and a removed container's address is
// released.
func TestUnitContainersGetAnAddressProcessesDoNot(t *testing.T) {
	p, c := newFakeDriver("process"), newFakeDriver("container")
	nw := newFakeNet(2)
	w, _ := startWorker(t, p, workerOptions{more: []*fakeDriver{c}, net: nw})
	apply(t, w, assignment("web", 1, container), assignment("job", 1))
	web := waitState(t, w, "web", api.StateRunning)
	job := waitState(t, w, "job", api.StateRunning)
	if web.IP != "10.18.0.2" || job.IP != "" {
		t.Errorf("reported addresses: web %q, job %q; want 10.18.0.2 and none (processes share the host's network)", web.IP, job.IP)
	}
	c.mu.Lock()
	cn := c.networks["web"]
	c.mu.Unlock()
	p.mu.Lock()
	pn, pok := p.networks["job"]
	p.mu.Unlock()
	if cn == nil || cn.Address != "10.18.0.2/24" || cn.Bridge != "hedge0" {
		t.Errorf("the container driver got network %+v", cn)
	}
	if !pok || pn != nil {
		t.Errorf("the process driver got network %+v (started: %v), want none", pn, pok)
	}
	if tun := w.Snapshot(context.Background()).Node.Tunnel; tun == nil || tun.Endpoint != "192.0.2.7:4789" {
		t.Errorf("node report tunnel %+v", tun)
	}
	apply(t, w, assignment("job", 1))
	waitUntil(t, "web to be forgotten", func() bool { _, ok := status(w, "web"); return !ok })
	nw.mu.Lock()
	detached := slices.Clone(nw.detached)
	nw.mu.Unlock()
	if !slices.Equal(detached, []string{"web"}) {
		t.Errorf("detached %v, want [web]", detached)
	}
}

// TestUnitNoSubnetFailsWithTheReason: without a subnet, a container
// instance fails with the reason (and is retried), and never reaches the
// driver.
func TestUnitNoSubnetFailsWithTheReason(t *testing.T) {
	c := newFakeDriver("container")
	nw := newFakeNet(0)
	nw.never = true
	w, _ := startWorker(t, c, workerOptions{net: nw, attachWait: 50 * time.Millisecond, maxBackoff: time.Hour})
	apply(t, w, assignment("web", 1, container))
	st := waitState(t, w, "web", api.StateFailed)
	if !strings.Contains(st.Reason, "no address on the instance network") || !strings.Contains(st.Reason, "no subnet yet") {
		t.Errorf("reason %q", st.Reason)
	}
	if n := c.startCount("web"); n != 0 {
		t.Errorf("the driver was asked to start it %d times", n)
	}
}

// TestUnitWorkerFollowsItsClustersMap: over a real link to a real cluster,
// a worker with an instance network gets each new map of its cluster, with
// its own subnet, and its tunnel end reaches the cluster.
func TestUnitWorkerFollowsItsClustersMap(t *testing.T) {
	cl, err := cluster.New(cluster.Config{Name: "edge", Store: store.NewMemory(), WorkerTokens: []string{"tok"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cl.Handler().Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := link.Join(ctx, srv.Client(), srv.URL, link.JoinRequest{Token: "tok", Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	nw := newFakeNet(0)
	w, stop := startWorker(t, newFakeDriver("container"), workerOptions{net: nw})
	done := make(chan struct{})
	go func() {
		defer close(done)
		link.Run(ctx, link.NewClient(srv.URL, resp.Credential, srv.Client()), w, link.RunOptions{PollWait: 5 * time.Second})
	}()
	defer func() { cancel(); <-done; srv.CloseClientConnections(); stop() }()

	for rev := uint64(1); rev <= 2; rev++ {
		m := &netmap.Map{Revision: rev, InstanceCIDR: "10.18.0.0/16", ServiceCIDR: "10.30.0.0/16", WorkerPrefix: 24,
			Self: netmap.Self{ID: "c", Range: "10.18.32.0/20"}, Services: []netmap.Service{{ID: fmt.Sprint("s", rev)}}}
		if err := cl.ApplyNetMap(ctx, m); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, fmt.Sprint("map ", rev, " to reach the worker"), func() bool {
			nw.mu.Lock()
			defer nw.mu.Unlock()
			if len(nw.maps) == 0 {
				return false
			}
			last := nw.maps[len(nw.maps)-1]
			return last.Self.Subnet == "10.18.32.0/24" && len(last.Services) == 1 && last.Services[0].ID == fmt.Sprint("s", rev)
		})
	}
	revs := nw.revisions()
	for i := 1; i < len(revs); i++ {
		if revs[i] == revs[i-1] {
			t.Errorf("revision %d applied twice: %v", revs[i], revs)
		}
	}
	waitUntil(t, "the tunnel end to reach the cluster", func() bool {
		for _, n := range cl.Snapshot(ctx).Cluster.Nodes {
			if n.TunnelEndpoint == "192.0.2.7:4789" && n.Subnet == "10.18.32.0/24" {
				return true
			}
		}
		return false
	})
}

// TestUnitNoNetNoPoll: a worker without an instance network does not
// follow the map.
func TestUnitNoNetNoPoll(t *testing.T) {
	w, _ := startWorker(t, newFakeDriver("process"), workerOptions{})
	if w.FollowsNetMap() {
		t.Error("a worker without an instance network follows the map")
	}
	if rep := w.Snapshot(context.Background()); rep.Node.Tunnel != nil {
		t.Errorf("tunnel %+v without an instance network", rep.Node.Tunnel)
	}
}

// TestUnitUnikernelWithHostPortsKeepsTheUserNetwork: a unikernel whose SLA
// publishes host ports is started without an instance address (its driver
// would refuse the ports on the TAP); one without ports gets an address.
func TestUnitUnikernelWithHostPortsKeepsTheUserNetwork(t *testing.T) {
	p, u := newFakeDriver("process"), newFakeDriver(api.VirtUnikernel)
	w, _ := startWorker(t, p, workerOptions{more: []*fakeDriver{u}, net: newFakeNet(2)})
	unikernel := func(port string) func(*api.ServiceSpec) {
		return func(s *api.ServiceSpec) { s.Virtualization, s.Port = api.VirtUnikernel, port }
	}
	apply(t, w, assignment("published", 1, unikernel("8080:80")), assignment("plain", 1, unikernel("")))
	published := waitState(t, w, "published", api.StateRunning)
	plain := waitState(t, w, "plain", api.StateRunning)
	u.mu.Lock()
	pn, pl := u.networks["published"], u.networks["plain"]
	u.mu.Unlock()
	if pn != nil || published.IP != "" {
		t.Errorf("unikernel with host ports: network %+v, ip %q; want none (QEMU's user network)", pn, published.IP)
	}
	if pl == nil || plain.IP == "" {
		t.Errorf("unikernel without ports: network %+v, ip %q; want an instance address", pl, plain.IP)
	}
}
