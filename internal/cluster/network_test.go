package cluster

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/store"
)

// rootMap is a map as the root sends it to this cluster.
func rootMap(rev uint64, rng string) *netmap.Map {
	return &netmap.Map{Revision: rev, InstanceCIDR: "10.18.0.0/16", ServiceCIDR: "10.30.0.0/16", WorkerPrefix: 24,
		Self: netmap.Self{ID: "cluster-id", Range: rng}, Workers: []netmap.Worker{}, Services: []netmap.Service{}}
}

func (f *fixture) subnet(id string) string {
	f.t.Helper()
	m, _ := f.c.NetMap(id)
	return m.Self.Subnet
}

// TestUnitWorkerSubnets: each worker gets its own subnet of the cluster's
// range once the root gave one, reported to the root with its tunnel end;
// subnets stay across a restart of the cluster and a deleted node's is
// released.
func TestUnitWorkerSubnets(t *testing.T) {
	st := store.NewMemory()
	f := newFixture(t, options{store: st})
	w1, w2 := f.join("w1"), f.join("w2")
	if m, _ := f.c.NetMap(w1); m.Revision != 0 || m.Self.Subnet != "" {
		t.Fatalf("before the root's map: %+v; want revision 0 (a worker's poll waits) and no subnet", m)
	}
	if err := f.c.ApplyNetMap(f.ctx, rootMap(5, "10.18.16.0/20")); err != nil {
		t.Fatal(err)
	}
	s1, s2 := f.subnet(w1), f.subnet(w2)
	if s1 == s2 || (s1 != "10.18.16.0/24" && s1 != "10.18.17.0/24") || (s2 != "10.18.16.0/24" && s2 != "10.18.17.0/24") {
		t.Fatalf("subnets %q and %q; want 10.18.16.0/24 and 10.18.17.0/24, one each", s1, s2)
	}
	m, _ := f.c.NetMap(w1)
	if m.Self.ID != w1 || m.InstanceCIDR != "10.18.0.0/16" || m.Revision == 0 {
		t.Errorf("map of w1: %+v", m)
	}
	rep := &link.Report{Node: &link.NodeReport{Name: "w1", Tunnel: &netmap.TunnelInfo{Endpoint: "192.0.2.1:4789", PublicKey: "cHVi"}}, Instances: []link.InstanceStatus{}}
	if err := f.c.Report(f.ctx, w1, rep); err != nil {
		t.Fatal(err)
	}
	if n := f.nodeInfo(w1); n.Subnet != s1 || n.TunnelEndpoint != "192.0.2.1:4789" || n.TunnelPublicKey != "cHVi" {
		t.Errorf("node w1 as reported to the root: subnet %q tunnel %q key %q", n.Subnet, n.TunnelEndpoint, n.TunnelPublicKey)
	}

	f2 := newFixture(t, options{store: st, clock: f.clock})
	if got := f2.subnet(w1); got != s1 {
		t.Fatalf("w1's subnet after a restart %q, want %q", got, s1)
	}
	f2.applyWith(map[string]link.NodeControl{w1: {Deleted: true}})
	w3 := f2.join("w3")
	if got := f2.subnet(w3); got != s1 {
		t.Errorf("a new worker got %q, want the subnet deleted w1 released, %q", got, s1)
	}
	if got := f2.subnet(w2); got != s2 {
		t.Errorf("w2's subnet moved to %q", got)
	}
}

// TestUnitWorkersFollowTheRootsMap: a worker's long-poll over the link
// answers at once when the root's map reaches the cluster, with the
// root's content and the worker's own subnet.
func TestUnitWorkersFollowTheRootsMap(t *testing.T) {
	f := newFixture(t, options{})
	resp, err := f.c.Join(f.ctx, link.JoinRequest{Token: localToken, Name: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.c.Handler().Handler())
	defer srv.Close()
	wc := link.NewClient(srv.URL, resp.Credential, srv.Client())
	got := make(chan *netmap.Map, 1)
	go func() {
		m, err := wc.NetMap(f.ctx, 0, time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	rm := rootMap(9, "10.18.0.0/20")
	rm.Services = []netmap.Service{{ID: "s", Name: "front", App: "shop", Namespace: "test", RRIP: "10.30.0.1", ClosestIP: "10.30.0.2",
		Instances: []netmap.Backend{{InstanceID: "s-0", IP: "10.18.0.2", Worker: resp.ID}}}}
	if err := f.c.ApplyNetMap(f.ctx, rm); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m == nil || m.Revision == 0 || m.Self.Subnet != "10.18.0.0/24" || len(m.Services) != 1 || m.Services[0].Instances[0].IP != "10.18.0.2" {
		t.Fatalf("worker's map: %+v", m)
	}
}

// TestUnitAnotherRangeRenumbersWorkers: when the root gives the cluster
// another range (it joined again under a new identity), every worker gets
// a subnet of the new one.
func TestUnitAnotherRangeRenumbersWorkers(t *testing.T) {
	f := newFixture(t, options{})
	w1 := f.join("w1")
	if err := f.c.ApplyNetMap(f.ctx, rootMap(1, "10.18.0.0/20")); err != nil {
		t.Fatal(err)
	}
	if got := f.subnet(w1); got != "10.18.0.0/24" {
		t.Fatalf("subnet %q in the first range", got)
	}
	if err := f.c.ApplyNetMap(f.ctx, rootMap(2, "10.18.48.0/20")); err != nil {
		t.Fatal(err)
	}
	if got := f.subnet(w1); got != "10.18.48.0/24" {
		t.Errorf("subnet %q after the range moved, want 10.18.48.0/24", got)
	}
	if n := f.nodeInfo(w1); n.Subnet != "10.18.48.0/24" {
		t.Errorf("node reported with subnet %q", n.Subnet)
	}
}
