package app

import (
	"cmp"
	"fmt"
	"slices"
)

// solution is a (possibly partial) placement: a region per microservice and
// its replicas per node, with the node usage that follows.
type solution struct {
	p      *problem
	region []int // region index per microservice, -1 while unplaced
	// onNode lists, per microservice, the nodes holding its replicas.
	onNode           [][]nodeCount
	usedCPU, usedMem []int64 // per node
}

// nodeCount is a node index and a replica count.
type nodeCount struct {
	node, replicas int
}

func newSolution(p *problem) *solution {
	sol := &solution{
		p:       p,
		region:  make([]int, len(p.svcs)),
		onNode:  make([][]nodeCount, len(p.svcs)),
		usedCPU: make([]int64, len(p.nodes)),
		usedMem: make([]int64, len(p.nodes)),
	}
	for i := range sol.region {
		sol.region[i] = -1
	}
	return sol
}

// addReplicas puts n more replicas of s on node; s's region must be set.
func (sol *solution) addReplicas(s, node, n int) {
	sv := sol.p.svcs[s]
	sol.usedCPU[node] += int64(n) * sv.cpu[sol.region[s]]
	sol.usedMem[node] += int64(n) * sv.memMiB
	for i := range sol.onNode[s] {
		if sol.onNode[s][i].node == node {
			sol.onNode[s][i].replicas += n
			return
		}
	}
	sol.onNode[s] = append(sol.onNode[s], nodeCount{node, n})
}

// unplace removes s and its replicas.
func (sol *solution) unplace(s int) {
	sv := sol.p.svcs[s]
	for _, nc := range sol.onNode[s] {
		sol.usedCPU[nc.node] -= int64(nc.replicas) * sv.cpu[sol.region[s]]
		sol.usedMem[nc.node] -= int64(nc.replicas) * sv.memMiB
	}
	sol.onNode[s] = nil
	sol.region[s] = -1
}

// endRegion returns the region of a dataflow end, -1 if it is an unplaced
// microservice.
func (sol *solution) endRegion(e end) int {
	if e.svc < 0 {
		return e.region
	}
	return sol.region[e.svc]
}

// linkLoad returns the bandwidth the application's dataflows between
// placed ends use on each link (fixed-end flows not included).
func (sol *solution) linkLoad() []int64 {
	load := make([]int64, len(sol.p.links))
	for _, f := range sol.p.flows {
		a, b := sol.endRegion(f.src), sol.endRegion(f.dst)
		if a < 0 || b < 0 {
			continue
		}
		links, _, _ := sol.p.topo.Route(a, b)
		for _, l := range links {
			load[l] += f.bw
		}
	}
	return load
}

// overloadedLink returns the first link whose load exceeds its free
// bandwidth, and that load; -1 if none.
func (sol *solution) overloadedLink() (int, int64) {
	for l, load := range sol.linkLoad() {
		if load > sol.p.free[l] {
			return l, load
		}
	}
	return -1, 0
}

// overloadedRegion returns the first region with a node used beyond its
// free capacity; -1 if none.
func (sol *solution) overloadedRegion() int {
	for n, node := range sol.p.nodes {
		if sol.usedCPU[n] > sol.p.freeCPU[n] || sol.usedMem[n] > sol.p.freeMem[n] {
			r, _ := sol.p.topo.RegionIndex(node.Region)
			return r
		}
	}
	return -1
}

// costs are the figures of a complete solution.
type costs struct {
	network, compute, latency, objective int64
}

// costs computes the objective of a complete solution, fixed-end flows
// included.
func (sol *solution) costs() costs {
	p := sol.p
	c := costs{network: p.fixedNet, latency: p.fixedLat}
	for _, f := range p.flows {
		links, lat, _ := p.topo.Route(sol.endRegion(f.src), sol.endRegion(f.dst))
		c.network += f.kbit * int64(len(links))
		c.latency += lat
	}
	for s, sv := range p.svcs {
		c.compute += int64(sv.replicas) * sv.cpu[sol.region[s]]
	}
	c.objective = p.w.Network*c.network + p.w.Compute*c.compute
	return c
}

// verify checks a complete solution against every constraint. Both methods
// end with it, so that a bug in either (or in the solver library) surfaces as
// an error instead of a placement that breaks a bound.
func (sol *solution) verify() error {
	p := sol.p
	for s, sv := range p.svcs {
		r := sol.region[s]
		if !slices.Contains(sv.domain, r) {
			return fmt.Errorf("microservice %s: region %d outside its domain", sv.name, r)
		}
		total := 0
		for _, nc := range sol.onNode[s] {
			if !slices.Contains(sv.nodes[r], nc.node) {
				return fmt.Errorf("microservice %s: node %s cannot hold it", sv.name, p.nodes[nc.node].Name)
			}
			total += nc.replicas
		}
		if total != sv.replicas {
			return fmt.Errorf("microservice %s: %d replicas placed, want %d", sv.name, total, sv.replicas)
		}
	}
	for n := range p.nodes {
		if sol.usedCPU[n] > p.freeCPU[n] || sol.usedMem[n] > p.freeMem[n] {
			return fmt.Errorf("node %s over capacity", p.nodes[n].Name)
		}
	}
	for _, f := range p.flows {
		_, lat, ok := p.topo.Route(sol.endRegion(f.src), sol.endRegion(f.dst))
		if !ok || (f.maxLat > 0 && lat > f.maxLat) {
			return fmt.Errorf("dataflow %s: latency bound broken", f.name)
		}
	}
	if l, _ := sol.overloadedLink(); l >= 0 {
		return fmt.Errorf("link %s over its free bandwidth", p.links[l].ID)
	}
	return nil
}

// fill writes a complete solution into res.
func (sol *solution) fill(res *Result) {
	p := sol.p
	c := sol.costs()
	res.Objective, res.NetworkCost, res.ComputeCost, res.LatencyMicros = c.objective, c.network, c.compute, c.latency
	res.Placements = nil
	for s, sv := range p.svcs {
		r := sol.region[s]
		rp := RegionPlacement{
			Region:      p.regions[r].ID,
			Deployment:  DeploymentName(sv.name, p.regions[r].ID),
			Replicas:    sv.replicas,
			Image:       sv.image,
			CPUMillis:   sv.cpu[r],
			MemoryBytes: sv.memBytes,
		}
		for _, nc := range sol.onNode[s] {
			rp.Nodes = append(rp.Nodes, NodeReplicas{Node: p.nodes[nc.node].Name, Replicas: nc.replicas})
		}
		slices.SortFunc(rp.Nodes, func(a, b NodeReplicas) int { return cmp.Compare(a.Node, b.Node) })
		res.Placements = append(res.Placements, Placement{Microservice: sv.name, Regions: []RegionPlacement{rp}})
	}
	res.LinksOccupancy = nil
	load := sol.linkLoad()
	for l, link := range p.links {
		used := load[l] + p.fixedLoad[l]
		if used == 0 {
			continue
		}
		res.LinksOccupancy = append(res.LinksOccupancy, LinkOccupancy{LinkID: link.ID, BWAllocated: used, FreeAfter: p.free[l] - load[l]})
	}
}
