package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/topology"
)

// benchInstance builds a fog topology of about nRegions regions and a
// layered DAG of nServices microservices, the same for a given seed:
//
//   - tier 0: a few cloud regions, meshed, 1G links of 20-40 ms;
//   - tier 1: a quarter of the rest, each linked to a cloud region (100M,
//     10-30 ms) and to its neighbour (50M, 5-15 ms);
//   - tier 2: the remaining edge regions, each linked to a tier-1 region
//     (20M, 2-10 ms); cameras and sensors sit there;
//   - 1-3 nodes per region, small at the edge, big in the cloud, a few
//     cloud nodes with a GPU;
//   - microservices in layers: drivers fed by a camera each (5M within
//     20-40 ms), then processors each reading 1-3 drivers (500k, 100 ms),
//     aggregators, and a sink that feeds a cloud endpoint; some ask for MIPS,
//     one for a GPU.
func benchInstance(tb testing.TB, nRegions, nServices int, seed uint64) (*topology.Topology, *topology.FADepl) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(nRegions*1000+nServices)))
	var objs []topology.Object
	nCloud := max(1, nRegions/25)
	nMid := max(1, (nRegions-nCloud)/4)
	nEdge := max(1, nRegions-nCloud-nMid)
	var cloud, mid, edge []string
	addRegion := func(tier int, list *[]string) {
		id := fmt.Sprintf("t%d-%03d", tier, len(*list))
		*list = append(*list, id)
		objs = append(objs, &topology.Region{ID: id, Tier: tier, CPU2MIPS: []int64{50000, 30000, 5000}[tier]})
		nodes := 1 + rng.IntN(3)
		for j := range nodes {
			n := &topology.Node{Name: fmt.Sprintf("%s-n%d", id, j), Region: id, Labels: map[string]string{"region": id}}
			switch tier {
			case 0:
				n.CPUMillis, n.MemoryBytes = 32000, 128<<30
				if j == 0 && (len(*list) == 1 || rng.IntN(2) == 0) {
					n.Labels["accelerator"] = "gpu"
				}
			case 1:
				n.CPUMillis, n.MemoryBytes = 8000, 16<<30
			default:
				n.CPUMillis, n.MemoryBytes = int64(1000+1000*rng.IntN(3)), int64(1+rng.IntN(4))<<30
			}
			n.AllocatedCPUMillis = n.CPUMillis * int64(rng.IntN(50)) / 100
			objs = append(objs, n)
		}
	}
	for range nCloud {
		addRegion(0, &cloud)
	}
	for range nMid {
		addRegion(1, &mid)
	}
	for range nEdge {
		addRegion(2, &edge)
	}
	links := 0
	addLink := func(a, b string, bw int64, lat float64) {
		links++
		objs = append(objs, &topology.Link{ID: fmt.Sprintf("l%04d", links), EndpointA: a, EndpointB: b, Bandwidth: bw,
			BWAllocated: bw * int64(rng.IntN(40)) / 100, Latency: lat, Status: topology.LinkUp})
	}
	for i := range cloud {
		for j := i + 1; j < len(cloud); j++ {
			addLink(cloud[i], cloud[j], 1_000_000_000, float64(20+rng.IntN(21)))
		}
	}
	for i, m := range mid {
		addLink(m, cloud[i%len(cloud)], 100_000_000, float64(10+rng.IntN(21)))
		if i > 0 {
			addLink(m, mid[i-1], 50_000_000, float64(5+rng.IntN(11)))
		}
	}
	for i, e := range edge {
		addLink(e, mid[i%len(mid)], 20_000_000, float64(2+rng.IntN(9)))
	}

	app := &topology.FADepl{Name: "bench", Algorithm: topology.AlgorithmDAG}
	nDrivers := max(1, nServices*2/5)
	nProc := max(1, nServices*3/10)
	nAgg := max(0, nServices-nDrivers-nProc-1)
	add := func(name string, cpu, mem int64) *topology.Microservice {
		m := svc(name, cpu, mem)
		if rng.IntN(4) == 0 {
			m.MIPSRequired = int64(500 + rng.IntN(2000))
		}
		app.Microservices = append(app.Microservices, m)
		return &app.Microservices[len(app.Microservices)-1]
	}
	for i := range nDrivers {
		name := fmt.Sprintf("driver%02d", i)
		add(name, 100, 100)
		cam := fmt.Sprintf("cam%02d", i)
		objs = append(objs, &topology.ExternalEndpoint{ID: cam, RegionID: edge[rng.IntN(len(edge))]})
		app.ExternalEndpoints = append(app.ExternalEndpoints, cam)
		app.Dataflows = append(app.Dataflows, dataflow(cam, name, 5_000_000, float64(20+rng.IntN(21))))
	}
	for i := range nProc {
		name := fmt.Sprintf("proc%02d", i)
		add(name, 500, 512)
		for range 1 + rng.IntN(3) {
			app.Dataflows = append(app.Dataflows, dataflow(fmt.Sprintf("driver%02d", rng.IntN(nDrivers)), name, 500_000, 100))
		}
	}
	for i := range nAgg {
		name := fmt.Sprintf("agg%02d", i)
		add(name, 1000, 1024)
		for range 1 + rng.IntN(2) {
			app.Dataflows = append(app.Dataflows, dataflow(fmt.Sprintf("proc%02d", rng.IntN(nProc)), name, 200_000, 200))
		}
	}
	sink := add("sink", 2000, 4096)
	if nAgg > 0 {
		sink.Deployment.NodeSelector = map[string]string{"accelerator": "gpu"}
	}
	for i := range max(nAgg, 1) {
		from := fmt.Sprintf("agg%02d", i)
		if nAgg == 0 {
			from = "proc00"
		}
		app.Dataflows = append(app.Dataflows, dataflow(from, "sink", 100_000, 500))
	}
	objs = append(objs, &topology.ExternalEndpoint{ID: "dashboard", RegionID: cloud[0]})
	app.ExternalEndpoints = append(app.ExternalEndpoints, "dashboard")
	app.Dataflows = append(app.Dataflows, dataflow("sink", "dashboard", 100_000, 0))

	topo, err := topology.Build(objs)
	if err != nil {
		tb.Fatal(err)
	}
	return topo, app
}

// reportLatencies adds the p50 and p99 of the measured calls to b's
// figures.
func reportLatencies(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	b.ReportMetric(float64(at(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(at(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op") // the percentiles say more than the mean
}

// BenchmarkPlaceDAG20x100 places a 20-microservice DAG on 100 regions with
// the default method choice (the model is far beyond DefaultExactLimit, so
// the heuristic runs) and reports p50/p99 of Place.
func BenchmarkPlaceDAG20x100(b *testing.B) {
	topo, app := benchInstance(b, 100, 20, 1)
	res, err := Place(context.Background(), topo, app, Options{})
	if err != nil {
		b.Fatal(err)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := Place(context.Background(), topo, app, Options{}); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	reportLatencies(b, durations)
	b.ReportMetric(float64(res.Variables), "variables")
	b.ReportMetric(float64(res.Objective), "objective")
	if res.Method != MethodHeuristic {
		b.Fatalf("method %s, want heuristic at this size", res.Method)
	}
}

// BenchmarkExactVsHeuristic places the same applications with both methods
// at growing sizes and reports time per placement, model size and how far
// the heuristic's objective is above the exact optimum (gap-%).
func BenchmarkExactVsHeuristic(b *testing.B) {
	for _, sz := range []struct{ regions, services int }{{6, 3}, {10, 5}, {15, 6}, {12, 8}} {
		topo, app := benchInstance(b, sz.regions, sz.services, 7)
		exact, err := Place(context.Background(), topo, app, Options{Method: MethodExact})
		if err != nil {
			b.Fatalf("%dx%d exact: %v", sz.services, sz.regions, err)
		}
		for _, m := range []Method{MethodExact, MethodHeuristic} {
			b.Run(fmt.Sprintf("%s/%dms-%dregions", m, sz.services, sz.regions), func(b *testing.B) {
				var res *Result
				durations := make([]time.Duration, 0, b.N)
				for range b.N {
					start := time.Now()
					res, err = Place(context.Background(), topo, app, Options{Method: m})
					if err != nil {
						b.Fatal(err)
					}
					durations = append(durations, time.Since(start))
				}
				reportLatencies(b, durations)
				b.ReportMetric(float64(res.Variables), "variables")
				b.ReportMetric(100*float64(res.Objective-exact.Objective)/float64(max(exact.Objective, 1)), "gap-%")
			})
		}
	}
}

// TestBenchInstanceIsPlaced keeps the benchmark's instance honest: it is
// feasible, both methods place the small one, and the heuristic never beats
// the exact optimum.
func TestBenchInstanceIsPlaced(t *testing.T) {
	topo, app := benchInstance(t, 100, 20, 1)
	res, err := Place(context.Background(), topo, app, Options{})
	if err != nil || res.Method != MethodHeuristic || len(app.Microservices) != 20 || len(topo.Regions()) != 100 {
		t.Fatalf("%d microservices on %d regions: %+v, %v", len(app.Microservices), len(topo.Regions()), res, err)
	}
	checkResult(t, topo, app, DefaultWeights, res)
	topo, app = benchInstance(t, 10, 5, 7)
	exact, err := Place(context.Background(), topo, app, Options{Method: MethodExact})
	if err != nil {
		t.Fatal(err)
	}
	heur, err := Place(context.Background(), topo, app, Options{Method: MethodHeuristic})
	if err != nil {
		t.Fatal(err)
	}
	if heur.Objective < exact.Objective {
		t.Fatalf("heuristic %d below exact %d", heur.Objective, exact.Objective)
	}
}
