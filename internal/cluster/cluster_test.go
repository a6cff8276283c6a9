package cluster

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

func TestJoin(t *testing.T) {
	const rootToken = "hedge-worker-from-the-root"
	tests := []struct {
		name    string
		token   string
		node    string
		wantErr error
	}{
		{name: "local worker token", token: localToken, node: "n1"},
		{name: "worker token from the root", token: rootToken, node: "n1"},
		{name: "wrong token", token: "hedge-worker-guess", node: "n1", wantErr: link.ErrUnauthorized},
		{name: "empty token", token: "", node: "n1", wantErr: link.ErrUnauthorized},
		{name: "empty name", token: localToken, node: "", wantErr: link.ErrInvalid},
		{name: "name too long", token: localToken, node: strings.Repeat("n", 254), wantErr: link.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, options{})
			f.root.allow(rootToken, -1)
			resp, err := f.c.Join(f.ctx, link.JoinRequest{Token: tt.token, Name: tt.node})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("join: %v, want %v", err, tt.wantErr)
				}
				if n := len(f.c.Snapshot(f.ctx).Cluster.Nodes); n != 0 {
					t.Errorf("a refused join registered %d node(s)", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("join: %v", err)
			}
			if id, err := f.c.Authenticate(resp.Credential); err != nil || id != resp.ID {
				t.Errorf("credential authenticates as %q, %v; want %s", id, err, resp.ID)
			}
			if n := f.nodeInfo(resp.ID); n.Name != tt.node || n.State != api.NodeNotReady {
				t.Errorf("new node %+v, want %s NOT_READY until it reports", n, tt.node)
			}
		})
	}
}

// TestJoinUnderALiveNameIsRefused: a join never takes over a node. While
// the node of that name is alive the join is refused (409) and the node
// keeps its credential; once it is silent past the timeout the name goes to
// the new worker, with a new identity, and the old credential stops working.
func TestJoinUnderALiveNameIsRefused(t *testing.T) {
	f := newFixture(t, options{})
	first, err := f.c.Join(f.ctx, link.JoinRequest{Token: localToken, Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	f.report(first.ID, worker("n1", 2, 2048))
	f.apply(assignment("i1", 1, 1, 512))
	if _, err := f.c.Join(f.ctx, link.JoinRequest{Token: localToken, Name: "n1"}); !errors.Is(err, link.ErrConflict) || !strings.Contains(err.Error(), "n1") {
		t.Fatalf("join under a live node's name: %v, want ErrConflict naming n1", err)
	}
	if id, err := f.c.Authenticate(first.Credential); err != nil || id != first.ID {
		t.Fatalf("after a refused takeover the node's credential gives %q, %v; want %s", id, err, first.ID)
	}
	if got := f.assigned(first.ID); !slices.Equal(got, []string{"i1"}) {
		t.Fatalf("after a refused takeover the node runs %v, want [i1]", got)
	}

	f.clock.Advance(10 * time.Second) // the node timeout: n1 is dead
	f.c.checkNodes()
	second, err := f.c.Join(f.ctx, link.JoinRequest{Token: localToken, Name: "n1"})
	if err != nil {
		t.Fatalf("join under a dead node's name: %v", err)
	}
	if second.ID == first.ID {
		t.Errorf("the new worker got the dead node's id %s; want a new identity", first.ID)
	}
	if _, err := f.c.Authenticate(first.Credential); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("the dead node's credential still authenticates: %v", err)
	}
	if got := f.assigned(second.ID); len(got) != 0 {
		t.Errorf("the new worker inherited %v", got)
	}
	if n := len(f.c.Snapshot(f.ctx).Cluster.Nodes); n != 1 {
		t.Errorf("%d nodes after the name was taken over, want 1", n)
	}
	if _, err := f.c.Authenticate("garbage"); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("a garbage credential: %v, want ErrUnauthorized", err)
	}
}

// TestRootWorkerTokensAreCheckedAtTheRootForEachJoin: the cluster keeps no
// copy of the root's tokens, so a revoked, expired or used-up token is
// refused at the next join, and a root it cannot reach admits nobody.
func TestRootWorkerTokensAreCheckedAtTheRootForEachJoin(t *testing.T) {
	const rootToken = "hedge-worker-from-the-root"
	const once = "hedge-worker-single-use"
	f := newFixture(t, options{})
	f.root.allow(rootToken, -1)
	f.root.allow(once, 1)
	if _, err := f.c.Join(f.ctx, link.JoinRequest{Token: rootToken, Name: "n1"}); err != nil {
		t.Fatalf("join with the root's token: %v", err)
	}
	f.root.revoke(rootToken)
	if _, err := f.c.Join(f.ctx, link.JoinRequest{Token: rootToken, Name: "n2"}); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("join with a revoked token: %v, want ErrUnauthorized", err)
	}
	if _, err := f.c.Join(f.ctx, link.JoinRequest{Token: once, Name: "n2"}); err != nil {
		t.Fatalf("first join with a single-use token: %v", err)
	}
	if _, err := f.c.Join(f.ctx, link.JoinRequest{Token: once, Name: "n3"}); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("second join with a single-use token: %v, want ErrUnauthorized", err)
	}
	f.root.allow(rootToken, -1)
	f.root.setOffline(true)
	if _, err := f.c.Join(f.ctx, link.JoinRequest{Token: rootToken, Name: "n4"}); !errors.Is(err, link.ErrNotReady) {
		t.Errorf("join while the root is unreachable: %v, want ErrNotReady (retry later)", err)
	}
	if _, err := f.c.Join(f.ctx, link.JoinRequest{Token: localToken, Name: "n4"}); err != nil {
		t.Errorf("the local token stopped working: %v", err)
	}
	if n := len(f.c.Snapshot(f.ctx).Cluster.Nodes); n != 3 {
		t.Errorf("%d nodes, want 3 (n1, n2, n4): refused joins registered nodes", n)
	}
}

// TestDeleteNodeRevokesAndMovesItsInstances: the root's deletion order
// revokes the node's credential at once and places its instances on the
// other node; the deleted worker's long-poll finds an empty set.
func TestDeleteNodeRevokesAndMovesItsInstances(t *testing.T) {
	f := newFixture(t, options{})
	resp, err := f.c.Join(f.ctx, link.JoinRequest{Token: localToken, Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	gone := resp.ID
	f.report(gone, worker("gone", 2, 2048))
	f.apply(assignment("i1", 1, 1, 512))
	if got := f.assigned(gone); !slices.Equal(got, []string{"i1"}) {
		t.Fatalf("gone runs %v, want [i1]", got)
	}
	stays := f.join("stays")
	f.report(stays, worker("stays", 2, 2048))
	f.applyWith(map[string]link.NodeControl{gone: {Cordoned: true, Deleted: true}}, assignment("i1", 1, 1, 512))
	if _, err := f.c.Authenticate(resp.Credential); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("the deleted node's credential: %v, want ErrUnauthorized", err)
	}
	if err := f.c.Report(f.ctx, gone, &link.Report{Node: &link.NodeReport{Name: "gone"}}); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("a report for the deleted node: %v, want ErrUnauthorized", err)
	}
	if got := f.assigned(stays); !slices.Equal(got, []string{"i1"}) {
		t.Errorf("stays runs %v, want [i1] moved from the deleted node", got)
	}
	if a, _ := f.c.Assignments(gone); len(a.Items) != 0 {
		t.Errorf("the deleted node's desired set holds %v, want nothing", a.Items)
	}
	for _, n := range f.c.Snapshot(f.ctx).Cluster.Nodes {
		if n.ID == gone {
			t.Errorf("the deleted node is still reported: %+v", n)
		}
	}
	// The order may come again (the root keeps it until a report shows it
	// carried out): nothing more happens.
	f.applyWith(map[string]link.NodeControl{gone: {Cordoned: true, Deleted: true}}, assignment("i1", 1, 1, 512))
	if got := f.assigned(stays); !slices.Equal(got, []string{"i1"}) {
		t.Errorf("after the order came again stays runs %v, want [i1]", got)
	}
}

func TestReportValidation(t *testing.T) {
	f := newFixture(t, options{})
	id := f.join("n1")
	if err := f.c.Report(f.ctx, id, &link.Report{}); !errors.Is(err, link.ErrInvalid) {
		t.Errorf("report without a node: %v, want ErrInvalid", err)
	}
	if err := f.c.Report(f.ctx, "stranger", &link.Report{Node: &link.NodeReport{Name: "x"}}); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("report from an unknown node: %v, want ErrUnauthorized", err)
	}
}

func TestPlacementBestFitReservesAndReleases(t *testing.T) {
	f := newFixture(t, options{})
	big, small := f.join("big"), f.join("small")
	f.report(big, worker("big", 4, 4096))
	f.report(small, worker("small", 2, 2048))

	// Best fit fills the small node first, then spills to the big one.
	f.apply(assignment("i1", 1, 1, 1024))
	if got := f.assigned(small); !slices.Equal(got, []string{"i1"}) {
		t.Fatalf("small has %v, want [i1]", got)
	}
	f.apply(assignment("i1", 1, 1, 1024), assignment("i2", 1, 1, 1024))
	f.apply(assignment("i1", 1, 1, 1024), assignment("i2", 1, 1, 1024), assignment("i3", 1, 1, 1024))
	if got := f.assigned(small); !slices.Equal(got, []string{"i1", "i2"}) {
		t.Errorf("small has %v, want [i1 i2]", got)
	}
	if got := f.assigned(big); !slices.Equal(got, []string{"i3"}) {
		t.Errorf("big has %v, want [i3]", got)
	}
	if r := f.nodeInfo(small).Reserved; r != (api.Resources{VCPUs: 2, MemoryMB: 2048}) {
		t.Errorf("small reserved %+v, want all of it", r)
	}
	if r := f.nodeInfo(big).Reserved; r != (api.Resources{VCPUs: 1, MemoryMB: 1024}) {
		t.Errorf("big reserved %+v, want 1 vcpu and 1024 MB", r)
	}
	for _, id := range []string{"i1", "i2", "i3"} {
		st, ok := f.status(id)
		if !ok || st.State != api.StateNodeScheduled || st.Generation != 1 || st.NodeID == "" {
			t.Errorf("%s reported as %+v, want NODE_SCHEDULED with its node", id, st)
		}
	}

	// The root takes i1 away: it leaves small's desired set, and its
	// resources are free again.
	rev, _ := f.c.Assignments(small)
	f.apply(assignment("i2", 1, 1, 1024), assignment("i3", 1, 1, 1024))
	after, _ := f.c.Assignments(small)
	if got := f.assigned(small); !slices.Equal(got, []string{"i2"}) || after.Revision == rev.Revision {
		t.Errorf("small has %v at revision %d (was %d), want [i2] at a new revision", got, after.Revision, rev.Revision)
	}
	if r := f.nodeInfo(small).Reserved; r != (api.Resources{VCPUs: 1, MemoryMB: 1024}) {
		t.Errorf("small reserved %+v after i1 left, want 1 vcpu and 1024 MB", r)
	}
	if _, ok := f.status("i1"); ok {
		t.Error("the removed instance is still reported to the root")
	}
	// The freed room is used again.
	f.apply(assignment("i2", 1, 1, 1024), assignment("i3", 1, 1, 1024), assignment("i4", 1, 1, 1024))
	if got := f.assigned(small); !slices.Equal(got, []string{"i2", "i4"}) {
		t.Errorf("small has %v, want [i2 i4]", got)
	}
}

func TestPlacementUnschedulable(t *testing.T) {
	tests := []struct {
		name   string
		a      link.Assignment
		reason string
	}{
		{"too much cpu", assignment("i1", 1, 8, 100), "0/2 nodes available: 2 insufficient cpu"},
		{"too much memory", assignment("i1", 1, 1, 100000), "0/2 nodes available: 2 insufficient memory"},
		{"unknown node", assignment("i1", 1, 1, 100, api.Constraint{Type: "direct", Node: "n9"}),
			"0/2 nodes available: 2 not a node named in the direct constraint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, options{})
			n1, n2 := f.join("n1"), f.join("n2")
			f.report(n1, worker("n1", 4, 4096))
			f.report(n2, worker("n2", 2, 2048))
			f.apply(tt.a)
			st, ok := f.status("i1")
			if !ok || st.State != api.StateUnschedulable || st.Reason != tt.reason || st.Generation != 1 {
				t.Errorf("status %+v, want UNSCHEDULABLE %q", st, tt.reason)
			}
			if len(f.assigned(n1))+len(f.assigned(n2)) != 0 {
				t.Error("an unschedulable instance was assigned to a node")
			}
		})
	}
}

func TestPlacementDirectNodeConstraint(t *testing.T) {
	f := newFixture(t, options{})
	big, small := f.join("big"), f.join("small")
	f.report(big, worker("big", 4, 4096))
	f.report(small, worker("small", 2, 2048))
	f.apply(assignment("i1", 1, 1, 100, api.Constraint{Type: "direct", Node: "other; big"}))
	if got := f.assigned(big); !slices.Equal(got, []string{"i1"}) {
		t.Errorf("big has %v, want the pinned instance", got)
	}
}

func TestSilentNodeLosesItsInstances(t *testing.T) {
	f := newFixture(t, options{nodeTimeout: 10 * time.Second})
	big, small := f.join("big"), f.join("small")
	f.report(big, worker("big", 4, 4096))
	f.report(small, worker("small", 2, 2048))
	f.apply(assignment("i1", 1, 1, 512), assignment("i2", 1, 1, 512))
	if got := f.assigned(small); !slices.Equal(got, []string{"i1", "i2"}) {
		t.Fatalf("small has %v, want both", got)
	}
	f.report(small, worker("small", 2, 2048), runningOn("i1", 1), runningOn("i2", 1))

	// Not yet silent for long enough.
	f.clock.Advance(9 * time.Second)
	f.report(big, worker("big", 4, 4096))
	f.c.checkNodes()
	if f.nodeInfo(small).State != api.NodeReady {
		t.Fatal("small is NOT_READY before its timeout")
	}

	f.clock.Advance(2 * time.Second)
	f.report(big, worker("big", 4, 4096))
	before, _ := f.c.Assignments(small)
	f.c.checkNodes()
	if n := f.nodeInfo(small); n.State != api.NodeNotReady || n.Reserved != (api.Resources{}) {
		t.Errorf("silent node: %s with %+v reserved, want NOT_READY with nothing", n.State, n.Reserved)
	}
	if st, _ := f.status("i1"); st.State != api.StateDead || !strings.Contains(st.Reason, "small stopped reporting") {
		t.Errorf("i1 before it is placed again: %+v, want DEAD saying why", st)
	}
	after, _ := f.c.Assignments(small)
	if len(after.Items) != 0 || after.Revision == before.Revision {
		t.Errorf("the silent node still holds %v (revision %d, was %d)", after.Items, after.Revision, before.Revision)
	}

	f.c.schedule(f.ctx)
	if got := f.assigned(big); !slices.Equal(got, []string{"i1", "i2"}) {
		t.Errorf("big has %v, want the moved instances", got)
	}
	if r := f.nodeInfo(big).Reserved; r != (api.Resources{VCPUs: 2, MemoryMB: 1024}) {
		t.Errorf("big reserved %+v", r)
	}

	// The old node comes back and reports the instances it still runs: it
	// is not heard about them.
	f.report(small, worker("small", 2, 2048), runningOn("i1", 1), runningOn("i2", 1))
	for _, id := range []string{"i1", "i2"} {
		if st, _ := f.status(id); st.State != api.StateNodeScheduled || st.NodeID != big {
			t.Errorf("%s after the old node's report: %+v, want NODE_SCHEDULED on big", id, st)
		}
	}
	f.report(big, worker("big", 4, 4096), runningOn("i1", 1))
	if st, _ := f.status("i1"); st.State != api.StateRunning || st.NodeName != "big" {
		t.Errorf("i1 after big's report: %+v, want RUNNING on big", st)
	}
	if got := f.assigned(small); len(got) != 0 {
		t.Errorf("the returning node got back %v", got)
	}
}

// TestReportOfAnOldGenerationIsIgnored: the root bumps an instance's
// generation when it moves it, and the new generation may land on the very
// node that still runs the old one. Until the worker has the new desired set,
// its reports are about the old generation and must not be passed on to the
// root as the state of the new one.
func TestReportOfAnOldGenerationIsIgnored(t *testing.T) {
	f := newFixture(t, options{})
	n1 := f.join("n1")
	f.report(n1, worker("n1", 4, 4096))
	f.apply(assignment("i1", 1, 1, 512))
	f.report(n1, worker("n1", 4, 4096), runningOn("i1", 1))
	if st, _ := f.status("i1"); st.State != api.StateRunning {
		t.Fatalf("i1: %+v, want RUNNING", st)
	}

	f.apply(assignment("i1", 2, 1, 512))
	if got := f.assigned(n1); !slices.Equal(got, []string{"i1"}) {
		t.Fatalf("n1 has %v, want i1 again", got)
	}
	f.report(n1, worker("n1", 4, 4096), runningOn("i1", 1))
	st, _ := f.status("i1")
	if st.Generation != 2 || st.State != api.StateNodeScheduled {
		t.Errorf("the root is told %+v: a RUNNING report about generation 1 passed off as generation 2", st)
	}
}

func TestSnapshotAggregatesReadyNodes(t *testing.T) {
	f := newFixture(t, options{nodeTimeout: 10 * time.Second})
	a, b, c := f.join("a"), f.join("b"), f.join("c")
	na := worker("a", 4, 4096)
	na.runtimes = []string{"container"}
	na.metrics = api.HostMetrics{CPUPercent: 10, MemoryPercent: 20}
	nb := worker("b", 2, 2048)
	nb.arch = "arm64"
	nb.runtimes = []string{"process"}
	nb.metrics = api.HostMetrics{CPUPercent: 30, MemoryPercent: 40}
	nc := worker("c", 64, 65536)
	nc.runtimes = []string{"unikernel"}
	nc.arch = "riscv64"
	f.report(c, nc)
	// c falls silent; a and b report after the timeout.
	f.clock.Advance(11 * time.Second)
	f.report(a, na)
	f.report(b, nb)
	f.c.checkNodes()
	f.apply(assignment("i1", 1, 1, 1024, api.Constraint{Type: "direct", Node: "a"}), assignment("i2", 1, 100, 1))

	rep := f.c.Snapshot(f.ctx)
	if rep.Node != nil || rep.Cluster == nil {
		t.Fatalf("snapshot %+v is not a cluster report", rep)
	}
	got := rep.Cluster.Aggregate
	want := api.Cluster{
		Name: "edge", State: api.NodeReady, ActiveNodes: 2,
		Arch: []string{"amd64", "arm64"}, Runtimes: []string{"container", "process"},
		Capacity:    api.Resources{VCPUs: 6, MemoryMB: 6144},
		MaxNodeFree: api.Resources{VCPUs: 3, MemoryMB: 3072},
		CPUPercent:  20, MemoryPercent: 30,
		Instances: 2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("aggregate\n got %+v\nwant %+v", got, want)
	}
	if rep.Cluster.Name != "edge" {
		t.Errorf("cluster name %q", rep.Cluster.Name)
	}
	var names []string
	for _, n := range rep.Cluster.Nodes {
		names = append(names, n.Name+":"+string(n.State))
	}
	if want := []string{"a:READY", "b:READY", "c:NOT_READY"}; !slices.Equal(names, want) {
		t.Errorf("nodes %v, want %v", names, want)
	}
	if n := f.nodeInfo(a); n.Instances != 1 || n.Reserved != (api.Resources{VCPUs: 1, MemoryMB: 1024}) {
		t.Errorf("node a: %d instances, %+v reserved", n.Instances, n.Reserved)
	}
	var ids []string
	for _, st := range rep.Instances {
		ids = append(ids, st.InstanceID)
	}
	if !slices.Equal(ids, []string{"i1", "i2"}) {
		t.Errorf("instances %v, want [i1 i2] in order", ids)
	}
}

func TestChangedIsSignalled(t *testing.T) {
	f := newFixture(t, options{})
	drain := func() {
		select {
		case <-f.c.Changed():
		default:
		}
	}
	signalled := func() bool {
		select {
		case <-f.c.Changed():
			return true
		default:
			return false
		}
	}
	n1 := f.join("n1")
	drain()
	f.report(n1, worker("n1", 4, 4096))
	if !signalled() {
		t.Error("a node becoming ready did not signal a change")
	}
	f.report(n1, worker("n1", 4, 4096))
	if signalled() {
		t.Error("an identical report signalled a change")
	}
	if err := f.c.Apply(f.ctx, &link.Assignments{Revision: 1, Items: []link.Assignment{assignment("i1", 1, 1, 100)}}); err != nil {
		t.Fatal(err)
	}
	if !signalled() {
		t.Error("a new desired set did not signal a change")
	}
	f.c.schedule(f.ctx)
	drain()
	f.report(n1, worker("n1", 4, 4096), runningOn("i1", 1))
	if !signalled() {
		t.Error("an instance state change did not signal a change")
	}
}

func TestRestartKeepsPlacements(t *testing.T) {
	const rootToken = "hedge-worker-from-the-root"
	path := filepath.Join(t.TempDir(), "cluster.db")
	clock := newFakeClock()
	st1, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	root := newFakeRoot()
	root.allow(rootToken, -1)
	f1 := newFixture(t, options{store: st1, clock: clock, root: root})
	resp, err := f1.c.Join(f1.ctx, link.JoinRequest{Token: localToken, Name: "big"})
	if err != nil {
		t.Fatal(err)
	}
	big := resp.ID
	small := f1.join("small")
	f1.report(big, worker("big", 4, 4096))
	f1.report(small, worker("small", 2, 2048))
	f1.apply(assignment("i1", 1, 2, 2048), assignment("i2", 3, 1, 512))
	beforeBig, _ := f1.c.Assignments(big)
	beforeSmall, _ := f1.c.Assignments(small)
	if len(beforeBig.Items)+len(beforeSmall.Items) != 2 {
		t.Fatalf("not both placed: big %v, small %v", beforeBig.Items, beforeSmall.Items)
	}
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute)
	st2, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	f2 := newFixture(t, options{store: st2, clock: clock, root: root})
	afterBig, _ := f2.c.Assignments(big)
	afterSmall, _ := f2.c.Assignments(small)
	if !reflect.DeepEqual(afterBig.Items, beforeBig.Items) || !reflect.DeepEqual(afterSmall.Items, beforeSmall.Items) {
		t.Errorf("placements after restart: big %v, small %v; before: big %v, small %v",
			afterBig.Items, afterSmall.Items, beforeBig.Items, beforeSmall.Items)
	}
	if afterBig.Revision == beforeBig.Revision {
		t.Errorf("big's revision %d did not change across the restart; its worker would not fetch its set", afterBig.Revision)
	}
	if id, err := f2.c.Authenticate(resp.Credential); err != nil || id != big {
		t.Errorf("the credential issued before the restart: %q, %v", id, err)
	}
	if _, err := f2.c.Join(f2.ctx, link.JoinRequest{Token: rootToken, Name: "third"}); err != nil {
		t.Errorf("the root's worker token is refused after a restart: %v", err)
	}
	for _, id := range []string{"i1", "i2"} {
		if st, ok := f2.status(id); !ok || st.State != api.StateNodeScheduled || st.NodeID == "" {
			t.Errorf("%s after restart: %+v", id, st)
		}
	}
	if st, _ := f2.status("i2"); st.Generation != 3 {
		t.Errorf("i2 generation %d after restart, want 3", st.Generation)
	}

	// Reservations were restored: with both nodes back, a new instance goes
	// where there is still room.
	f2.report(big, worker("big", 4, 4096))
	f2.report(small, worker("small", 2, 2048))
	f2.apply(assignment("i1", 1, 2, 2048), assignment("i2", 3, 1, 512), assignment("i3", 1, 2, 2048))
	if got := f2.assigned(big); !slices.Contains(got, "i3") {
		t.Errorf("i3 not placed on the only node with room: big has %v, small has %v", got, f2.assigned(small))
	}
}

// TestSilentNodeAfterClusterRestartLosesItsInstances: after a restart every
// node is NOT_READY until it reports. One that never reports again must
// still lose its instances once the timeout has passed, as it would have
// without the restart.
func TestSilentNodeAfterClusterRestartLosesItsInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.db")
	clock := newFakeClock()
	st1, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	f1 := newFixture(t, options{store: st1, clock: clock})
	gone, stays := f1.join("gone"), f1.join("stays")
	f1.report(gone, worker("gone", 2, 2048))
	f1.apply(assignment("i1", 1, 1, 512))
	if got := f1.assigned(gone); !slices.Equal(got, []string{"i1"}) {
		t.Fatalf("gone has %v", got)
	}
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	st2, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	f2 := newFixture(t, options{store: st2, clock: clock, nodeTimeout: 10 * time.Second})
	f2.report(stays, worker("stays", 4, 4096))
	clock.Advance(11 * time.Second)
	f2.report(stays, worker("stays", 4, 4096))
	f2.c.checkNodes()
	f2.c.schedule(f2.ctx)
	if got := f2.assigned(stays); !slices.Equal(got, []string{"i1"}) {
		st, _ := f2.status("i1")
		t.Errorf("node gone never reported after the restart, yet i1 stays with it (%+v); stays has %v", st, got)
	}
}

// TestLinkRunPlacesAndRelays drives the cluster through its HTTP link as a
// worker would, with Run doing the placement.
func TestLinkRunPlacesAndRelays(t *testing.T) {
	f := newFixture(t, options{})
	srv := httptest.NewServer(f.c.Handler().Handler())
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
		tr.CloseIdleConnections()
	})

	resp, err := link.Join(ctx, hc, srv.URL, link.JoinRequest{Token: localToken, Name: "n1"})
	if err != nil {
		t.Fatalf("join over HTTP: %v", err)
	}
	// While the cluster cannot reach its root it cannot tell a wrong token
	// from one the root issued a moment ago: the worker is told to retry.
	f.root.setOffline(true)
	var se *link.StatusError
	if _, err := link.Join(ctx, hc, srv.URL, link.JoinRequest{Token: "wrong", Name: "n2"}); !errors.As(err, &se) || se.Code != 503 {
		t.Errorf("join with an unknown token while the root is unreachable: %v, want 503", err)
	}
	f.root.setOffline(false)
	if err := f.c.Apply(ctx, &link.Assignments{Revision: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := link.Join(ctx, hc, srv.URL, link.JoinRequest{Token: "wrong", Name: "n2"}); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("join with a wrong token over HTTP: %v, want ErrUnauthorized", err)
	}
	w := link.NewClient(srv.URL, resp.Credential, hc)
	rep := &link.Report{Node: &link.NodeReport{Name: "n1", Arch: "amd64", Runtimes: []string{"container"}, Capacity: api.Resources{VCPUs: 2, MemoryMB: 2048}}, Instances: []link.InstanceStatus{}}
	if err := w.Report(ctx, rep); err != nil {
		t.Fatalf("report: %v", err)
	}
	first, err := w.Assignments(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.Apply(ctx, &link.Assignments{Revision: 1, Items: []link.Assignment{assignment("i1", 1, 1, 100)}}); err != nil {
		t.Fatal(err)
	}
	// Run places the instance without waiting for its tick, and the
	// worker's long-poll wakes up with it.
	start := time.Now()
	a, err := w.Assignments(ctx, first.Revision, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Items) != 1 || a.Items[0].InstanceID != "i1" {
		t.Fatalf("worker got %+v, want i1", a.Items)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("placement took %v: it waited for the tick instead of being kicked", d)
	}

	// The root asks for logs: the request reaches the worker running it.
	type answer struct {
		r link.Response
	}
	got := make(chan answer, 1)
	go func() { got <- answer{f.c.Handle(ctx, link.Request{Kind: link.KindLogs, InstanceID: "i1", Tail: 10})} }()
	var reqs []link.Request
	for len(reqs) == 0 {
		if reqs, err = w.Requests(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if reqs[0].InstanceID != "i1" || reqs[0].Kind != link.KindLogs || reqs[0].Tail != 10 {
		t.Errorf("the worker got %+v", reqs[0])
	}
	if err := w.Respond(ctx, link.Response{ID: reqs[0].ID, Data: []byte("log line\n")}); err != nil {
		t.Fatal(err)
	}
	if ans := <-got; string(ans.r.Data) != "log line\n" || ans.r.Error != "" {
		t.Errorf("the root got %+v", ans.r)
	}
	if r := f.c.Handle(ctx, link.Request{Kind: link.KindLogs, InstanceID: "nope"}); !r.NotFound || r.Error == "" {
		t.Errorf("logs of an unknown instance: %+v, want NotFound", r)
	}
}
