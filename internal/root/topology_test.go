package root

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/placement/app"
	"github.com/hedgeorch/hedge/internal/topology"
)

// These tests drive the live path of topology-aware placement through the
// HTTP API: the FogAtlas example files (copies in testdata/fogatlas) applied
// as they are, a fake cluster reporting nodes labelled into the regions, and
// the services a FADepl becomes.

func fogatlasFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fogatlas", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// topoHarness is a root with the example topology applied and one fake
// cluster whose nodes are labelled into the three example regions.
type topoHarness struct {
	*harness
	token string
	fc    *fakeCluster
}

func newTopoHarness(t *testing.T) *topoHarness {
	h := newHarness(t, harnessOptions{admin: true})
	_, tp := h.login("admin", adminPassword)
	th := &topoHarness{harness: h, token: tp.Token}
	for _, f := range []string{"region.yaml", "link.yaml", "externalendpoint.yaml"} {
		th.apply(f, fogatlasFile(t, f), http.StatusOK)
	}
	th.fc = h.joinCluster("site")
	th.reportNodes()
	return th
}

// reportNodes reports one node per example region, 4 cores and 8 GiB each.
func (th *topoHarness) reportNodes() {
	var nodes []api.Node
	for _, r := range []struct{ id, name string }{{"001-001", "cloud"}, {"002-002", "trento"}, {"003-003", "povo"}} {
		nodes = append(nodes, api.Node{
			ID: "id-" + r.name, Name: r.name, State: api.NodeReady, Arch: "amd64", Runtimes: []string{"container", "process"},
			Labels:   map[string]string{"region": r.id, "region-name": r.name},
			Capacity: api.Resources{VCPUs: 4, MemoryMB: 8192},
		})
	}
	agg := aggregate(api.Resources{VCPUs: 12, MemoryMB: 3 * 8192})
	agg.ActiveNodes = 3
	agg.MaxNodeFree = api.Resources{VCPUs: 4, MemoryMB: 8192}
	rep := &link.Report{Cluster: &link.ClusterReport{Name: th.fc.name, Aggregate: agg, Nodes: nodes}, Instances: []link.InstanceStatus{}}
	if err := th.fc.link.Report(th.ctx, rep); err != nil {
		th.t.Fatalf("report: %v", err)
	}
}

func (th *topoHarness) apply(what string, body []byte, want int) TopologyApplied {
	th.t.Helper()
	code, b := th.do(http.MethodPost, "/api/topology", th.token, "application/yaml", body)
	if code != want {
		th.t.Fatalf("apply %s: status %d, want %d: %s", what, code, want, b)
	}
	var out TopologyApplied
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			th.t.Fatalf("decode %s: %v", b, err)
		}
	}
	return out
}

func (th *topoHarness) get(path string, out any) {
	th.t.Helper()
	code, b := th.do(http.MethodGet, path, th.token, "", nil)
	if code != http.StatusOK {
		th.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		th.t.Fatalf("decode GET %s: %v", path, err)
	}
}

func (th *topoHarness) links() map[string]topology.Link {
	var ls []topology.Link
	th.get("/api/links", &ls)
	out := map[string]topology.Link{}
	for _, l := range ls {
		out[l.ID] = l
	}
	return out
}

// services returns the services of the FADepl's application by name.
func (th *topoHarness) services(appID string) map[string]api.Service {
	var svcs []api.Service
	th.get("/api/services/"+appID, &svcs)
	out := map[string]api.Service{}
	for _, s := range svcs {
		out[s.Spec.Name] = s
	}
	return out
}

// checkFollows checks that the application's services are exactly one per
// (microservice, region) of res, named <ms>.reg.<region> and pinned there,
// and that every link's bwallocated is res's occupancy.
func (th *topoHarness) checkFollows(v FADeplView) {
	th.t.Helper()
	res := v.Status
	svcs := th.services(v.ApplicationID)
	n := 0
	for _, p := range res.Placements {
		for _, rp := range p.Regions {
			n++
			name := p.Microservice + ".reg." + rp.Region
			s, ok := svcs[name]
			if !ok {
				th.t.Fatalf("no service %s; have %v", name, keys(svcs))
			}
			if s.Spec.NodeSelector["region"] != rp.Region || s.Spec.Instances != rp.Replicas || s.Spec.Code != rp.Image {
				th.t.Errorf("service %s spec = %+v, want region %s, %d instances, code %s", name, s.Spec, rp.Region, rp.Replicas, rp.Image)
			}
			if s.Spec.VCPUs != float64(rp.CPUMillis)/1000 || s.Spec.MemoryMB != (rp.MemoryBytes+(1<<20)-1)>>20 {
				th.t.Errorf("service %s resources = %v cores %d MB, want %d m %d bytes", name, s.Spec.VCPUs, s.Spec.MemoryMB, rp.CPUMillis, rp.MemoryBytes)
			}
		}
	}
	if len(svcs) != n {
		th.t.Errorf("application has services %v, want %d", keys(svcs), n)
	}
	want := map[string]int64{}
	for _, o := range res.LinksOccupancy {
		want[o.LinkID] = o.BWAllocated
	}
	for id, l := range th.links() {
		if l.BWAllocated != want[id] {
			th.t.Errorf("link %s bwallocated = %d, want %d", id, l.BWAllocated, want[id])
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTopologyApplyStoresTheExampleFiles(t *testing.T) {
	th := newTopoHarness(t)
	var regions []topology.Region
	th.get("/api/regions", &regions)
	if len(regions) != 3 || regions[2].ID != "003-003" || regions[2].CPU2MIPS != 5000 || regions[2].Tier != 2 || regions[2].Location == nil {
		t.Errorf("regions = %+v", regions)
	}
	ls := th.links()
	if l := ls["link3"]; len(ls) != 3 || l.Bandwidth != 100_000_000 || l.Latency != 10 || l.Status != "up" || l.EndpointA != "003-003" {
		t.Errorf("links = %+v", ls)
	}
	var eps []topology.ExternalEndpoint
	th.get("/api/endpoints", &eps)
	if len(eps) != 4 || eps[0].ID != "broker1" || eps[0].RegionID != "002-002" {
		t.Errorf("endpoints = %+v", eps)
	}

	// A region still named by links cannot go; an endpoint can.
	if code, b := th.do(http.MethodDelete, "/api/regions/001-001", th.token, "", nil); code != http.StatusConflict {
		t.Errorf("delete linked region: %d %s, want 409", code, b)
	}
	if code, b := th.do(http.MethodDelete, "/api/endpoints/sens1", th.token, "", nil); code != http.StatusNoContent && code != http.StatusOK {
		t.Errorf("delete endpoint: %d %s", code, b)
	}
	th.get("/api/endpoints", &eps)
	if len(eps) != 3 {
		t.Errorf("endpoints after delete = %+v", eps)
	}
}

func TestTopologyApplyRejectsBadDocuments(t *testing.T) {
	th := newTopoHarness(t)
	tests := []struct {
		name string
		body string
		// want are substrings of the answer, one per problem.
		want []string
	}{
		{
			name: "every field problem listed",
			body: "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Link\nmetadata: {name: bad}\nspec: {id: bad, endpointa: 001-001, bandwidth: 10X, latency: 5}\n" +
				"---\napiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: {tier: x}\n",
			want: []string{"documents[1].spec.endpointb", "documents[1].spec.bandwidth", "documents[2].spec.id", "documents[2].spec.tier"},
		},
		{
			name: "reference to an unknown region",
			body: "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Link\nmetadata: {name: l}\nspec: {id: l9, endpointa: 001-001, endpointb: 009-009, bandwidth: 1M, latency: 5}\n",
			want: []string{`endpoint \"009-009\" names no region`},
		},
		{
			name: "unknown kind",
			body: "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Gadget\nmetadata: {name: g}\n",
			want: []string{"documents[1].kind"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := th.do(http.MethodPost, "/api/topology", th.token, "application/yaml", []byte(tt.body))
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", code, b)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("answer lacks %q: %s", w, b)
				}
			}
		})
	}
	if ls := th.links(); len(ls) != 3 {
		t.Errorf("a rejected input changed the links: %v", keys(ls))
	}
}

func TestTopologyWritesNeedAdmin(t *testing.T) {
	th := newTopoHarness(t)
	th.addUser("alice")
	_, tp := th.login("alice", userPassword)
	code, b := th.do(http.MethodPost, "/api/topology", tp.Token, "application/yaml", fogatlasFile(t, "region.yaml"))
	if code != http.StatusForbidden {
		t.Errorf("user writes regions: %d %s, want 403", code, b)
	}
	// A user may place an application.
	code, b = th.do(http.MethodPost, "/api/fadepl", tp.Token, "application/yaml", fogatlasFile(t, "fadepl-dag.yaml"))
	if code != http.StatusOK {
		t.Fatalf("user applies a FADepl: %d %s", code, b)
	}
	// ... which the admin sees and other users do not.
	if code, _ := th.do(http.MethodGet, "/api/fadepl/simple-app", th.token, "", nil); code != http.StatusOK {
		t.Errorf("admin GET fadepl: %d", code)
	}
	th.addUser("bob")
	_, bob := th.login("bob", userPassword)
	if code, _ := th.do(http.MethodGet, "/api/fadepl/simple-app", bob.Token, "", nil); code != http.StatusNotFound {
		t.Errorf("bob GET alice's fadepl: %d, want 404", code)
	}
}

func TestFADeplPlacedRunsAsRegionServices(t *testing.T) {
	th := newTopoHarness(t)
	out := th.apply("fadepl-dag.yaml", fogatlasFile(t, "fadepl-dag.yaml"), http.StatusOK)
	if len(out.FADepls) != 1 {
		t.Fatalf("applied = %+v", out)
	}
	v := out.FADepls[0]
	if v.Status.Status != app.StatusNew || v.Status.Method != app.MethodExact || v.ApplicationID == "" {
		t.Fatalf("status = %+v", v.Status)
	}
	for _, ms := range []string{"driver1", "driver2"} {
		p, _ := v.Status.Placement(ms)
		if len(p.Regions) != 1 || p.Regions[0].Region != "003-003" {
			t.Errorf("%s placed in %+v, want its required region 003-003", ms, p.Regions)
		}
	}
	if len(v.Status.LinksOccupancy) == 0 {
		t.Fatalf("no link occupancy: %+v", v.Status)
	}
	th.checkFollows(v)

	// The services' instances reach the cluster, pinned to their regions.
	svcs := th.services(v.ApplicationID)
	var ids []string
	for _, s := range svcs {
		for _, in := range s.Instances {
			ids = append(ids, in.ID)
		}
	}
	th.fc.waitAssignments("the FADepl's instances", hasInstances(ids...))

	var got FADeplView
	th.get("/api/fadepl/simple-app", &got)
	if got.Status.Status != app.StatusNew || got.ApplicationID != v.ApplicationID {
		t.Errorf("GET fadepl = %+v", got)
	}

	// Applying it again changes nothing: Synced, the same services.
	again := th.apply("fadepl-dag.yaml again", fogatlasFile(t, "fadepl-dag.yaml"), http.StatusOK).FADepls[0]
	if again.Status.Status != app.StatusSynced {
		t.Errorf("second apply status %s, want Synced", again.Status.Status)
	}
	for name, s := range th.services(v.ApplicationID) {
		if svcs[name].ID != s.ID {
			t.Errorf("service %s was replaced on a Synced placement", name)
		}
	}
	th.checkFollows(again)

	// Deleting it removes the services and releases the bandwidth.
	if code, b := th.do(http.MethodDelete, "/api/fadepl/simple-app", th.token, "", nil); code >= 300 {
		t.Fatalf("delete: %d %s", code, b)
	}
	for id, l := range th.links() {
		if l.BWAllocated != 0 {
			t.Errorf("link %s keeps %d bit/s after the delete", id, l.BWAllocated)
		}
	}
	if code, _ := th.do(http.MethodGet, "/api/application/"+v.ApplicationID, th.token, "", nil); code != http.StatusNotFound {
		t.Errorf("application after delete: %d, want 404", code)
	}
	th.fc.waitAssignments("no instance", hasInstances())
}

// TestFADeplReplacedWhenALinkChanges takes down, then shrinks, links the
// placement uses, and checks that the application is placed again, its
// services follow, and no down link keeps bandwidth.
func TestFADeplReplacedWhenALinkChanges(t *testing.T) {
	th := newTopoHarness(t)
	v := th.apply("fadepl-dag.yaml", fogatlasFile(t, "fadepl-dag.yaml"), http.StatusOK).FADepls[0]
	before := v.Status
	used := before.LinksOccupancy[0].LinkID
	l := th.links()[used]

	down := strings.Replace(linkDoc(l), "status: up", "status: down", 1)
	out := th.apply("link down", []byte(down), http.StatusOK)
	if len(out.Replaced) != 1 {
		t.Fatalf("replaced = %+v, want simple-app", out.Replaced)
	}
	after := out.Replaced[0]
	t.Logf("link %s down: %s -> %s (%s)", used, placementText(before), placementText(after.Status), after.Status.Reason)
	if after.Status.Status == app.StatusFailed {
		t.Fatalf("placement failed with %s down: %s", used, after.Status.Reason)
	}
	for _, o := range after.Status.LinksOccupancy {
		if o.LinkID == used {
			t.Errorf("down link %s still carries %d bit/s", used, o.BWAllocated)
		}
	}
	th.checkFollows(after)
	if placementText(before) != placementText(after.Status) && after.Status.Status != app.StatusChanged {
		t.Errorf("placement moved but status is %s, want Changed", after.Status.Status)
	}

	// Every link shrunk below what the dataflows need: Failed, and the
	// previous placement keeps running.
	var small strings.Builder
	for _, l := range th.links() {
		l.Bandwidth = 1000
		small.WriteString(linkDoc(l) + "---\n")
	}
	out = th.apply("links shrunk", []byte(small.String()), http.StatusOK)
	failed := out.Replaced[0]
	if failed.Status.Status != app.StatusFailed || failed.Status.Reason == "" || failed.Running == nil {
		t.Fatalf("with 1 kbit/s links: %+v, want Failed with a reason and the old placement running", failed)
	}
	th.checkFollows(FADeplView{ApplicationID: failed.ApplicationID, Status: failed.Running})

	// Bandwidth back: placed again.
	out = th.apply("links restored", fogatlasFile(t, "link.yaml"), http.StatusOK)
	if st := out.Replaced[0].Status.Status; st == app.StatusFailed {
		t.Fatalf("restored links: still failed: %s", out.Replaced[0].Status.Reason)
	}
	th.checkFollows(out.Replaced[0])
}

// TestFADeplMovesServicesToAnotherRegion places a Silly application, then
// applies the DAG application again with its processor required elsewhere,
// and checks the service of the old region is deleted and one in the new
// region created.
func TestFADeplMovesServicesToAnotherRegion(t *testing.T) {
	th := newTopoHarness(t)
	out := th.apply("fadepl-silly.yaml", fogatlasFile(t, "fadepl-silly.yaml"), http.StatusOK)
	if len(out.FADepls) != 1 || out.FADepls[0].Status.Status != app.StatusNew {
		t.Fatalf("silly: %+v", out)
	}
	th.checkFollows(out.FADepls[0])
	// Move every microservice of the DAG app by requiring another region.
	dag := string(fogatlasFile(t, "fadepl-dag.yaml"))
	v := th.apply("dag", []byte(dag), http.StatusOK).FADepls[0]
	p, _ := v.Status.Placement("processor")
	from := p.Regions[0].Region
	to := "001-001"
	if from == to {
		to = "002-002"
	}
	moved := strings.Replace(dag, "    - name: processor\n", "    - name: processor\n      regions:\n        - regionrequired: \""+to+"\"\n", 1)
	v2 := th.apply("dag moved", []byte(moved), http.StatusOK).FADepls[0]
	if v2.Status.Status != app.StatusChanged {
		t.Fatalf("status %s (%s), want Changed", v2.Status.Status, v2.Status.Reason)
	}
	svcs := th.services(v2.ApplicationID)
	if _, ok := svcs["processor.reg."+from]; ok {
		t.Errorf("service processor.reg.%s left behind", from)
	}
	if s, ok := svcs["processor.reg."+to]; !ok || s.Spec.NodeSelector["region"] != to {
		t.Errorf("no processor.reg.%s pinned there: %v", to, keys(svcs))
	}
	th.checkFollows(v2)
}

func placementText(res *app.Result) string {
	var parts []string
	for _, p := range res.Placements {
		for _, rp := range p.Regions {
			parts = append(parts, rp.Deployment)
		}
	}
	return strings.Join(parts, ",")
}

// linkDoc writes a link back as a FogAtlas document.
func linkDoc(l topology.Link) string {
	return "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Link\nmetadata:\n  name: " + l.ID + "\nspec:\n  id: " + l.ID +
		"\n  endpointa: \"" + l.EndpointA + "\"\n  endpointb: \"" + l.EndpointB + "\"\n  bandwidth: " + jsonNum(l.Bandwidth) +
		"\n  latency: " + jsonNum(int64(l.Latency)) + "\n  status: " + l.Status + "\n"
}

func jsonNum(v int64) string { b, _ := json.Marshal(v); return string(b) }
