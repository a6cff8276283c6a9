package app

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/hedgeorch/hedge/internal/topology"
)

// genWeights draws objective weights, mostly the defaults.
func genWeights(t *rapid.T) Weights {
	if rapid.IntRange(0, 2).Draw(t, "custom_weights") < 2 {
		return Weights{}
	}
	return Weights{Network: rapid.Int64Range(0, 3).Draw(t, "w_network"), Compute: rapid.Int64Range(1, 3).Draw(t, "w_compute")}
}

// TestPropertyExactIsBruteForceOptimum: on small instances the exact method
// returns the very placement brute force finds (the least objective, then
// latency, then preference), and says infeasible exactly when brute force
// finds nothing.
func TestPropertyExactIsBruteForceOptimum(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		inst := genInstance(t, smallSize)
		w := genWeights(t)
		res, err := Place(context.Background(), inst.topo, inst.app, Options{Method: MethodExact, Weights: w})
		if w == (Weights{}) {
			w = DefaultWeights
		}
		want := bruteForce{inst.topo, inst.app, w}.solve()
		if !want.feasible {
			if !errors.Is(err, ErrInfeasible) || res == nil || res.Status != StatusFailed || res.Reason == "" {
				t.Fatalf("brute force finds no placement; Place = %+v, %v", res, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("brute force places %v (objective %d); Place: %v", want.regions, want.objective, err)
		}
		var got []string
		for _, p := range res.Placements {
			got = append(got, p.Regions[0].Region)
		}
		if res.Objective != want.objective || res.LatencyMicros != want.latency || !slices.Equal(got, want.regions) {
			t.Fatalf("Place = %v objective %d latency %d, brute force = %v objective %d latency %d",
				got, res.Objective, res.LatencyMicros, want.regions, want.objective, want.latency)
		}
		checkResult(t, inst.topo, inst.app, w, res)
	})
}

// TestPropertyNoBoundBroken: on larger random instances neither method
// returns a placement that breaks a capacity, latency or bandwidth bound;
// the heuristic never beats the exact optimum, never succeeds where the exact
// method proves there is nothing, and both are deterministic.
func TestPropertyNoBoundBroken(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		inst := genInstance(t, size{regions: 6, nodesPerRegion: 3, microservices: 6, endpoints: 3})
		w := genWeights(t)
		ww := w
		if ww == (Weights{}) {
			ww = DefaultWeights
		}
		results := make(map[Method]*Result)
		for _, m := range []Method{MethodExact, MethodHeuristic} {
			res, err := Place(context.Background(), inst.topo, inst.app, Options{Method: m, Weights: w})
			if err != nil && !errors.Is(err, ErrInfeasible) {
				t.Fatalf("%s: unexpected error %v", m, err)
			}
			again, _ := Place(context.Background(), inst.topo, inst.app, Options{Method: m, Weights: w})
			if !reflect.DeepEqual(res, again) {
				t.Fatalf("%s: two runs differ:\n%+v\n%+v", m, res, again)
			}
			if res.Method != m {
				t.Fatalf("method = %s, want %s", res.Method, m)
			}
			if err == nil {
				checkResult(t, inst.topo, inst.app, ww, res)
			}
			results[m] = res
		}
		exact, heur := results[MethodExact], results[MethodHeuristic]
		if heur.Status != StatusFailed {
			if exact.Status == StatusFailed {
				t.Fatalf("heuristic placed what exact calls infeasible (%s)", exact.Reason)
			}
			if heur.Objective < exact.Objective {
				t.Fatalf("heuristic objective %d below the exact optimum %d", heur.Objective, exact.Objective)
			}
		}
	})
}

// checkResult checks a successful result against the application and the
// topology directly, without the package's own model.
func checkResult(t interface {
	Fatalf(string, ...any)
}, topo *topology.Topology, app *topology.FADepl, w Weights, res *Result) {
	if res.Status != StatusNew || len(res.Placements) != len(app.Microservices) {
		t.Fatalf("result %+v does not place %d microservices", res, len(app.Microservices))
	}
	usedCPU := make(map[string]int64)
	usedMem := make(map[string]int64)
	regionOf := make(map[string]string)
	var compute int64
	for i, p := range res.Placements {
		m := &app.Microservices[i]
		if p.Microservice != m.Name || len(p.Regions) != 1 {
			t.Fatalf("placement %d = %+v, want %s in one region", i, p, m.Name)
		}
		rp := p.Regions[0]
		region, ok := topo.Region(rp.Region)
		if !ok {
			t.Fatalf("%s placed in unknown region %s", m.Name, rp.Region)
		}
		if len(m.Regions) == 1 && m.Regions[0].RegionRequired != rp.Region {
			t.Fatalf("%s placed in %s, requires %s", m.Name, rp.Region, m.Regions[0].RegionRequired)
		}
		if cpu, ok := cpuIn(m, region); !ok || cpu != rp.CPUMillis {
			t.Fatalf("%s in %s: cpu %d, want %d (%v)", m.Name, rp.Region, rp.CPUMillis, cpu, ok)
		}
		if rp.Deployment != m.Name+".reg."+rp.Region {
			t.Fatalf("deployment name %q", rp.Deployment)
		}
		regionOf[m.Name] = rp.Region
		total := 0
		for _, nr := range rp.Nodes {
			var n *topology.Node
			for _, c := range topo.NodesIn(rp.Region) {
				if c.Name == nr.Node {
					n = c
				}
			}
			if n == nil {
				t.Fatalf("%s: node %s is not in region %s", m.Name, nr.Node, rp.Region)
			}
			for k, v := range m.Deployment.NodeSelector {
				if n.Labels[k] != v {
					t.Fatalf("%s on node %s without label %s=%s", m.Name, n.Name, k, v)
				}
			}
			total += nr.Replicas
			usedCPU[n.Name] += int64(nr.Replicas) * rp.CPUMillis
			usedMem[n.Name] += int64(nr.Replicas) * ((rp.MemoryBytes + mib - 1) / mib)
		}
		if total != rp.Replicas {
			t.Fatalf("%s: %d replicas on nodes, want %d", m.Name, total, rp.Replicas)
		}
		compute += int64(rp.Replicas) * rp.CPUMillis
	}
	for _, n := range topo.Nodes() {
		if usedCPU[n.Name] > n.FreeCPUMillis() || usedMem[n.Name] > n.FreeMemoryBytes()/mib {
			t.Fatalf("node %s over capacity: cpu %d/%d memory %d/%d MiB", n.Name,
				usedCPU[n.Name], n.FreeCPUMillis(), usedMem[n.Name], n.FreeMemoryBytes()/mib)
		}
	}
	load := make(map[string]int64)
	var network, latency int64
	for _, f := range app.Dataflows {
		from, to := regionOf[f.SourceID], regionOf[f.DestinationID]
		if e, ok := topo.Endpoint(f.SourceID); ok {
			from = e.RegionID
		}
		if e, ok := topo.Endpoint(f.DestinationID); ok {
			to = e.RegionID
		}
		path, ok := topo.Path(from, to)
		if !ok || (f.Latency > 0 && path.Latency > f.Latency+1e-9) {
			t.Fatalf("dataflow %s: path %+v (%v) breaks its %v ms bound", f, path, ok, f.Latency)
		}
		for _, l := range path.Links {
			load[l] += f.BandwidthRequired
		}
		network += (f.BandwidthRequired + 999) / 1000 * int64(path.Hops())
		latency += path.LatencyMicros
	}
	var occupancy []LinkOccupancy
	for _, l := range topo.Links() {
		if load[l.ID] > l.Free() {
			t.Fatalf("link %s carries %d bit/s, has %d free", l.ID, load[l.ID], l.Free())
		}
		if load[l.ID] > 0 {
			occupancy = append(occupancy, LinkOccupancy{LinkID: l.ID, BWAllocated: load[l.ID], FreeAfter: l.Free() - load[l.ID]})
		}
	}
	if !reflect.DeepEqual(occupancy, res.LinksOccupancy) {
		t.Fatalf("links occupancy %+v, want %+v", res.LinksOccupancy, occupancy)
	}
	if obj := w.Network*network + w.Compute*compute; res.Objective != obj || res.NetworkCost != network ||
		res.ComputeCost != compute || res.LatencyMicros != latency {
		t.Fatalf("objective %d network %d compute %d latency %d, want %d %d %d %d",
			res.Objective, res.NetworkCost, res.ComputeCost, res.LatencyMicros, obj, network, compute, latency)
	}
}
