package root

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

// These tests act as clusters over the real link protocol: they join with a
// cluster join token, report aggregates and instance states, and long-poll
// their desired sets.

func instanceID(serviceID string, n int) string { return fmt.Sprintf("%s-%d", serviceID, n) }

func findCluster(cs []api.Cluster, name string) (api.Cluster, bool) {
	for _, c := range cs {
		if c.Name == name {
			return c, true
		}
	}
	return api.Cluster{}, false
}

func TestPlacementAssignsAndTracksInstances(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	h.addUser("alice")
	alice, _ := h.login("alice", userPassword)
	admin, _ := h.login(auth.AdminUser, adminPassword)
	edge := h.joinCluster("edge-a")
	edge.report(aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096}))

	res := h.submit(alice, slaDoc(t, "shop", svc("web", 256, instances(2))))
	sid := res.Services[0].ID
	ids := []string{instanceID(sid, 0), instanceID(sid, 1)}

	a := edge.waitAssignments("both instances", hasInstances(ids...))
	for i, it := range a.Items {
		if it.InstanceID != ids[i] || it.Number != i || it.ServiceID != sid || it.AppName != "shop" ||
			it.Generation != 1 || it.Spec.Name != "web" || it.Spec.MemoryMB != 256 || it.Spec.Code != "docker.io/library/nginx:latest" {
			t.Errorf("assignment %d is %+v", i, it)
		}
	}
	s := h.waitService(alice, sid, "SCHEDULED", allInState(2, api.StateScheduled))
	for _, in := range s.Instances {
		if in.ClusterID != edge.id || in.ClusterName != "edge-a" {
			t.Errorf("instance %d placed on %s/%s, want %s/edge-a", in.Number, in.ClusterID, in.ClusterName, edge.id)
		}
	}
	cls, err := admin.ListActiveClusters(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := findCluster(cls, "edge-a")
	if !ok || c.State != api.NodeReady || c.Reserved != (api.Resources{VCPUs: 2, MemoryMB: 512}) || c.Capacity.MemoryMB != 4096 {
		t.Errorf("active cluster edge-a: %+v (found %v), want READY with 2 vcpus and 512 MB reserved", c, ok)
	}

	// The cluster reports the instances running.
	edge.report(aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096}), running(ids[0], 1, "node-1"), running(ids[1], 1, "node-2"))
	s, err = alice.GetService(h.ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range s.Instances {
		wantNode := fmt.Sprintf("node-%d", i+1)
		if in.Status != api.StateRunning || in.NodeName != wantNode || in.PID != 4242 || in.StartedAt == nil {
			t.Errorf("instance %d after the report: %+v, want RUNNING on %s", i, in, wantNode)
		}
	}

	// Logs are relayed to the cluster that runs the instance.
	type logAnswer struct {
		b   []byte
		err error
	}
	got := make(chan logAnswer, 1)
	go func() {
		b, err := alice.Logs(h.ctx, sid, 1, 100)
		got <- logAnswer{b, err}
	}()
	reqs := waitRequests(t, edge)
	if len(reqs) != 1 || reqs[0].Kind != link.KindLogs || reqs[0].InstanceID != ids[1] || reqs[0].Tail != 100 {
		t.Fatalf("relayed requests %+v, want logs of %s with tail 100", reqs, ids[1])
	}
	if err := edge.link.Respond(h.ctx, link.Response{ID: reqs[0].ID, Data: []byte("hello\n")}); err != nil {
		t.Fatal(err)
	}
	if ans := <-got; ans.err != nil || !bytes.Equal(ans.b, []byte("hello\n")) {
		t.Errorf("logs: %q, %v; want the cluster's answer", ans.b, ans.err)
	}

	// A new worker join token is accepted at the clusters at once: they ask
	// the root for each join.
	wt, err := admin.CreateToken(h.ctx, api.TokenKindWorker, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := edge.link.CheckWorkerToken(h.ctx, link.TokenCheck{Token: wt.Token, Name: "w1", Use: true}); err != nil {
		t.Errorf("the cluster asked about a new worker token: %v, want it accepted", err)
	}

	// Scaling down and deleting take instances off the cluster.
	if _, err := alice.Scale(h.ctx, sid, 1); err != nil {
		t.Fatal(err)
	}
	edge.waitAssignments("one instance after scaling down", hasInstances(ids[0]))
	if err := alice.DeleteService(h.ctx, sid); err != nil {
		t.Fatal(err)
	}
	edge.waitAssignments("nothing after deleting the service", hasInstances())
	cls, _ = admin.ListClusters(h.ctx)
	if c, _ := findCluster(cls, "edge-a"); c.Reserved != (api.Resources{}) {
		t.Errorf("edge-a still has %+v reserved after the service was deleted", c.Reserved)
	}
}

// waitRequests long-polls the cluster's relayed requests until one arrives.
func waitRequests(t *testing.T, fc *fakeCluster) []link.Request {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		reqs, err := fc.link.Requests(fc.h.ctx, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("requests: %v", err)
		}
		if len(reqs) > 0 {
			return reqs
		}
	}
	t.Fatal("no request was relayed to the cluster")
	return nil
}

func TestPlacementUnschedulableSaysWhy(t *testing.T) {
	tests := []struct {
		name    string
		agg     func() *api.Cluster // nil: the cluster joins and never reports
		service map[string]any
		reason  string
	}{
		{
			name:    "not enough memory",
			agg:     func() *api.Cluster { c := aggregate(api.Resources{VCPUs: 4, MemoryMB: 512}); return &c },
			service: svc("web", 1024),
			reason:  "0/1 clusters available: 1 insufficient memory",
		},
		{
			name:    "not enough cpu",
			agg:     func() *api.Cluster { c := aggregate(api.Resources{VCPUs: 2, MemoryMB: 4096}); return &c },
			service: svc("web", 100, func(m map[string]any) { m["vcpus"] = 3 }),
			reason:  "0/1 clusters available: 1 insufficient cpu",
		},
		{
			name: "memory spread over nodes",
			agg: func() *api.Cluster {
				c := aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096})
				c.MaxNodeFree = api.Resources{VCPUs: 4, MemoryMB: 512}
				return &c
			},
			service: svc("web", 1024),
			reason:  "0/1 clusters available: 1 no single node has enough memory",
		},
		{
			name: "runtime missing",
			agg: func() *api.Cluster {
				c := aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096})
				c.Runtimes = []string{"process"}
				return &c
			},
			service: svc("web", 100),
			reason:  "0/1 clusters available: 1 runtime container not available",
		},
		{
			name:    "cluster never reported",
			agg:     nil,
			service: svc("web", 100),
			reason:  "0/1 clusters available: 1 not ready",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.addUser("alice")
			alice, _ := h.login("alice", userPassword)
			edge := h.joinCluster("edge-a")
			if tt.agg != nil {
				edge.report(*tt.agg())
			}
			sid := h.submit(alice, slaDoc(t, "shop", tt.service)).Services[0].ID
			s := h.waitService(alice, sid, "UNSCHEDULABLE", allInState(1, api.StateUnschedulable))
			if got := s.Instances[0].Reason; got != tt.reason {
				t.Errorf("reason %q, want %q", got, tt.reason)
			}
			if s.Instances[0].ClusterID != "" {
				t.Errorf("an unschedulable instance is on cluster %s", s.Instances[0].ClusterID)
			}
			if a := edge.assignments(); len(a.Items) != 0 {
				t.Errorf("the cluster was assigned %+v", a.Items)
			}

			// A cluster that fits appears: the instance is placed there.
			roomy := h.joinCluster("roomy")
			roomy.report(aggregate(api.Resources{VCPUs: 8, MemoryMB: 8192}))
			roomy.waitAssignments("the instance", hasInstances(instanceID(sid, 0)))
			h.waitService(alice, sid, "SCHEDULED", allInState(1, api.StateScheduled))
		})
	}
}

func TestPlacementFencesReports(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("alice")
	alice, _ := h.login("alice", userPassword)
	capacity := api.Resources{VCPUs: 4, MemoryMB: 4096}
	a := h.joinCluster("edge-a")
	b := h.joinCluster("edge-b")
	a.report(aggregate(capacity))
	b.report(aggregate(capacity))
	sid := h.submit(alice, slaDoc(t, "shop", svc("web", 100, constraints(map[string]any{"type": "direct", "cluster": "edge-a"})))).Services[0].ID
	id := instanceID(sid, 0)
	a.waitAssignments("the instance", hasInstances(id))
	h.waitService(alice, sid, "SCHEDULED", allInState(1, api.StateScheduled))

	ignored := []struct {
		name string
		from *fakeCluster
		st   link.InstanceStatus
	}{
		{"from a cluster it is not assigned to", b, running(id, 1, "b-node")},
		{"with a newer generation", a, running(id, 2, "a-node")},
		{"with an older generation", a, running(id, 0, "a-node")},
		{"of an undeployed instance", a, link.InstanceStatus{InstanceID: id, Generation: 1, State: api.StateUndeployed}},
	}
	for _, tt := range ignored {
		t.Run(tt.name, func(t *testing.T) {
			tt.from.report(aggregate(capacity), tt.st)
			s, err := alice.GetService(h.ctx, sid)
			if err != nil {
				t.Fatal(err)
			}
			if in := s.Instances[0]; in.Status != api.StateScheduled || in.NodeName != "" || in.ClusterName != "edge-a" {
				t.Errorf("a fenced report changed the instance: %+v", in)
			}
		})
	}

	// The right cluster with the right generation is heard.
	a.report(aggregate(capacity), running(id, 1, "a-node"))
	if s, _ := alice.GetService(h.ctx, sid); s.Instances[0].Status != api.StateRunning || s.Instances[0].NodeName != "a-node" {
		t.Errorf("the assigned cluster's report was not taken: %+v", s.Instances[0])
	}
	// Reports of unknown instances are harmless.
	a.report(aggregate(capacity), running("nope-0", 1, "a-node"))

	// A report that is not a cluster report is refused.
	err := a.link.Report(h.ctx, &link.Report{Node: &link.NodeReport{Name: "n"}})
	if !errors.Is(err, link.ErrInvalid) {
		t.Errorf("a node report to the root: %v, want ErrInvalid", err)
	}
	// A forged credential is refused.
	forged := h.clusterWith("edge-a", a.id, a.id+".forged")
	err = forged.link.Report(h.ctx, &link.Report{Cluster: &link.ClusterReport{Name: "edge-a"}})
	if !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("a forged credential: %v, want ErrUnauthorized", err)
	}
	// A worker join token does not admit a cluster.
	wt, _ := h.auth.CreateJoinToken(auth.JoinKindWorker, time.Hour)
	if _, err := link.Join(h.ctx, h.hc, h.srv.URL, link.JoinRequest{Token: wt, Name: "sneaky"}); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("join with a worker token: %v, want ErrUnauthorized", err)
	}
}

func TestPlacementConstraintsPickTheCluster(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("alice")
	alice, _ := h.login("alice", userPassword)
	big := h.joinCluster("big")
	small := h.joinCluster("small")
	big.report(aggregate(api.Resources{VCPUs: 8, MemoryMB: 8192}))
	small.report(aggregate(api.Resources{VCPUs: 2, MemoryMB: 2048}))
	direct := func(cluster string) func(map[string]any) {
		return constraints(map[string]any{"type": "direct", "cluster": cluster})
	}
	res := h.submit(alice, slaDoc(t, "shop",
		svc("free", 100),
		svc("pinned", 100, direct("big")),
		svc("allowed", 100, constraints(map[string]any{"type": "clusters", "allowed": []string{"big"}})),
		svc("pinnedsmall", 100, direct("small")),
		svc("nowhere", 100, direct("gone")),
	))
	byName := map[string]string{}
	for _, s := range res.Services {
		byName[s.Spec.Name] = s.ID
	}

	// Best fit prefers the small cluster; constraints override it.
	tests := []struct {
		service string
		cluster string
	}{
		{"free", "small"},
		{"pinned", "big"},
		{"allowed", "big"},
		{"pinnedsmall", "small"},
	}
	want := map[string][]string{}
	for _, tt := range tests {
		want[tt.cluster] = append(want[tt.cluster], instanceID(byName[tt.service], 0))
	}
	big.waitAssignments("its instances", hasInstances(want["big"]...))
	small.waitAssignments("its instances", hasInstances(want["small"]...))
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s := h.waitService(alice, byName[tt.service], "SCHEDULED", allInState(1, api.StateScheduled))
			if got := s.Instances[0].ClusterName; got != tt.cluster {
				t.Errorf("placed on %q, want %q", got, tt.cluster)
			}
		})
	}
	s := h.waitService(alice, byName["nowhere"], "UNSCHEDULABLE", allInState(1, api.StateUnschedulable))
	if want := "0/2 clusters available: 2 not the cluster named in the direct constraint"; s.Instances[0].Reason != want {
		t.Errorf("reason %q, want %q", s.Instances[0].Reason, want)
	}
}

func TestClusterFailover(t *testing.T) {
	h := newHarness(t, harnessOptions{clusterTimeout: 10 * time.Second, admin: true})
	h.addUser("alice")
	alice, _ := h.login("alice", userPassword)
	admin, _ := h.login(auth.AdminUser, adminPassword)
	capacity := api.Resources{VCPUs: 4, MemoryMB: 4096}
	a := h.joinCluster("edge-a")
	a.report(aggregate(capacity))
	sid := h.submit(alice, slaDoc(t, "shop", svc("web", 256, instances(2)))).Services[0].ID
	ids := []string{instanceID(sid, 0), instanceID(sid, 1)}
	a.waitAssignments("both instances", hasInstances(ids...))
	a.report(aggregate(capacity), running(ids[0], 1, "a1"), running(ids[1], 1, "a1"))
	h.waitService(alice, sid, "RUNNING", allInState(2, api.StateRunning))

	b := h.joinCluster("edge-b")
	b.report(aggregate(capacity))

	// Within the timeout nothing moves.
	h.clock.Advance(9 * time.Second)
	b.report(aggregate(capacity))
	h.root.checkClusters()
	if s, _ := alice.GetService(h.ctx, sid); !allInState(2, api.StateRunning)(s) {
		t.Fatalf("instances moved before the timeout: %+v", s.Instances)
	}

	// edge-a falls silent past the timeout while edge-b keeps reporting.
	revA := a.assignments().Revision
	h.clock.Advance(2 * time.Second)
	b.report(aggregate(capacity))
	h.root.checkClusters()
	h.root.trigger()

	got := b.waitAssignments("the moved instances", hasInstances(ids...))
	for _, it := range got.Items {
		if it.Generation != 2 {
			t.Errorf("moved instance %s has generation %d, want 2", it.InstanceID, it.Generation)
		}
	}
	left := a.assignments()
	if len(left.Items) != 0 || left.Revision == revA {
		t.Errorf("the silent cluster still holds %+v (revision %d, was %d)", left.Items, left.Revision, revA)
	}
	s := h.waitService(alice, sid, "SCHEDULED on edge-b", func(s api.Service) bool {
		return allInState(2, api.StateScheduled)(s) && s.Instances[0].ClusterName == "edge-b" && s.Instances[1].ClusterName == "edge-b"
	})
	for _, in := range s.Instances {
		if in.NodeName != "" || in.PID != 0 {
			t.Errorf("moved instance %d kept the old node's details: %+v", in.Number, in)
		}
	}
	cls, err := admin.ListClusters(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := findCluster(cls, "edge-a")
	cb, _ := findCluster(cls, "edge-b")
	if ca.State != api.NodeNotReady || ca.Reserved != (api.Resources{}) {
		t.Errorf("edge-a after failover: %s with %+v reserved, want NOT_READY with nothing", ca.State, ca.Reserved)
	}
	if cb.Reserved != (api.Resources{VCPUs: 2, MemoryMB: 512}) {
		t.Errorf("edge-b reserved %+v, want both instances", cb.Reserved)
	}

	// edge-a comes back still running the old generation: it is not heard
	// about those instances, whatever generation it claims.
	a.report(aggregate(capacity), running(ids[0], 1, "a1"), running(ids[1], 2, "a1"))
	s, _ = alice.GetService(h.ctx, sid)
	if !allInState(2, api.StateScheduled)(s) || s.Instances[0].ClusterName != "edge-b" {
		t.Errorf("the returning cluster's report was taken: %+v", s.Instances)
	}
	b.report(aggregate(capacity), running(ids[0], 2, "b1"), running(ids[1], 2, "b1"))
	if s, _ := alice.GetService(h.ctx, sid); !allInState(2, api.StateRunning)(s) || s.Instances[0].NodeName != "b1" {
		t.Errorf("edge-b's report was not taken: %+v", s.Instances)
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.db")
	clock := newFakeClock()
	st1, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	h1 := newHarness(t, harnessOptions{store: st1, clock: clock, admin: true})
	h1.addUser("alice")
	alice1, aliceTP := h1.login("alice", userPassword)
	admin1, adminTP := h1.login(auth.AdminUser, adminPassword)
	capacity := api.Resources{VCPUs: 4, MemoryMB: 4096}
	edge := h1.joinCluster("edge-a")
	edge.report(aggregate(capacity))
	res := h1.submit(alice1, slaDoc(t, "shop", svc("web", 256, instances(2)), svc("db", 512)))
	var ids []string
	for _, s := range res.Services {
		for _, in := range s.Instances {
			ids = append(ids, in.ID)
		}
	}
	before := edge.waitAssignments("all instances", hasInstances(ids...))
	edge.report(aggregate(capacity), running(ids[0], 1, "n1"), running(ids[1], 1, "n1"))
	web := res.Services[0].ID
	if res.Services[0].Spec.Name != "web" {
		web = res.Services[1].ID
	}
	h1.waitService(alice1, web, "RUNNING", allInState(2, api.StateRunning))
	appsBefore, _ := admin1.ListApplications(h1.ctx)
	svcsBefore, _ := admin1.ListServices(h1.ctx)
	h1.closeAll()
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute)
	st2, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	h2 := newHarness(t, harnessOptions{store: st2, clock: clock})
	// Tokens issued before the restart still work: the signing secret and
	// the users are in the store.
	admin2 := api.NewClient(h2.srv.URL, api.WithHTTPClient(h2.hc), api.WithToken(adminTP.Token))
	alice2 := api.NewClient(h2.srv.URL, api.WithHTTPClient(h2.hc), api.WithToken(aliceTP.Token))

	appsAfter, err := admin2.ListApplications(h2.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(appsAfter, appsBefore) {
		t.Errorf("applications after restart:\n%+v\nbefore:\n%+v", appsAfter, appsBefore)
	}
	svcsAfter, err := alice2.ListServices(h2.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The usage history is figures from reports, kept in memory like the
	// usage itself, not state: a restarted root starts it again.
	if !reflect.DeepEqual(withoutUsageHistory(svcsAfter), withoutUsageHistory(svcsBefore)) {
		t.Errorf("services after restart:\n%+v\nbefore:\n%+v", svcsAfter, svcsBefore)
	}

	// The cluster's credential and desired set survived.
	edge2 := h2.clusterWith("edge-a", edge.id, edge.credential)
	after := edge2.assignments()
	if after.Revision == before.Revision {
		t.Errorf("revision %d did not change across the restart; a cluster would not fetch its set", after.Revision)
	}
	if !reflect.DeepEqual(after.Items, before.Items) {
		t.Errorf("assignments after restart:\n%+v\nbefore:\n%+v", after.Items, before.Items)
	}
	cls, err := admin2.ListClusters(h2.ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := findCluster(cls, "edge-a")
	if !ok || c.ID != edge.id || c.State != api.NodeNotReady || c.Reserved != (api.Resources{VCPUs: 3, MemoryMB: 1024}) {
		t.Errorf("cluster after restart: %+v (found %v), want NOT_READY with 3 vcpus and 1024 MB reserved", c, ok)
	}
	edge2.report(aggregate(capacity), running(ids[0], 1, "n1"), running(ids[1], 1, "n1"), running(ids[2], 1, "n2"))
	if cls, _ := admin2.ListActiveClusters(h2.ctx); len(cls) != 1 {
		t.Errorf("the cluster is not active after reporting to the restarted root: %+v", cls)
	}
}

// TestSilentClusterAfterRootRestartLosesItsInstances: a root restarts and one
// of its clusters never reports again. Its instances must still be moved to
// another cluster once the timeout has passed, as they would have been had
// the root not restarted.
func TestSilentClusterAfterRootRestartLosesItsInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.db")
	clock := newFakeClock()
	st1, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	h1 := newHarness(t, harnessOptions{store: st1, clock: clock})
	h1.addUser("alice")
	alice, aliceTP := h1.login("alice", userPassword)
	capacity := api.Resources{VCPUs: 4, MemoryMB: 4096}
	a := h1.joinCluster("edge-a")
	a.report(aggregate(capacity))
	sid := h1.submit(alice, slaDoc(t, "shop", svc("web", 256))).Services[0].ID
	id := instanceID(sid, 0)
	a.waitAssignments("the instance", hasInstances(id))
	b := h1.joinCluster("edge-b")
	h1.closeAll()
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	st2, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	h2 := newHarness(t, harnessOptions{store: st2, clock: clock, clusterTimeout: 10 * time.Second})
	b2 := h2.clusterWith("edge-b", b.id, b.credential)
	b2.report(aggregate(capacity))
	clock.Advance(11 * time.Second)
	b2.report(aggregate(capacity))
	h2.root.checkClusters()
	h2.root.trigger()

	alice2 := api.NewClient(h2.srv.URL, api.WithHTTPClient(h2.hc), api.WithToken(aliceTP.Token))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if got := b2.assignments(); hasInstances(id)(got) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, _ := alice2.GetService(h2.ctx, sid)
	t.Errorf("edge-a never reported after the root restarted, yet its instance stays with it: %+v", s.Instances)
}

// withoutUsageHistory clears the in-memory usage history of services' instances.
func withoutUsageHistory(svcs []api.Service) []api.Service {
	for i := range svcs {
		for j := range svcs[i].Instances {
			svcs[i].Instances[j].CPUHistory, svcs[i].Instances[j].MemoryHistory = nil, nil
		}
	}
	return svcs
}
