package app

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/placement/app/apptest"
	"github.com/hedgeorch/hedge/internal/topology"
)

// benchInstance is apptest.DAGInstance, the instance the bench harness
// measures too.
func benchInstance(tb testing.TB, nRegions, nServices int, seed uint64) (*topology.Topology, *topology.FADepl) {
	tb.Helper()
	topo, fa, err := apptest.DAGInstance(nRegions, nServices, seed)
	if err != nil {
		tb.Fatal(err)
	}
	return topo, fa
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
