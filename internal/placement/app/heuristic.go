package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// The heuristic places microservices one at a time in topological order of
// the dataflows (sources first: in FogAtlas's words a parent's placement
// depends on its children), each in the region that adds least to the
// objective given what is already placed, then improves the result by moving
// one microservice at a time while that lowers the objective. It checks
// every constraint as it goes, so what it returns is feasible; it may miss
// the optimum, and it may fail where a placement exists.

// maxImprovePasses bounds the improvement phase.
const maxImprovePasses = 20

// key orders the candidate regions of one microservice: objective added,
// then latency added, then the region's place in the preference order.
type key struct {
	cost, latency int64
	pref          int
}

func (a key) less(b key) bool {
	if a.cost != b.cost {
		return a.cost < b.cost
	}
	if a.latency != b.latency {
		return a.latency < b.latency
	}
	return a.pref < b.pref
}

// heuristic is the state of one heuristic run.
type heuristic struct {
	p    *problem
	sol  *solution
	free []int64 // bandwidth left per link
	// need is scratch: the bandwidth s's dataflows would add per link, for
	// the links listed in touched.
	need    []int64
	touched []int
	// extra is scratch for pack: replicas put on each node so far.
	extra []int
}

// rejection is why a region was ruled out for a microservice.
type rejection struct {
	why   string
	count int
}

func (p *problem) placeHeuristic(ctx context.Context) (*solution, string, error) {
	h := &heuristic{p: p, sol: newSolution(p), free: slices.Clone(p.free), need: make([]int64, len(p.links)), extra: make([]int, len(p.nodes))}
	order := p.topoOrder()
	for _, s := range order {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		best, bestKey := -1, key{}
		var rejected []rejection
		for pref, r := range p.svcs[s].domain {
			k, why := h.try(s, r, pref)
			if why != "" {
				rejected = addRejection(rejected, why)
				continue
			}
			if best < 0 || k.less(bestKey) {
				best, bestKey = r, k
			}
		}
		if best < 0 {
			return nil, fmt.Sprintf("heuristic: microservice %s fits no region: %s", p.svcs[s].name, rejectionText(rejected)), nil
		}
		h.commit(s, best)
	}
	for range maxImprovePasses {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		if !h.improve(order) {
			break
		}
	}
	return h.sol, "", nil
}

// improve moves each microservice to its best region given all the others;
// it reports whether any move lowered the objective.
func (h *heuristic) improve(order []int) bool {
	moved := false
	for _, s := range order {
		cur := h.sol.region[s]
		h.release(s)
		best, bestKey := -1, key{}
		for pref, r := range h.p.svcs[s].domain {
			k, why := h.try(s, r, pref)
			if why == "" && (best < 0 || k.less(bestKey)) {
				best, bestKey = r, k
			}
		}
		// cur is still feasible (the others kept clear of what s holds, and
		// identical replicas pack wherever they fit), so best is set. A move
		// is kept only if it lowers the objective or, at equal objective,
		// the latency, so that passes cannot cycle.
		if best < 0 {
			best = cur
		}
		if best != cur {
			curKey, _ := h.try(s, cur, slices.Index(h.p.svcs[s].domain, cur))
			if bestKey.cost < curKey.cost || (bestKey.cost == curKey.cost && bestKey.latency < curKey.latency) {
				moved = true
			} else {
				best = cur
			}
		}
		h.commit(s, best)
	}
	return moved
}

// try evaluates microservice s in region r: the dataflows to ends already
// placed must meet their latency and fit the bandwidth left; every dataflow to
// an unplaced microservice must keep some region it could meet; the replicas
// must pack onto the region's nodes. It returns the key, or why r is ruled
// out.
func (h *heuristic) try(s, r, pref int) (key, string) {
	p := h.p
	k := key{cost: p.computeCost(s, r), pref: pref}
	for _, l := range h.touched {
		h.need[l] = 0
	}
	h.touched = h.touched[:0]
	for _, fi := range p.svcs[s].flows {
		f := p.flows[fi]
		other := f.other(s)
		o := h.sol.endRegion(other)
		if o < 0 {
			if !h.keepsSupport(f, s, r, other.svc) {
				return key{}, "dataflow " + f.name + " (no region left for " + other.id + ")"
			}
			continue
		}
		hp, ok := p.routeOriented(f, s, r, o, h.free)
		if !ok {
			return key{}, "dataflow " + f.name + " (latency or bandwidth)"
		}
		for _, l := range hp.links {
			if h.need[l] == 0 {
				h.touched = append(h.touched, l)
			}
			h.need[l] += f.bw
		}
		k.cost += p.netCost(f, len(hp.links))
		k.latency += hp.latency
	}
	for _, l := range h.touched {
		if h.need[l] > h.free[l] {
			return key{}, "bandwidth of link " + p.links[l].ID
		}
	}
	if _, ok := h.pack(s, r); !ok {
		return key{}, "node capacity"
	}
	return k, ""
}

// keepsSupport reports whether, with s in r, the unplaced microservice o
// still has a region that meets dataflow f.
func (h *heuristic) keepsSupport(f *flow, s, r, o int) bool {
	for _, ro := range h.p.svcs[o].domain {
		if _, ok := h.p.routeOriented(f, s, r, ro, h.free); ok {
			return true
		}
	}
	return false
}

// pack places s's replicas on the nodes of region r, each on the node that
// is left with the least free cpu (best fit), then least memory, then by
// name. It does not change the solution.
func (h *heuristic) pack(s, r int) ([]nodeCount, bool) {
	p, sol := h.p, h.sol
	sv := p.svcs[s]
	cpu, mem := sv.cpu[r], sv.memMiB
	var out []nodeCount
	extra := h.extra
	for _, n := range sv.nodes[r] {
		extra[n] = 0
	}
	for range sv.replicas {
		best := -1
		var bestCPU, bestMem int64
		for _, n := range sv.nodes[r] {
			leftCPU := p.freeCPU[n] - sol.usedCPU[n] - int64(extra[n]+1)*cpu
			leftMem := p.freeMem[n] - sol.usedMem[n] - int64(extra[n]+1)*mem
			if leftCPU < 0 || leftMem < 0 {
				continue
			}
			if best < 0 || leftCPU < bestCPU || (leftCPU == bestCPU && leftMem < bestMem) {
				best, bestCPU, bestMem = n, leftCPU, leftMem
			}
		}
		if best < 0 {
			return nil, false
		}
		extra[best]++
	}
	for _, n := range sv.nodes[r] {
		if extra[n] > 0 {
			out = append(out, nodeCount{n, extra[n]})
		}
	}
	return out, true
}

// commit places s in r (which try accepted) and takes its resources.
func (h *heuristic) commit(s, r int) {
	nodes, _ := h.pack(s, r)
	h.sol.region[s] = r
	for _, nc := range nodes {
		h.sol.addReplicas(s, nc.node, nc.replicas)
	}
	h.bandwidth(s, -1)
}

// release unplaces s and gives back its resources.
func (h *heuristic) release(s int) {
	h.bandwidth(s, +1)
	h.sol.unplace(s)
}

// bandwidth adds sign × the bandwidth of s's dataflows to placed ends back
// to the links.
func (h *heuristic) bandwidth(s int, sign int64) {
	for _, fi := range h.p.svcs[s].flows {
		f := h.p.flows[fi]
		a, b := h.sol.endRegion(f.src), h.sol.endRegion(f.dst)
		if a < 0 || b < 0 {
			continue
		}
		links, _, _ := h.p.topo.Route(a, b)
		for _, l := range links {
			h.free[l] += sign * f.bw
		}
	}
}

// topoOrder returns the microservices in topological order of the
// dataflows between them, ties in the application's order.
func (p *problem) topoOrder() []int {
	indeg := make([]int, len(p.svcs))
	succ := make([][]int, len(p.svcs))
	for _, f := range p.flows {
		if f.src.svc >= 0 && f.dst.svc >= 0 {
			succ[f.src.svc] = append(succ[f.src.svc], f.dst.svc)
			indeg[f.dst.svc]++
		}
	}
	var ready, order []int
	for s := range p.svcs {
		if indeg[s] == 0 {
			ready = append(ready, s)
		}
	}
	for len(ready) > 0 {
		slices.Sort(ready)
		s := ready[0]
		ready = ready[1:]
		order = append(order, s)
		for _, t := range succ[s] {
			if indeg[t]--; indeg[t] == 0 {
				ready = append(ready, t)
			}
		}
	}
	return order
}

func addRejection(list []rejection, why string) []rejection {
	for i := range list {
		if list[i].why == why {
			list[i].count++
			return list
		}
	}
	return append(list, rejection{why, 1})
}

// rejectionText renders "2 by node capacity, 1 by dataflow a->b (...)",
// largest counts first.
func rejectionText(list []rejection) string {
	slices.SortStableFunc(list, func(a, b rejection) int { return cmp.Compare(b.count, a.count) })
	parts := make([]string, len(list))
	for i, r := range list {
		parts[i] = fmt.Sprintf("%d ruled out by %s", r.count, r.why)
	}
	return strings.Join(parts, ", ")
}
