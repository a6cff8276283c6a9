package app

import (
	"cmp"
	"slices"

	"github.com/hedgeorch/hedge/internal/topology"
)

// bruteForce is an independent, deliberately naive implementation of the
// placement contract for DAG and ResourceBased: it tries every assignment of
// regions to microservices, checks every constraint directly (exact
// bin-packing of replicas by backtracking), and keeps the least
// (objective, latency, preference ranks in the application's order). It
// shares only the topology's routing with the code under test.
type bruteForce struct {
	topo *topology.Topology
	app  *topology.FADepl
	w    Weights
}

// bruteResult is the optimum bruteForce found.
type bruteResult struct {
	feasible  bool
	regions   []string // per microservice
	objective int64
	latency   int64
}

func (b bruteForce) solve() bruteResult {
	regions := b.topo.Regions()
	n := len(b.app.Microservices)
	assign := make([]int, n)
	var best bruteResult
	var bestRank []int
	var rec func(i int)
	rec = func(i int) {
		if i < n {
			for r := range regions {
				assign[i] = r
				rec(i + 1)
			}
			return
		}
		obj, lat, ok := b.evaluate(assign)
		if !ok {
			return
		}
		rank := make([]int, n)
		for s, r := range assign {
			rank[s] = b.rank(regions[r])
		}
		better := !best.feasible || obj < best.objective ||
			(obj == best.objective && (lat < best.latency || (lat == best.latency && slices.Compare(rank, bestRank) < 0)))
		if better {
			best = bruteResult{feasible: true, objective: obj, latency: lat}
			for _, r := range assign {
				best.regions = append(best.regions, regions[r].ID)
			}
			bestRank = rank
		}
	}
	rec(0)
	return best
}

// rank is a region's place in the preference order: higher tier first, then
// id.
func (b bruteForce) rank(r *topology.Region) int {
	regions := slices.Clone(b.topo.Regions())
	slices.SortStableFunc(regions, func(x, y *topology.Region) int {
		if c := cmp.Compare(y.Tier, x.Tier); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return slices.Index(regions, r)
}

// cpu returns one replica's millicores in region r, or false.
func cpuIn(m *topology.Microservice, r *topology.Region) (int64, bool) {
	if m.MIPSRequired == 0 {
		return m.Deployment.CPUMillis(), true
	}
	if r.CPU2MIPS == 0 {
		return 0, false
	}
	return (m.MIPSRequired*1000 + r.CPU2MIPS - 1) / r.CPU2MIPS, true
}

func (b bruteForce) evaluate(assign []int) (objective, latency int64, ok bool) {
	regions := b.topo.Regions()
	regionOf := make(map[string]string)
	var compute int64
	type item struct {
		ms       *topology.Microservice
		cpu, mem int64
		region   string
	}
	var items []item
	for s := range b.app.Microservices {
		m := &b.app.Microservices[s]
		r := regions[assign[s]]
		replicas := m.Deployment.Replicas
		if len(m.Regions) == 1 {
			if m.Regions[0].RegionRequired != r.ID {
				return 0, 0, false
			}
			if m.Regions[0].Replicas > 0 {
				replicas = m.Regions[0].Replicas
			}
		}
		cpu, ok := cpuIn(m, r)
		if !ok {
			return 0, 0, false
		}
		regionOf[m.Name] = r.ID
		compute += int64(replicas) * cpu
		for range replicas {
			items = append(items, item{m, cpu, (m.Deployment.MemoryBytes() + mib - 1) / mib, r.ID})
		}
	}
	// Bin-pack the replicas exactly.
	freeCPU := make(map[string]int64)
	freeMem := make(map[string]int64)
	for _, n := range b.topo.Nodes() {
		freeCPU[n.Name] = n.FreeCPUMillis()
		freeMem[n.Name] = n.FreeMemoryBytes() / mib
	}
	var pack func(i int) bool
	pack = func(i int) bool {
		if i == len(items) {
			return true
		}
		it := items[i]
	nodes:
		for _, n := range b.topo.NodesIn(it.region) {
			for k, v := range it.ms.Deployment.NodeSelector {
				if n.Labels[k] != v {
					continue nodes
				}
			}
			if freeCPU[n.Name] < it.cpu || freeMem[n.Name] < it.mem {
				continue
			}
			freeCPU[n.Name] -= it.cpu
			freeMem[n.Name] -= it.mem
			ok := pack(i + 1)
			freeCPU[n.Name] += it.cpu
			freeMem[n.Name] += it.mem
			if ok {
				return true
			}
		}
		return false
	}
	if !pack(0) {
		return 0, 0, false
	}
	// Dataflows.
	load := make(map[string]int64)
	var network int64
	for _, f := range b.app.Dataflows {
		from, to := regionOf[f.SourceID], regionOf[f.DestinationID]
		if e, ok := b.topo.Endpoint(f.SourceID); ok {
			from = e.RegionID
		}
		if e, ok := b.topo.Endpoint(f.DestinationID); ok {
			to = e.RegionID
		}
		path, ok := b.topo.Path(from, to)
		if !ok || (f.Latency > 0 && path.LatencyMicros > topology.Micros(f.Latency)) {
			return 0, 0, false
		}
		for _, l := range path.Links {
			load[l] += f.BandwidthRequired
		}
		network += (f.BandwidthRequired + 999) / 1000 * int64(path.Hops())
		latency += path.LatencyMicros
	}
	for id, used := range load {
		if free, _ := b.topo.FreeBandwidth(id); used > free {
			return 0, 0, false
		}
	}
	return b.w.Network*network + b.w.Compute*compute, latency, true
}
