package app

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/topology"
)

// The example topology (testdata, verbatim from FogAtlas) for the hand checks
// below:
//
//	001-001 cloud   tier 0  cpu2mips 50000  nodes cloud-1 (16 cpu, 64Gi, accelerator nvidia-tesla-t4), cloud-2
//	002-002 trento  tier 1  cpu2mips 30000  nodes trento-1 (4 cpu, 8Gi, 0.5 cpu/1Gi allocated), trento-2 (4 cpu, 8Gi)
//	003-003 povo    tier 2  cpu2mips 5000   node  povo-1 (2 cpu, 2Gi)
//	link1 003-001 10M 100 ms, link2 002-001 10M 100 ms, link3 003-002 100M 10 ms
//	cam1, cam2 in 003-003; broker1 in 002-002; sens1 in 001-001
//
// Routes: 003<->001 is link1 (100 ms beats 10+100 via trento), 003<->002 is
// link3, 002<->001 is link2: every pair of regions is one hop apart. The
// network cost of a dataflow is ceil(bandwidth/1000) x hops, so 100k costs
// 100 and 5M costs 5000 per hop; compute costs the millicores placed; both
// weights are 1.

// want is the expected outcome of one placement.
type want struct {
	status    Status
	method    Method
	regions   map[string]string // microservice -> region (one region each)
	nodes     map[string]string // microservice -> node, where checked
	links     map[string]int64  // link -> bwallocated
	objective int64
	latency   int64 // µs
	reason    string
}

func TestPlaceExamples(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (*topology.Topology, *topology.FADepl)
		opts  Options
		want  want
	}{
		{
			// Both stay in povo: cam1->driver costs nothing there (cam1 is in
			// povo, driver is required there), and processor next to driver
			// makes driver->processor free too; povo-1 holds 100m+100m cpu and
			// 100Mi+400Mi memory. Objective = compute only = 100 + 100.
			name: "ResourceBased example",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				return example(t, "fadepl-resourcebased.yaml")
			},
			want: want{status: StatusNew, method: MethodExact,
				regions:   map[string]string{"driver": "003-003", "processor": "003-003"},
				nodes:     map[string]string{"driver": "povo-1", "processor": "povo-1"},
				objective: 200},
		},
		{
			// povo-1 shrunk to 256Mi: driver (100Mi) fits, processor (400Mi)
			// does not. processor in trento or cloud costs the same (100k over
			// one hop = 100), but link3 to trento is 10 ms against link1's 100
			// ms, and latency breaks the tie: trento. Its best-fit node is
			// trento-1 (less cpu left). Objective = 100 + 200.
			name: "ResourceBased with a small edge node",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				return example(t, "fadepl-resourcebased.yaml", node("povo-1", "003-003", "2", "256Mi"),
					node("trento-1", "002-002", "2", "2Gi"), node("trento-2", "002-002", "4", "2Gi"),
					node("cloud-1", "001-001", "16", "64Gi"))
			},
			want: want{status: StatusNew, method: MethodExact,
				regions:   map[string]string{"driver": "003-003", "processor": "002-002"},
				nodes:     map[string]string{"driver": "povo-1", "processor": "trento-1"},
				links:     map[string]int64{"link3": 100_000},
				objective: 300, latency: 10_000},
		},
		{
			// driver is required in povo, where nothing has 100Mi free.
			name: "ResourceBased with a full edge",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				return example(t, "fadepl-resourcebased.yaml", node("povo-1", "003-003", "2", "64Mi"),
					node("cloud-1", "001-001", "16", "64Gi"))
			},
			want: want{status: StatusFailed, method: MethodExact,
				reason: "microservice driver (cpu 100m, memory 100Mi): no region has a node that can hold it: 003-003: 0/1 nodes available: 1 insufficient memory"},
		},
		{
			// driver1, driver2 are required in povo with their cameras (free).
			// driver3 next to broker1 in trento is free, in povo it costs
			// 5M x 1 hop = 5000, in cloud it is 100 ms away (bound 20): trento.
			// processor in povo: 2 drivers free + driver3 over link3 (100) =
			// 100; in trento: 2 x 100 = 200; in cloud: 3 x 100 = 300.
			// analytics then costs 100 anywhere but trento (200): povo
			// (processor->analytics free, analytics->sens1 over link1) and
			// cloud (the other way round) tie on objective and on latency
			// (100 ms each); povo is preferred, being the higher tier.
			// Network 200 + compute 5 x 100 = 700; latency 10 + 100 ms.
			name:  "DAG example",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) { return example(t, "fadepl-dag.yaml") },
			want: want{status: StatusNew, method: MethodExact,
				regions: map[string]string{"processor": "003-003", "driver1": "003-003", "driver2": "003-003",
					"driver3": "002-002", "analytics": "003-003"},
				links:     map[string]int64{"link1": 100_000, "link3": 100_000},
				objective: 700, latency: 110_000},
		},
		{
			// The heuristic finds the same placement on this example.
			name:  "DAG example by heuristic",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) { return example(t, "fadepl-dag.yaml") },
			opts:  Options{Method: MethodHeuristic},
			want: want{status: StatusNew, method: MethodHeuristic,
				regions: map[string]string{"processor": "003-003", "driver1": "003-003", "driver2": "003-003",
					"driver3": "002-002", "analytics": "003-003"},
				links:     map[string]int64{"link1": 100_000, "link3": 100_000},
				objective: 700, latency: 110_000},
		},
		{
			// analytics asks for the accelerator only cloud-1 has: it goes to
			// the cloud, which costs what povo did (processor->analytics over
			// link1 instead of analytics->sens1).
			name: "DAG with a GPU",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				topo, app := example(t, "fadepl-dag.yaml")
				m, _ := app.Microservice("analytics")
				m.Deployment.NodeSelector = map[string]string{"accelerator": "nvidia-tesla-t4"}
				return topo, app
			},
			want: want{status: StatusNew, method: MethodExact,
				regions: map[string]string{"processor": "003-003", "driver1": "003-003", "driver2": "003-003",
					"driver3": "002-002", "analytics": "001-001"},
				nodes:     map[string]string{"analytics": "cloud-1"},
				links:     map[string]int64{"link1": 100_000, "link3": 100_000},
				objective: 700, latency: 110_000},
		},
		{
			// processor asks for 1000 MIPS: 20m in the cloud (50000 MIPS/cpu),
			// 34m in trento (33.3 rounded up), 200m in povo. Compute of the
			// rest is 400. processor+analytics in the cloud: drivers 1-3 each
			// send 100k over one hop (300), analytics next to processor and
			// sens1 (0): 300 + 20 + 400 = 720. In trento with analytics: 200
			// + 100 + 34 + 400 = 734. In povo: 200 + 200 + 400 = 800.
			name: "DAG with MIPS",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				topo, app := example(t, "fadepl-dag.yaml")
				m, _ := app.Microservice("processor")
				m.MIPSRequired = 1000
				return topo, app
			},
			want: want{status: StatusNew, method: MethodExact,
				regions: map[string]string{"processor": "001-001", "driver1": "003-003", "driver2": "003-003",
					"driver3": "002-002", "analytics": "001-001"},
				links:     map[string]int64{"link1": 200_000, "link2": 100_000},
				objective: 720, latency: 300_000},
		},
		{
			// The heuristic places processor after the drivers, when
			// analytics is still open: trento adds 2 x 100 + 34 = 234 against
			// the cloud's 3 x 100 + 20 = 320, and analytics then ties between
			// trento and the cloud (100 either way, 100 ms either way) and
			// takes trento, the higher tier. Moving either one alone does not
			// help, so it stops at 734: 14 above the optimum.
			name: "DAG with MIPS by heuristic",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				topo, app := example(t, "fadepl-dag.yaml")
				m, _ := app.Microservice("processor")
				m.MIPSRequired = 1000
				return topo, app
			},
			opts: Options{Method: MethodHeuristic},
			want: want{status: StatusNew, method: MethodHeuristic,
				regions: map[string]string{"processor": "002-002", "driver1": "003-003", "driver2": "003-003",
					"driver3": "002-002", "analytics": "002-002"},
				links:     map[string]int64{"link2": 100_000, "link3": 200_000},
				objective: 734, latency: 120_000},
		},
		{
			// a and b each receive 6M from a camera in povo, where they do not
			// fit. Trento and the cloud are both one hop away (6000 each);
			// trento is 10 ms away against 100, but link3 has 8M free: only
			// one 6M flow fits. a, first in the application, takes trento; b
			// goes to the cloud over link1. Objective 12000 + 200.
			name: "bandwidth shared by two dataflows",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				objs := exampleObjs(t, "", node("povo-1", "003-003", "2", "64Mi"),
					node("trento-1", "002-002", "4", "8Gi"), node("cloud-1", "001-001", "16", "64Gi"))
				link(objs, "link3").BWAllocated = 92_000_000
				topo, _ := build(t, objs)
				return topo, &topology.FADepl{Name: "pair", Algorithm: topology.AlgorithmDAG,
					ExternalEndpoints: []string{"cam1", "cam2"},
					Microservices:     []topology.Microservice{svc("a", 100, 100), svc("b", 100, 100)},
					Dataflows:         []topology.Dataflow{dataflow("cam1", "a", 6_000_000, 500), dataflow("cam2", "b", 6_000_000, 500)}}
			},
			want: want{status: StatusNew, method: MethodExact,
				regions:   map[string]string{"a": "002-002", "b": "001-001"},
				links:     map[string]int64{"link1": 6_000_000, "link3": 6_000_000},
				objective: 12_200, latency: 110_000},
		},
		{
			// As above with link3 full: both flows must take link1, 12M of
			// its 10M. Each fits alone, so only the search finds out.
			name: "bandwidth too short for two dataflows together",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				objs := exampleObjs(t, "", node("povo-1", "003-003", "2", "64Mi"),
					node("trento-1", "002-002", "4", "8Gi"), node("cloud-1", "001-001", "16", "64Gi"))
				link(objs, "link3").BWAllocated = 100_000_000
				topo, _ := build(t, objs)
				return topo, &topology.FADepl{Name: "pair", Algorithm: topology.AlgorithmDAG,
					ExternalEndpoints: []string{"cam1", "cam2"},
					Microservices:     []topology.Microservice{svc("a", 100, 100), svc("b", 100, 100)},
					Dataflows:         []topology.Dataflow{dataflow("cam1", "a", 6_000_000, 500), dataflow("cam2", "b", 6_000_000, 500)}}
			},
			want: want{status: StatusFailed, method: MethodExact,
				reason: "dataflows together need 12M on link link1, which has 10M free"},
		},
		{
			// driver3 cannot run in trento (no nodes there) and the only
			// region within 20 ms of broker1 is povo, behind link3 with 4M
			// free: less than the 5M the dataflow needs.
			name: "latency and bandwidth leave no region",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				objs := exampleObjs(t, "fadepl-dag.yaml", node("povo-1", "003-003", "2", "2Gi"),
					node("cloud-1", "001-001", "16", "64Gi"))
				link(objs, "link3").BWAllocated = 96_000_000
				return build(t, objs)
			},
			want: want{status: StatusFailed, method: MethodExact,
				reason: "dataflow broker1->driver3: no region within 20 ms of region 002-002 with 5M free bandwidth"},
		},
		{
			// Same, by heuristic: the failure is proved before any search.
			name: "latency and bandwidth leave no region by heuristic",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				objs := exampleObjs(t, "fadepl-dag.yaml", node("povo-1", "003-003", "2", "2Gi"),
					node("cloud-1", "001-001", "16", "64Gi"))
				link(objs, "link3").BWAllocated = 96_000_000
				return build(t, objs)
			},
			opts: Options{Method: MethodHeuristic},
			want: want{status: StatusFailed, method: MethodHeuristic,
				reason: "dataflow broker1->driver3: no region within 20 ms of region 002-002 with 5M free bandwidth"},
		},
		{
			// processor and analytics must share povo (required) with 1Gi
			// free: 2 x 400Mi + 2 x 400Mi does not fit, each alone does.
			name: "microservices that must share a region do not fit together",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				topo, _ := example(t, "", node("povo-1", "003-003", "2", "1Gi"), node("cloud-1", "001-001", "16", "64Gi"))
				return topo, &topology.FADepl{Name: "edge", Algorithm: topology.AlgorithmDAG,
					Microservices: []topology.Microservice{
						svc("processor", 100, 400, requires("003-003"), replicas(2)),
						svc("analytics", 100, 400, requires("003-003"), replicas(2))}}
			},
			want: want{status: StatusFailed, method: MethodExact,
				reason: "microservices that must share region 003-003 need more cpu or memory than its nodes have free"},
		},
		{
			// Two replicas of 1 cpu: povo-1 (2 cpu) holds both.
			name: "replicas share a node",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				topo, _ := example(t, "", node("povo-1", "003-003", "2", "1Gi"))
				return topo, &topology.FADepl{Name: "twins", Algorithm: topology.AlgorithmDAG,
					Microservices: []topology.Microservice{svc("m", 1000, 100, replicas(2))}}
			},
			want: want{status: StatusNew, method: MethodExact,
				regions: map[string]string{"m": "003-003"}, nodes: map[string]string{"m": "povo-1"}, objective: 2000},
		},
		{
			// Three replicas of 1 cpu: no region's nodes hold all three.
			name: "replicas that fit nowhere together",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				topo, _ := example(t, "", node("povo-1", "003-003", "2", "1Gi"))
				return topo, &topology.FADepl{Name: "triplets", Algorithm: topology.AlgorithmDAG,
					Microservices: []topology.Microservice{svc("m", 1000, 100, replicas(3))}}
			},
			want: want{status: StatusFailed, method: MethodExact,
				reason: "003-003: its nodes hold 2 of 3 replicas"},
		},
		{
			name: "external endpoint missing from the topology",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				topo, _ := example(t, "")
				return topo, &topology.FADepl{Name: "lost", Algorithm: topology.AlgorithmDAG, ExternalEndpoints: []string{"cam9"},
					Microservices: []topology.Microservice{svc("m", 100, 100)},
					Dataflows:     []topology.Dataflow{dataflow("cam9", "m", 0, 0)}}
			},
			want: want{status: StatusFailed, method: MethodExact,
				reason: "dataflow cam9->m: external endpoint cam9 is not in the topology"},
		},
		{
			name: "required region missing from the topology",
			setup: func(t *testing.T) (*topology.Topology, *topology.FADepl) {
				topo, _ := example(t, "")
				return topo, &topology.FADepl{Name: "lost", Algorithm: topology.AlgorithmDAG,
					Microservices: []topology.Microservice{svc("m", 100, 100, requires("009-009"))}}
			},
			want: want{status: StatusFailed, method: MethodExact,
				reason: "microservice m: required region 009-009 does not exist"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, app := tt.setup(t)
			res, err := Place(context.Background(), topo, app, tt.opts)
			checkWant(t, app, res, err, tt.want)
		})
	}
}

func replicas(n int) func(*topology.Microservice) {
	return func(m *topology.Microservice) { m.Deployment.Replicas = n }
}

func checkWant(t *testing.T, app *topology.FADepl, res *Result, err error, w want) {
	t.Helper()
	if res == nil {
		t.Fatalf("no result: %v", err)
	}
	if res.Status != w.status || res.Method != w.method {
		t.Fatalf("status %s method %s (reason %q, err %v), want %s %s", res.Status, res.Method, res.Reason, err, w.status, w.method)
	}
	if w.status == StatusFailed {
		if !errors.Is(err, ErrInfeasible) || !strings.Contains(res.Reason, w.reason) || !strings.Contains(err.Error(), w.reason) {
			t.Fatalf("reason %q, error %v; want ErrInfeasible with %q", res.Reason, err, w.reason)
		}
		if len(res.Placements) != 0 || len(res.LinksOccupancy) != 0 {
			t.Fatalf("failed result has placements %+v", res)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]string)
	for _, p := range res.Placements {
		got[p.Microservice] = p.Regions[0].Region
		if n, ok := w.nodes[p.Microservice]; ok && (len(p.Regions[0].Nodes) != 1 || p.Regions[0].Nodes[0].Node != n) {
			t.Errorf("%s on nodes %+v, want %s", p.Microservice, p.Regions[0].Nodes, n)
		}
	}
	if !maps.Equal(got, w.regions) {
		t.Errorf("regions %v, want %v", got, w.regions)
	}
	links := make(map[string]int64)
	for _, o := range res.LinksOccupancy {
		links[o.LinkID] = o.BWAllocated
	}
	if len(links) != 0 || len(w.links) != 0 {
		if !maps.Equal(links, w.links) {
			t.Errorf("links %v, want %v", links, w.links)
		}
	}
	if res.Objective != w.objective || res.LatencyMicros != w.latency {
		t.Errorf("objective %d latency %d µs, want %d %d", res.Objective, res.LatencyMicros, w.objective, w.latency)
	}
	if t.Failed() {
		t.Logf("result: %+v", res)
	}
}

func TestPlaceSilly(t *testing.T) {
	t.Run("example", func(t *testing.T) {
		topo, app := example(t, "fadepl-silly.yaml")
		res, err := Place(context.Background(), topo, app, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := []Placement{
			{Microservice: "driver", Regions: []RegionPlacement{{Region: "003-003", Deployment: "driver.reg.003-003",
				Replicas: 1, Image: "nginx:latest", CPUMillis: 100, MemoryBytes: 100 << 20}}},
			{Microservice: "processor", Regions: []RegionPlacement{{Region: "002-002", Deployment: "processor.reg.002-002",
				Replicas: 1, Image: "nginx:latest", CPUMillis: 100, MemoryBytes: 400 << 20}}},
		}
		if res.Status != StatusNew || res.Method != MethodDirect || !reflect.DeepEqual(res.Placements, want) || res.LinksOccupancy != nil {
			t.Fatalf("result %+v, want %+v", res, want)
		}
	})
	t.Run("several regions with overrides and no resource check", func(t *testing.T) {
		// povo-1 could never hold 64 cpu: Silly does not look.
		topo, _ := example(t, "", node("povo-1", "003-003", "1", "1Gi"))
		m := svc("driver", 64_000, 100, requires("003-003", "002-002"))
		m.Regions[0].Replicas, m.Regions[0].Image = 3, "driver:arm"
		app := &topology.FADepl{Name: "s", Algorithm: topology.AlgorithmSilly, Microservices: []topology.Microservice{m}}
		res, err := Place(context.Background(), topo, app, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := []RegionPlacement{
			{Region: "003-003", Deployment: "driver.reg.003-003", Replicas: 3, Image: "driver:arm", CPUMillis: 64_000, MemoryBytes: 100 << 20},
			{Region: "002-002", Deployment: "driver.reg.002-002", Replicas: 1, Image: "img/driver", CPUMillis: 64_000, MemoryBytes: 100 << 20},
		}
		if !reflect.DeepEqual(res.Placements[0].Regions, want) {
			t.Fatalf("regions %+v, want %+v", res.Placements[0].Regions, want)
		}
	})
	for _, tt := range []struct {
		name, reason string
		m            topology.Microservice
	}{
		{"without regionrequired", "microservice m: algorithm Silly needs at least one regionrequired", svc("m", 1, 1)},
		{"unknown region", "microservice m: required region 404 does not exist", svc("m", 1, 1, requires("404"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topo, _ := example(t, "")
			app := &topology.FADepl{Name: "s", Algorithm: topology.AlgorithmSilly, Microservices: []topology.Microservice{tt.m}}
			res, err := Place(context.Background(), topo, app, Options{})
			if !errors.Is(err, ErrInfeasible) || res.Status != StatusFailed || res.Reason != tt.reason {
				t.Fatalf("result %+v, %v; want Failed with %q", res, err, tt.reason)
			}
		})
	}
}

func TestPlaceInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(app *topology.FADepl)
		opts   Options
		is     []error
		want   string
	}{
		{"cycle", func(app *topology.FADepl) {
			app.Dataflows = append(app.Dataflows, dataflow("analytics", "processor", 1, 0))
		}, Options{}, []error{ErrInvalid, ErrCycle}, "dataflows form a cycle: processor -> analytics -> processor"},
		{"cycle through an endpoint", func(app *topology.FADepl) {
			app.Dataflows = append(app.Dataflows, dataflow("sens1", "driver3", 1, 0))
		}, Options{}, []error{ErrInvalid, ErrCycle}, "processor -> analytics -> sens1 -> driver3 -> processor"},
		{"ResourceBased that is not a pipeline", func(app *topology.FADepl) {
			app.Algorithm = topology.AlgorithmResourceBased
		}, Options{}, []error{ErrInvalid}, "ResourceBased needs a pipeline, but processor has 3 incoming dataflows; use DAG"},
		{"ResourceBased without dataflows", func(app *topology.FADepl) {
			app.Algorithm, app.Dataflows = topology.AlgorithmResourceBased, nil
		}, Options{}, []error{ErrInvalid}, "ResourceBased needs dataflows"},
		{"several required regions", func(app *topology.FADepl) {
			app.Microservices[1].Regions = append(app.Microservices[1].Regions, topology.RegionRequirement{RegionRequired: "002-002"})
		}, Options{}, []error{ErrInvalid}, "microservice driver1: algorithm DAG accepts at most one regionrequired, got 2"},
		{"negative weight", func(*topology.FADepl) {}, Options{Weights: Weights{Network: -1}}, []error{ErrInvalid}, "weights"},
		{"unknown method", func(*topology.FADepl) {}, Options{Method: "magic"}, []error{ErrInvalid}, `method "magic"`},
		{"unknown algorithm", func(app *topology.FADepl) { app.Algorithm = "Clever" }, Options{}, []error{ErrInvalid}, `algorithm "Clever"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, app := example(t, "fadepl-dag.yaml")
			tt.mutate(app)
			res, err := Place(context.Background(), topo, app, tt.opts)
			if res != nil || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Place = %+v, %v; want an error with %q", res, err, tt.want)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("error %v is not %v", err, target)
				}
			}
		})
	}
	if _, err := Place(context.Background(), nil, nil, Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil inputs: %v", err)
	}
}

func TestPlaceResourceBasedPipeline(t *testing.T) {
	// A pipeline through an endpoint at its end is still a pipeline.
	topo, _ := example(t, "")
	app := &topology.FADepl{Name: "p", Algorithm: topology.AlgorithmResourceBased, ExternalEndpoints: []string{"cam1", "sens1"},
		Microservices: []topology.Microservice{svc("a", 100, 100), svc("b", 100, 100)},
		Dataflows:     []topology.Dataflow{dataflow("cam1", "a", 1000, 0), dataflow("a", "b", 1000, 0), dataflow("b", "sens1", 1000, 0)}}
	if _, err := Place(context.Background(), topo, app, Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestPlaceStatusAgainstPrevious(t *testing.T) {
	objs := exampleObjs(t, "fadepl-dag.yaml")
	topo, app := build(t, objs)
	first, err := Place(context.Background(), topo, app, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Account for the placement on the links, as a controller would, and
	// plan again: the application's own allocation is released first, so
	// it is placed the same way.
	for _, o := range first.LinksOccupancy {
		link(objs, o.LinkID).BWAllocated += o.BWAllocated
	}
	topo, _ = build(t, objs)
	again, err := Place(context.Background(), topo, app, Options{Previous: first})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != StatusSynced || !reflect.DeepEqual(again.Placements, first.Placements) {
		t.Fatalf("status %s placements %+v, want Synced %+v", again.Status, again.Placements, first.Placements)
	}
	for i, o := range again.LinksOccupancy {
		if o != first.LinksOccupancy[i] {
			t.Fatalf("occupancy %+v, want %+v (own allocation released)", o, first.LinksOccupancy[i])
		}
	}

	// driver3 now needs the accelerator of the cloud: the placement changes.
	m, _ := app.Microservice("analytics")
	m.Deployment.NodeSelector = map[string]string{"accelerator": "nvidia-tesla-t4"}
	changed, err := Place(context.Background(), topo, app, Options{Previous: first})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Status != StatusChanged {
		t.Fatalf("status %s, want Changed", changed.Status)
	}
}

func TestPlaceAutomaticMethod(t *testing.T) {
	topo, app := example(t, "fadepl-dag.yaml")
	res, err := Place(context.Background(), topo, app, Options{})
	if err != nil || res.Method != MethodExact || res.Variables == 0 {
		t.Fatalf("method %s variables %d, %v; want exact", res.Method, res.Variables, err)
	}
	res, err = Place(context.Background(), topo, app, Options{ExactLimit: res.Variables - 1})
	if err != nil || res.Method != MethodHeuristic {
		t.Fatalf("method %s, %v; want heuristic beyond the limit", res.Method, err)
	}
}

func TestPlaceCancelled(t *testing.T) {
	topo, app := example(t, "fadepl-dag.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Place(ctx, topo, app, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestDeploymentName(t *testing.T) {
	if got := DeploymentName("driver", "003-003"); got != "driver.reg.003-003" {
		t.Fatalf("got %q", got)
	}
}

// TestPlaceConcurrent runs placements at once; under -race it also checks
// that the solver library, which keeps a package-level buffer, is never used
// by two of them together.
func TestPlaceConcurrent(t *testing.T) {
	topo, app := example(t, "fadepl-dag.yaml")
	want, err := Place(context.Background(), topo, app, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const workers = 4
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range 5 {
				got, err := Place(context.Background(), topo, app, Options{})
				if err == nil && !reflect.DeepEqual(got, want) {
					err = errors.New("concurrent placements differ")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
