package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file is the harness of the cluster's tests. They drive a Cluster
// directly, as its workers (Join, Report, Assignments) and as the root
// (Apply, Snapshot), and run its placement and liveness steps (schedule,
// checkNodes) by hand with a fake clock, so every step is deterministic.

const localToken = "hedge-worker-local-secret"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeRoot answers a cluster's worker token checks as the root would: a
// token it knows is accepted while it has uses left.
type fakeRoot struct {
	mu      sync.Mutex
	uses    map[string]int // uses left; -1 is unlimited
	offline bool
}

func newFakeRoot() *fakeRoot { return &fakeRoot{uses: map[string]int{}} }

// allow makes the root accept tok n times (n < 0: until revoked).
func (r *fakeRoot) allow(tok string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.uses[tok] = n
}

func (r *fakeRoot) revoke(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.uses, tok)
}

func (r *fakeRoot) setOffline(off bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offline = off
}

func (r *fakeRoot) CheckWorkerToken(_ context.Context, c link.TokenCheck) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.offline {
		return errors.New("dial tcp: connection refused")
	}
	n, ok := r.uses[c.Token]
	if !ok || n == 0 {
		return fmt.Errorf("%w: unknown, revoked or used up", link.ErrUnauthorized)
	}
	if c.Use && n > 0 {
		r.uses[c.Token] = n - 1
	}
	return nil
}

type fixture struct {
	t     *testing.T
	root  *fakeRoot
	ctx   context.Context
	clock *fakeClock
	st    store.Store
	c     *Cluster
	rev   uint64 // revision of the last Apply
}

type options struct {
	store       store.Store
	clock       *fakeClock
	nodeTimeout time.Duration
	root        *fakeRoot
}

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	if o.store == nil {
		o.store = store.NewMemory()
	}
	if o.clock == nil {
		o.clock = newFakeClock()
	}
	if o.nodeTimeout == 0 {
		o.nodeTimeout = 10 * time.Second
	}
	if o.root == nil {
		o.root = newFakeRoot()
	}
	c, err := New(Config{
		Name: "edge", Store: o.store, NodeTimeout: o.nodeTimeout,
		WorkerTokens: []string{localToken}, Root: o.root, Now: o.clock.Now,
	})
	if err != nil {
		t.Fatalf("cluster.New: %v", err)
	}
	return &fixture{t: t, root: o.root, ctx: context.Background(), clock: o.clock, st: o.store, c: c}
}

// join admits a worker with the local token and returns its id.
func (f *fixture) join(name string) string {
	f.t.Helper()
	resp, err := f.c.Join(f.ctx, link.JoinRequest{Token: localToken, Name: name})
	if err != nil {
		f.t.Fatalf("join %s: %v", name, err)
	}
	if id, err := f.c.Authenticate(resp.Credential); err != nil || id != resp.ID {
		f.t.Fatalf("the credential issued to %s does not authenticate: %q, %v", name, id, err)
	}
	return resp.ID
}

// machine is what a fake worker reports about its machine.
type machine struct {
	name     string
	capacity api.Resources
	runtimes []string
	arch     string
	metrics  api.HostMetrics
}

func worker(name string, cpus float64, memMB int64) machine {
	return machine{name: name, capacity: api.Resources{VCPUs: cpus, MemoryMB: memMB}, runtimes: []string{"container", "process"}, arch: "amd64"}
}

// report sends a worker's report.
func (f *fixture) report(id string, n machine, insts ...link.InstanceStatus) {
	f.t.Helper()
	if insts == nil {
		insts = []link.InstanceStatus{}
	}
	rep := &link.Report{
		Node:      &link.NodeReport{Name: n.name, Arch: n.arch, Runtimes: n.runtimes, Capacity: n.capacity, Metrics: n.metrics},
		Instances: insts,
	}
	if err := f.c.Report(f.ctx, id, rep); err != nil {
		f.t.Fatalf("report from %s: %v", n.name, err)
	}
}

// apply sends a new desired set from the root and places it.
func (f *fixture) apply(items ...link.Assignment) {
	f.t.Helper()
	f.applyWith(nil, items...)
}

// applyWith sends a desired set with orders for nodes.
func (f *fixture) applyWith(nodes map[string]link.NodeControl, items ...link.Assignment) {
	f.t.Helper()
	f.rev++
	if items == nil {
		items = []link.Assignment{}
	}
	if err := f.c.Apply(f.ctx, &link.Assignments{Revision: f.rev, Items: items, Nodes: nodes}); err != nil {
		f.t.Fatalf("apply: %v", err)
	}
	f.c.schedule(f.ctx)
}

// assignment is one instance as the root assigns it.
func assignment(id string, gen uint64, cpus float64, memMB int64, cons ...api.Constraint) link.Assignment {
	return link.Assignment{
		InstanceID: id, ServiceID: "svc-" + id, AppName: "shop", Generation: gen,
		Spec: api.ServiceSpec{
			Name: "web", Namespace: "test", Virtualization: "container", Code: "docker.io/library/nginx:latest",
			VCPUs: cpus, MemoryMB: memMB, Constraints: cons,
		},
	}
}

// assigned returns the instance ids in a node's desired set.
func (f *fixture) assigned(nodeID string) []string {
	a, _ := f.c.Assignments(nodeID)
	out := []string{}
	for _, it := range a.Items {
		out = append(out, it.InstanceID)
	}
	return out
}

// status returns an instance's status as the cluster reports it to the root.
func (f *fixture) status(id string) (link.InstanceStatus, bool) {
	for _, st := range f.c.Snapshot(f.ctx).Instances {
		if st.InstanceID == id {
			return st, true
		}
	}
	return link.InstanceStatus{}, false
}

// nodeInfo returns a node as the cluster reports it to the root.
func (f *fixture) nodeInfo(id string) api.Node {
	f.t.Helper()
	for _, n := range f.c.Snapshot(f.ctx).Cluster.Nodes {
		if n.ID == id {
			return n
		}
	}
	f.t.Fatalf("node %s is not in the snapshot", id)
	return api.Node{}
}

func runningOn(id string, gen uint64) link.InstanceStatus {
	return link.InstanceStatus{InstanceID: id, Generation: gen, State: api.StateRunning, PID: 99}
}
