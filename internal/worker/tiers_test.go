package worker

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/cluster"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/root"
	"github.com/hedgeorch/hedge/internal/sla"
	"github.com/hedgeorch/hedge/internal/store"
)

// tierWorker is one worker of TestIntegrationTiersCarryInstancesToEveryMap.
type tierWorker struct {
	name string
	w    *Worker
	d    *fakeDriver
	net  *fakeNet
}

// backendsAt returns when the worker first applied, after since, a map in
// which service sid has n backends (zero if never).
func (tw *tierWorker) backendsAt(sid string, n int, since time.Time) time.Time {
	tw.net.mu.Lock()
	defer tw.net.mu.Unlock()
	for i, m := range tw.net.maps {
		if tw.net.at[i].Before(since) {
			continue
		}
		for _, s := range m.Services {
			if s.ID == sid && len(s.Instances) == n {
				return tw.net.at[i]
			}
		}
	}
	return time.Time{}
}

// TestIntegrationTiersCarryInstancesToEveryMap runs a real root, two real
// clusters and three real workers (fake drivers and instance networks),
// linked over real sockets as separate processes are: a service's three
// RUNNING instances, with the addresses their workers gave them, reach the
// map every worker applies, each worker with its own subnet of its
// cluster's range. It logs the time from the last instance's start to the
// last worker's map (the 2 s budget), as a figure, not a verdict.
func TestIntegrationTiersCarryInstancesToEveryMap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var servers []*httptest.Server
	defer func() {
		cancel()
		wg.Wait()
		for _, s := range servers {
			s.CloseClientConnections()
			s.Close()
		}
	}()
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	serve := func(s *httptest.Server) *httptest.Server { servers = append(servers, s); return s }
	opts := link.RunOptions{PollWait: 5 * time.Second, ReportInterval: time.Second}

	st := store.NewMemory()
	au, err := auth.NewService(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := root.New(root.Config{Store: st, Auth: au})
	if err != nil {
		t.Fatal(err)
	}
	run(func() { r.Run(ctx) })
	rootSrv := serve(httptest.NewServer(r.LinkHandler().Handler()))

	var workers []*tierWorker
	for ci, names := range [][]string{{"a1", "a2"}, {"b1"}} {
		tok, err := au.CreateJoinToken(auth.JoinKindCluster, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cname := fmt.Sprint("site", ci)
		resp, err := link.Join(ctx, rootSrv.Client(), rootSrv.URL, link.JoinRequest{Token: tok, Name: cname})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := cluster.New(cluster.Config{Name: cname, Store: store.NewMemory(), WorkerTokens: []string{"wtok"}})
		if err != nil {
			t.Fatal(err)
		}
		run(func() { cl.Run(ctx) })
		run(func() { link.Run(ctx, link.NewClient(rootSrv.URL, resp.Credential, rootSrv.Client()), cl, opts) })
		clSrv := serve(httptest.NewServer(cl.Handler().Handler()))
		for _, name := range names {
			wresp, err := link.Join(ctx, clSrv.Client(), clSrv.URL, link.JoinRequest{Token: "wtok", Name: name})
			if err != nil {
				t.Fatal(err)
			}
			tw := &tierWorker{name: name, d: newFakeDriver("container"), net: newFakeNet(0)}
			tw.w, _ = startWorker(t, tw.d, workerOptions{net: tw.net})
			run(func() { link.Run(ctx, link.NewClient(clSrv.URL, wresp.Credential, clSrv.Client()), tw.w, opts) })
			workers = append(workers, tw)
		}
	}

	doc, err := sla.Parse([]byte(`{"sla_version":"v2.0","customerID":"admin","applications":[{"application_name":"shop","application_namespace":"test",
		"microservices":[{"microservice_name":"front","microservice_namespace":"test","virtualization":"container","code":"docker.io/library/nginx:latest",
		"memory":64,"vcpus":0.5,"instances":3,"addresses":{"rr_ip":"10.30.55.55"}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// Every worker is ready (reported through its cluster) before the
	// service is placed, so placement sees all three.
	waitUntil(t, "three ready nodes at the root", func() bool {
		n := 0
		for _, node := range r.Nodes() {
			if node.State == api.NodeReady {
				n++
			}
		}
		return n == 3
	})
	_, svcs, err := r.Submit(ctx, root.Caller{User: "admin", UserID: "admin", Admin: true}, doc, true)
	if err != nil {
		t.Fatal(err)
	}
	sid := svcs[0].ID
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && slices.ContainsFunc(workers, func(tw *tierWorker) bool { return tw.backendsAt(sid, 3, time.Time{}).IsZero() }) {
		time.Sleep(10 * time.Millisecond)
	}
	var lastStart, lastMap time.Time
	subnets := map[string]bool{}
	for _, tw := range workers {
		at := tw.backendsAt(sid, 3, time.Time{})
		if at.IsZero() {
			tw.net.mu.Lock()
			maps := slices.Clone(tw.net.maps)
			tw.net.mu.Unlock()
			t.Fatalf("worker %s never applied a map with the 3 instances of front; it applied %d maps", tw.name, len(maps))
		}
		lastMap = maxTime(lastMap, at)
		tw.net.mu.Lock()
		m := tw.net.maps[len(tw.net.maps)-1]
		tw.net.mu.Unlock()
		if m.Self.Subnet == "" || subnets[m.Self.Subnet] {
			t.Errorf("worker %s has subnet %q (taken: %v)", tw.name, m.Self.Subnet, subnets)
		}
		subnets[m.Self.Subnet] = true
		if len(m.Workers) != 3 {
			t.Errorf("worker %s sees %d workers, want 3", tw.name, len(m.Workers))
		}
		if s := m.Services[0]; s.RRIP != "10.30.55.55" || s.ClosestIP == "" || s.Namespace != "test" {
			t.Errorf("service in %s's map: %+v", tw.name, s)
		}
		tw.d.mu.Lock()
		for _, ts := range tw.d.startedAt {
			lastStart = maxTime(lastStart, ts[len(ts)-1])
		}
		tw.d.mu.Unlock()
	}
	t.Logf("last instance started -> map with all 3 instances applied on every worker: %v", lastMap.Sub(lastStart).Round(time.Millisecond))

	// An instance deleted leaves every worker's map.
	deleted := time.Now()
	if err := r.DeleteInstance(root.Caller{Admin: true}, sid, 0); err != nil {
		t.Fatal(err)
	}
	for _, tw := range workers {
		waitUntil(t, "instance 0 to leave "+tw.name+"'s map", func() bool { return !tw.backendsAt(sid, 2, deleted).IsZero() })
		lastMap = maxTime(lastMap, tw.backendsAt(sid, 2, deleted))
	}
	t.Logf("instance deleted -> map without it applied on every worker: %v", lastMap.Sub(deleted).Round(time.Millisecond))
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
