package root

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
)

// The example topology (../shared/examples/fogatlas): cloud 001-001,
// trento 002-002, povo 003-003; link1 povo-cloud 100 ms, link2
// trento-cloud 100 ms, link3 povo-trento 10 ms; endpoint broker1 in trento.
func TestRegionsWithinTheExampleTopology(t *testing.T) {
	th := newTopoHarness(t)
	th.root.mu.Lock()
	topo, err := th.root.latencyTopologyLocked()
	th.root.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		area string
		ms   float64
		want []string
	}{
		{"002-002", 0, []string{"002-002"}},
		{"002-002", 10, []string{"002-002", "003-003"}},             // povo over link3
		{"trento", 50, []string{"002-002", "003-003"}},              // by name
		{"broker1", 50, []string{"002-002", "003-003"}},             // an endpoint stands for its region
		{"001-001", 100, []string{"001-001", "002-002", "003-003"}}, // both 100 ms links
		{"003-003", 99, []string{"002-002", "003-003"}},             // the cloud is 100 ms from povo
		{"nowhere", 1000, nil},
	}
	for _, tt := range tests {
		got := RegionsWithin(topo, tt.area, tt.ms)
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("RegionsWithin(%s, %g) = %v, want %v", tt.area, tt.ms, got, tt.want)
		}
	}

	// link3 down: povo reaches trento only through the cloud, 200 ms.
	l := th.links()["link3"]
	th.apply("link3 down", []byte(strings.Replace(linkDoc(l), "status: up", "status: down", 1)), http.StatusOK)
	th.root.mu.Lock()
	topo, _ = th.root.latencyTopologyLocked()
	th.root.mu.Unlock()
	if got := RegionsWithin(topo, "002-002", 150); !slices.Equal(sorted(got), []string{"001-001", "002-002"}) {
		t.Errorf("with link3 down, within 150 ms of trento: %v, want cloud and trento", got)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestLatencyConstraintMovesOnLinkDown: an instance bound to within 150 ms
// of trento runs in povo (10 ms away); link3 goes down, povo is now 200 ms
// away, and the root moves the instance: a new generation whose assignment
// allows cloud and trento only.
func TestLatencyConstraintMovesOnLinkDown(t *testing.T) {
	th := newTopoHarness(t)
	admin, _ := th.login("admin", adminPassword)
	res := th.submit(admin, slaDoc(t, "near", svc("cam", 100, func(m map[string]any) {
		m["constraints"] = []any{map[string]any{"type": "latency", "area": "002-002", "threshold": 150}}
	})))
	if len(res.Services) != 1 {
		t.Fatalf("submit: %+v", res)
	}
	a := th.fc.waitAssignments("the instance", func(a *link.Assignments) bool { return len(a.Items) == 1 })
	it := a.Items[0]
	if got := sorted(it.Spec.Constraints[0].Regions); !slices.Equal(got, []string{"001-001", "002-002", "003-003"}) {
		t.Fatalf("regions sent to the cluster %v, want all three", got)
	}
	// The cluster runs it in povo.
	th.reportWith(link.InstanceStatus{InstanceID: it.InstanceID, Generation: it.Generation, State: api.StateRunning, NodeID: "id-povo"})
	th.waitService(admin, res.Services[0].ID, "running", func(s api.Service) bool {
		return len(s.Instances) == 1 && s.Instances[0].Status == api.StateRunning
	})

	// A topology change that keeps povo within reach moves nothing.
	th.apply("same links", fogatlasFile(t, "link.yaml"), http.StatusOK)
	if b := th.fc.assignments(); len(b.Items) != 1 || b.Items[0].Generation != it.Generation {
		t.Fatalf("instance moved without need: %+v", b.Items)
	}

	l := th.links()["link3"]
	th.apply("link3 down", []byte(strings.Replace(linkDoc(l), "status: up", "status: down", 1)), http.StatusOK)
	b := th.fc.waitAssignments("the moved instance", func(a *link.Assignments) bool {
		return len(a.Items) == 1 && a.Items[0].Generation > it.Generation
	})
	if got := sorted(b.Items[0].Spec.Constraints[0].Regions); !slices.Equal(got, []string{"001-001", "002-002"}) {
		t.Errorf("regions after link3 down %v, want cloud and trento", got)
	}

	// Nothing within 5 ms of the cloud but the cloud; a region that is not
	// in the topology leaves the instance unschedulable, with the reason.
	res2 := th.submit(admin, slaDoc(t, "far", svc("x", 100, func(m map[string]any) {
		m["constraints"] = []any{map[string]any{"type": "latency", "area": "mars", "threshold": 5}}
	})))
	th.waitService(admin, res2.Services[0].ID, "unschedulable", func(s api.Service) bool {
		return len(s.Instances) == 1 && s.Instances[0].Status == api.StateUnschedulable &&
			strings.Contains(s.Instances[0].Reason, "no region of the topology is within 5 ms of mars")
	})
}

// reportWith reports the example nodes and the given instances.
func (th *topoHarness) reportWith(insts ...link.InstanceStatus) {
	th.t.Helper()
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
	rep := &link.Report{Cluster: &link.ClusterReport{Name: th.fc.name, Aggregate: agg, Nodes: nodes}, Instances: insts}
	if err := th.fc.link.Report(th.ctx, rep); err != nil {
		th.t.Fatalf("report: %v", err)
	}
}
