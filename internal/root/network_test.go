package root

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/ipam"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/store"
)

func addresses(rr, closest string) func(map[string]any) {
	return func(m map[string]any) {
		a := map[string]any{}
		if rr != "" {
			a["rr_ip"] = rr
		}
		if closest != "" {
			a["closest_ip"] = closest
		}
		m["addresses"] = a
	}
}

func byName(svcs []api.Service) map[string]api.Service {
	out := map[string]api.Service{}
	for _, s := range svcs {
		out[s.Spec.Name] = s
	}
	return out
}

// TestUnitServiceAddresses: every service gets rr_ip and closest_ip from
// the service range, an SLA's are honoured, a taken one is refused with
// 409 naming its service and nothing is stored, and one outside the range
// is a 400 naming the field.
func TestUnitServiceAddresses(t *testing.T) {
	h := newHarness(t, harnessOptions{network: ipam.Settings{ServiceCIDR: "10.30.0.0/24"}})
	h.addUser("alice")
	c, _ := h.login("alice", userPassword)

	res := h.submit(c, slaDoc(t, "shop", svc("front", 64, addresses("10.30.0.55", "")), svc("db", 64)))
	got := byName(res.Services)
	if f := got["front"]; f.RRIP != "10.30.0.55" || f.ClosestIP != "10.30.0.1" {
		t.Errorf("front: rr_ip %q closest_ip %q; want the given 10.30.0.55 and the first free 10.30.0.1", f.RRIP, f.ClosestIP)
	}
	if d := got["db"]; d.RRIP != "10.30.0.2" || d.ClosestIP != "10.30.0.3" {
		t.Errorf("db: rr_ip %q closest_ip %q; want 10.30.0.2 and 10.30.0.3", d.RRIP, d.ClosestIP)
	}
	if n := got["front"].Names; len(n) != 1 || n[0] != "front.shop.test.hedge" {
		t.Errorf("front names %v, want [front.shop.test.hedge]", n)
	}
	view, err := c.GetService(h.ctx, got["db"].ID)
	if err != nil || view.RRIP != "10.30.0.2" || view.ClosestIP != "10.30.0.3" {
		t.Errorf("GET db: %+v, %v; want its addresses", view.RRIP, err)
	}

	tests := []struct {
		name   string
		doc    []byte
		status int
		want   string
	}{
		{"a taken rr_ip", slaDoc(t, "blog", svc("web", 64, addresses("10.30.0.55", ""))), http.StatusConflict,
			"applications[0].microservices[0].addresses.rr_ip: 10.30.0.55 is already the address of service front of application shop (namespace test)"},
		{"a taken closest_ip", slaDoc(t, "blog", svc("ok", 64), svc("web", 64, addresses("", "10.30.0.3"))), http.StatusConflict,
			"applications[0].microservices[1].addresses.closest_ip: 10.30.0.3 is already the address of service db of application shop"},
		{"outside the service range", slaDoc(t, "blog", svc("web", 64, addresses("10.30.5.5", ""))), http.StatusBadRequest,
			"applications[0].microservices[0].addresses.rr_ip: must be inside the service range 10.30.0.0/24"},
		{"twice in one SLA", slaDoc(t, "blog", svc("a", 64, addresses("10.30.0.77", "")), svc("b", 64, addresses("10.30.0.77", ""))), http.StatusConflict,
			"applications[0].microservices[1].addresses.rr_ip: 10.30.0.77 is already the address of service a of application blog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.SubmitSLA(h.ctx, tt.doc, "application/json")
			if apiStatus(err) != tt.status || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("submit = %v, want %d saying %q", err, tt.status, tt.want)
			}
			if apps, _ := c.ListApplications(h.ctx); len(apps) != 1 {
				t.Fatalf("%d applications after a refused SLA, want 1 (nothing stored)", len(apps))
			}
		})
	}
	// Adding services to an application names the field of that body.
	shop := res.Applications[0].ID
	_, err = c.AddServices(h.ctx, shop, []api.ServiceSpec{{Name: "cache", Namespace: "test", Virtualization: "container", Code: "docker.io/library/redis:7",
		MemoryMB: 64, VCPUs: 1, Addresses: &api.Addresses{ClosestIP: "10.30.0.2"}}})
	if apiStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), "microservices[0].addresses.closest_ip: 10.30.0.2 is already the address of service db") {
		t.Fatalf("add a service with a taken address = %v, want 409 naming db", err)
	}
}

// TestUnitServiceAddressesArePermanent: addresses survive a restart of the
// root and are released when their service is deleted.
func TestUnitServiceAddressesArePermanent(t *testing.T) {
	st := store.NewMemory()
	h := newHarness(t, harnessOptions{store: st})
	h.addUser("alice")
	c, _ := h.login("alice", userPassword)
	res := h.submit(c, slaDoc(t, "shop", svc("front", 64), svc("db", 64, addresses("10.30.9.9", ""))))
	before := byName(res.Services)
	h.closeAll()

	h2 := newHarness(t, harnessOptions{store: st, clock: h.clock})
	c2, _ := h2.login("alice", userPassword)
	for _, name := range []string{"front", "db"} {
		s, err := c2.GetService(h2.ctx, before[name].ID)
		if err != nil || s.RRIP != before[name].RRIP || s.ClosestIP != before[name].ClosestIP {
			t.Fatalf("%s after a restart: %s/%s (%v), want %s/%s", name, s.RRIP, s.ClosestIP, err, before[name].RRIP, before[name].ClosestIP)
		}
	}
	if err := c2.DeleteService(h2.ctx, before["front"].ID); err != nil {
		t.Fatal(err)
	}
	web := h2.submit(c2, slaDoc(t, "blog", svc("web", 64))).Services[0]
	if web.RRIP != before["front"].RRIP || web.ClosestIP != before["front"].ClosestIP {
		t.Errorf("a new service got %s/%s; want the addresses the deleted front released, %s/%s", web.RRIP, web.ClosestIP, before["front"].RRIP, before["front"].ClosestIP)
	}
	_, err := c2.SubmitSLA(h2.ctx, slaDoc(t, "other", svc("x", 64, addresses(before["db"].RRIP, ""))), "application/json")
	if apiStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), "service db of application shop") {
		t.Fatalf("db's address after a restart: %v, want 409 naming db", err)
	}
}

// netMap polls the cluster's map at once.
func (fc *fakeCluster) netMap(have uint64, wait time.Duration) *netmap.Map {
	fc.h.t.Helper()
	m, err := fc.link.NetMap(fc.h.ctx, have, wait)
	if err != nil {
		fc.h.t.Fatalf("netmap of %s: %v", fc.name, err)
	}
	return m
}

// TestUnitClusterRanges: each cluster gets its own range of the instance
// network, kept across a restart of the root and released when the
// cluster is deleted.
func TestUnitClusterRanges(t *testing.T) {
	st := store.NewMemory()
	h := newHarness(t, harnessOptions{store: st, admin: true})
	a, b := h.joinCluster("a"), h.joinCluster("b")
	ra, rb := a.netMap(0, 0).Self.Range, b.netMap(0, 0).Self.Range
	if ra != "10.18.0.0/20" || rb != "10.18.16.0/20" {
		t.Fatalf("ranges %q and %q, want 10.18.0.0/20 and 10.18.16.0/20", ra, rb)
	}
	if m := a.netMap(0, 0); m.Self.ID != a.id || m.InstanceCIDR != "10.18.0.0/16" || m.ServiceCIDR != "10.30.0.0/16" || m.WorkerPrefix != 24 {
		t.Errorf("map of a: %+v", m)
	}
	h.closeAll()

	h2 := newHarness(t, harnessOptions{store: st, clock: h.clock})
	b2 := h2.clusterWith("b", b.id, b.credential)
	if got := b2.netMap(0, 0).Self.Range; got != rb {
		t.Fatalf("b's range after a restart %q, want %q", got, rb)
	}
	if _, err := h2.root.DeleteCluster("a"); err != nil {
		t.Fatal(err)
	}
	c := h2.joinCluster("c")
	if got := c.netMap(0, 0).Self.Range; got != ra {
		t.Errorf("a new cluster got %q, want the range deleted a released, %q", got, ra)
	}
}

// TestUnitNetworkSettingsAcrossRestarts: settings not given keep the
// stored ones; a given one that would renumber is refused, naming it.
func TestUnitNetworkSettingsAcrossRestarts(t *testing.T) {
	st := store.NewMemory()
	a, err := auth.NewService(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := func(s ipam.Settings) (*Root, error) { return New(Config{Store: st, Auth: a, Network: s}) }
	if _, err := start(ipam.Settings{InstanceCIDR: "10.18.0.1/16"}); err == nil || !strings.Contains(err.Error(), "instance-cidr: 10.18.0.1/16 has host bits set") {
		t.Fatalf("a bad setting: %v", err)
	}
	if _, err := start(ipam.Settings{InstanceCIDR: "10.50.0.0/16", WorkerPrefix: 26}); err != nil {
		t.Fatal(err)
	}
	r, err := start(ipam.Settings{Encrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.NetworkSettings(); s.InstanceCIDR != "10.50.0.0/16" || s.WorkerPrefix != 26 || s.ServiceCIDR != "10.30.0.0/16" || !s.Encrypt {
		t.Errorf("settings after a restart without flags: %+v; want the stored ones, encryption as given", s)
	}
	if _, err := start(ipam.Settings{WorkerPrefix: 24}); err == nil || !strings.Contains(err.Error(), "worker-prefix: the store holds 26, the flag says 24") {
		t.Fatalf("renumbering: %v", err)
	}
}

// TestUnitNetMapFollowsInstances: a worker with a subnet, and a RUNNING
// instance with an address, reach the map at once (the waiting long-poll
// answers); a report that changes nothing moves no revision.
func TestUnitNetMapFollowsInstances(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("alice")
	c, _ := h.login("alice", userPassword)
	fc := h.joinCluster("a")
	agg := aggregate(api.Resources{VCPUs: 8, MemoryMB: 8192})
	fc.report(agg)
	res := h.submit(c, slaDoc(t, "shop", svc("front", 64)))
	id := res.Services[0].ID + "-0"
	fc.waitAssignments("front", hasInstances(id))

	m0 := fc.netMap(0, 0)
	if len(m0.Services) != 1 || m0.Services[0].RRIP != res.Services[0].RRIP || m0.Services[0].Namespace != "test" || len(m0.Services[0].Instances) != 0 {
		t.Fatalf("services of the map: %+v", m0.Services)
	}
	got := make(chan *netmap.Map, 1)
	go func() { got <- fc.netMap(m0.Revision, time.Minute) }()
	st := running(id, 1, "w1")
	st.IP = "10.18.0.2"
	nodes := []api.Node{{ID: "w1-id", Name: "w1", Subnet: "10.18.0.0/24", TunnelEndpoint: "192.0.2.1:4789", TunnelPublicKey: "cHVibGlj"}}
	rep := &link.Report{Cluster: &link.ClusterReport{Name: "a", Aggregate: agg, Nodes: nodes}, Instances: []link.InstanceStatus{st}}
	if err := fc.link.Report(h.ctx, rep); err != nil {
		t.Fatal(err)
	}
	m1 := <-got
	if m1.Revision == m0.Revision {
		t.Fatal("the waiting long-poll answered with the old revision")
	}
	wantW := netmap.Worker{ID: "w1-id", Name: "w1", Cluster: fc.id, Subnet: "10.18.0.0/24", Endpoint: "192.0.2.1:4789", PublicKey: "cHVibGlj"}
	if len(m1.Workers) != 1 || m1.Workers[0] != wantW {
		t.Errorf("workers %+v, want [%+v]", m1.Workers, wantW)
	}
	if in := m1.Services[0].Instances; len(in) != 1 || in[0] != (netmap.Backend{InstanceID: id, IP: "10.18.0.2", Worker: "w1-id"}) {
		t.Errorf("backends %+v", in)
	}
	s, _ := c.GetService(h.ctx, res.Services[0].ID)
	if len(s.Instances) != 1 || s.Instances[0].IP != "10.18.0.2" {
		t.Errorf("instance view %+v, want ip 10.18.0.2", s.Instances)
	}
	nl, _ := c.ListNodes(h.ctx)
	if len(nl) != 1 || nl[0].Subnet != "10.18.0.0/24" || nl[0].TunnelEndpoint != "192.0.2.1:4789" {
		t.Errorf("nodes %+v, want the subnet and tunnel", nl)
	}
	if err := fc.link.Report(h.ctx, rep); err != nil {
		t.Fatal(err)
	}
	if m := fc.netMap(0, 0); m.Revision != m1.Revision {
		t.Errorf("a report that changed nothing moved the map from %d to %d", m1.Revision, m.Revision)
	}
}

// TestUnitNamespaceIsolation: Admin isolates a namespace and it lands in
// the map; a tenant gets 403; a bad name is a 400 naming the field.
func TestUnitNamespaceIsolation(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	admin, _ := h.login(auth.AdminUser, adminPassword)
	h.addUser("alice")
	alice, _ := h.login("alice", userPassword)
	fc := h.joinCluster("a")
	m0 := fc.netMap(0, 0)

	if _, err := alice.SetIsolation(h.ctx, "test", api.NamespaceIsolation{Isolated: true}); apiStatus(err) != http.StatusForbidden {
		t.Fatalf("a tenant isolating a namespace: %v, want 403", err)
	}
	if _, err := alice.ListIsolation(h.ctx); apiStatus(err) != http.StatusForbidden {
		t.Fatalf("a tenant listing isolation: %v, want 403", err)
	}
	if _, err := admin.SetIsolation(h.ctx, "test", api.NamespaceIsolation{Isolated: true, Allow: []string{"bad name"}}); apiStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "allow[0]") {
		t.Fatalf("a bad allow entry: %v, want 400 naming allow[0]", err)
	}
	if _, err := admin.SetIsolation(h.ctx, "test", api.NamespaceIsolation{Isolated: true, Allow: []string{"ops"}}); err != nil {
		t.Fatal(err)
	}
	m1 := fc.netMap(m0.Revision, time.Minute)
	if len(m1.Isolated) != 1 || m1.Isolated[0].Namespace != "test" || len(m1.Isolated[0].Allow) != 1 || m1.Isolated[0].Allow[0] != "ops" {
		t.Fatalf("isolated %+v", m1.Isolated)
	}
	list, err := admin.ListIsolation(h.ctx)
	if err != nil || len(list) != 1 || !list[0].Isolated {
		t.Fatalf("list %+v, %v", list, err)
	}
	if _, err := admin.SetIsolation(h.ctx, "test", api.NamespaceIsolation{}); err != nil {
		t.Fatal(err)
	}
	if m := fc.netMap(m1.Revision, time.Minute); len(m.Isolated) != 0 {
		t.Errorf("opened namespace still isolated: %+v", m.Isolated)
	}
	// Each change is in the audit log, with the namespace and who did it
	// (the tenant's refusals too).
	page, err := admin.Audit(h.ctx, api.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byWho := map[string][]int{}
	for _, e := range page.Entries {
		if e.Path == "/api/namespaces/test/isolation" && e.Method == http.MethodPut && e.Object == "test" {
			byWho[e.User] = append(byWho[e.User], e.Status)
		}
	}
	if len(byWho[auth.AdminUser]) != 3 || len(byWho["alice"]) != 1 || byWho["alice"][0] != http.StatusForbidden {
		t.Errorf("audit entries of the isolation changes by user and status: %v; want admin's three and alice's 403", byWho)
	}
}

// TestUnitServicesOfAnEarlierReleaseGetAddresses: services stored without
// addresses (before service networking) get them at the next start: their
// SLA's where free, else free ones.
func TestUnitServicesOfAnEarlierReleaseGetAddresses(t *testing.T) {
	st := store.NewMemory()
	h := newHarness(t, harnessOptions{store: st})
	h.addUser("alice")
	c, _ := h.login("alice", userPassword)
	first := h.submit(c, slaDoc(t, "one", svc("web", 64, addresses("10.30.55.55", "")))).Services[0]
	h.clock.Advance(time.Second)
	second := h.submit(c, slaDoc(t, "two", svc("web", 64))).Services[0]
	h.closeAll()
	// As an earlier release stored them: no addresses, and (as it allowed)
	// both asking for 10.30.55.55.
	err := st.Update(func(tx store.Tx) error {
		for _, id := range []string{first.ID, second.ID} {
			var raw map[string]any
			if err := tx.Get(bucketServices, id, &raw); err != nil {
				return err
			}
			delete(raw, "net")
			raw["spec"].(map[string]any)["addresses"] = map[string]any{"rr_ip": "10.30.55.55"}
			if err := tx.Put(bucketServices, id, raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, harnessOptions{store: st, clock: h.clock})
	c2, _ := h2.login("alice", userPassword)
	s1, _ := c2.GetService(h2.ctx, first.ID)
	s2, _ := c2.GetService(h2.ctx, second.ID)
	if s1.RRIP != "10.30.55.55" || s1.ClosestIP == "" {
		t.Errorf("the older service: %s/%s, want its own 10.30.55.55 and a closest_ip", s1.RRIP, s1.ClosestIP)
	}
	if s2.RRIP == "" || s2.RRIP == "10.30.55.55" || s2.ClosestIP == "" || s2.ClosestIP == s1.ClosestIP {
		t.Errorf("the newer service: %s/%s, want free addresses of its own", s2.RRIP, s2.ClosestIP)
	}
}

// TestUnitUpdateKeepsAddresses: an update may repeat a service's addresses
// but not change them.
func TestUnitUpdateKeepsAddresses(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("alice")
	c, tok := h.login("alice", userPassword)
	s := h.submit(c, slaDoc(t, "shop", svc("web", 64, addresses("10.30.1.1", "")))).Services[0]
	status, body := h.do(http.MethodPut, "/api/service/"+s.ID, tok.Token, "application/json", mustJSON(t, svc("web", 64, addresses("10.30.1.2", ""))))
	if status != http.StatusConflict || !strings.Contains(string(body), "addresses.rr_ip: the service has 10.30.1.1 for its whole life") {
		t.Fatalf("update changing rr_ip: %d %s, want 409 naming addresses.rr_ip", status, body)
	}
	status, body = h.do(http.MethodPut, "/api/service/"+s.ID, tok.Token, "application/json", mustJSON(t, svc("web", 128, addresses("10.30.1.1", ""))))
	if status != http.StatusOK {
		t.Fatalf("update keeping rr_ip: %d %s", status, body)
	}
	if v, _ := c.GetService(h.ctx, s.ID); v.RRIP != "10.30.1.1" || v.ClosestIP != s.ClosestIP {
		t.Errorf("after an update: %s/%s, want %s/%s", v.RRIP, v.ClosestIP, "10.30.1.1", s.ClosestIP)
	}
}

// BenchmarkNetMapRefresh is the root's cost of one change to the instance
// network: rebuilding the map of 1,000 services with 3 running instances
// each and comparing its digest (what every instance state change costs).
func BenchmarkNetMapRefresh(b *testing.B) {
	a, err := auth.NewService(store.NewMemory(), auth.Options{})
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(Config{Store: store.NewMemory(), Auth: a})
	if err != nil {
		b.Fatal(err)
	}
	r.apps["app"] = &api.Application{ID: "app", Name: "shop", Namespace: "test"}
	for i := range 1000 {
		sid := fmt.Sprintf("s%04d", i)
		r.svcs[sid] = &service{Service: api.Service{ID: sid, ApplicationID: "app", AppName: "shop", Spec: api.ServiceSpec{Name: sid}},
			Net: &svcNet{RRIP: fmt.Sprintf("10.30.%d.%d", i/250, i%250+1), ClosestIP: fmt.Sprintf("10.30.%d.%d", 8+i/250, i%250+1)}}
		for n := range 3 {
			id := fmt.Sprintf("%s-%d", sid, n)
			r.insts[id] = &instance{ID: id, ServiceID: sid, ClusterID: "c", Status: link.InstanceStatus{State: api.StateRunning, IP: fmt.Sprintf("10.18.%d.%d", n, i%250+2), NodeID: "w"}}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b.ReportAllocs()
	for b.Loop() {
		r.net.digest = "" // a change: the map is published
		r.refreshNetLocked()
	}
}
