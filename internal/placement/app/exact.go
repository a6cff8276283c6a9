package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/crillab/gophersat/solver"

	"github.com/hedgeorch/hedge/internal/topology"
)

// The exact method writes the problem as a 0/1 (pseudo-boolean) model and
// hands it to gophersat:
//
//	x[s][k]    microservice s runs in the k-th region of its domain
//	u[s][n][j] node n holds at least j replicas of s (j = 1..what fits)
//	p[f][a][b] dataflow f runs from region a to region b (both ends are
//	           microservices; only for routes with at least one hop)
//
//	Σk x[s][k] = 1                          one region per microservice
//	u[s][n][1] → x[s][region(n)], u[s][n][j+1] → u[s][n][j]
//	Σn,j u[s][n][j] = replicas(s)           every replica on some node
//	Σ cpu(s, region(n))·u[s][n][j] ≤ free cpu of n, same for memory
//	x[a][i] ∧ x[b][j] → p[f][i][j]          (a pair the dataflow cannot use
//	                                         is forbidden: ¬x[a][i] ∨ ¬x[b][j])
//	Σ bandwidth(f)·(p or x) over dataflows routed through link l ≤ free(l)
//
// It minimises the objective, then, with the objective held at its optimum,
// the total dataflow latency, and finally picks the first such placement in
// the application's order of microservices and each one's preference order
// of regions, by fixing one microservice at a time. Every step is a fresh
// solve, which is why the method is kept for small applications.

// wlit is a weighted literal of a linear sum.
type wlit struct {
	v int // variable, from 1
	w int64
}

// uvar is a replica variable: s has at least one more replica on node.
type uvar struct {
	s, node, v int
}

// pbModel is the problem as 0/1 constraints.
type pbModel struct {
	nvars     int
	constrs   []solver.PBConstr
	primary   map[int]int64 // objective terms by variable
	secondary map[int]int64 // latency terms by variable
	x         [][]int
	u         []uvar
}

// relaxation leaves constraint families out, to find which one makes an
// application infeasible.
type relaxation struct {
	links, nodes bool
}

// exactSize estimates the variables of the model, to choose the method
// before building anything.
func (p *problem) exactSize() int {
	n := 0
	for _, sv := range p.svcs {
		n += len(sv.domain)
		for _, r := range sv.domain {
			for _, node := range sv.nodes[r] {
				n += p.replicasOn(sv, r, node)
			}
		}
	}
	for _, f := range p.flows {
		if f.src.svc >= 0 && f.dst.svc >= 0 {
			n += len(p.svcs[f.src.svc].domain) * len(p.svcs[f.dst.svc].domain)
		}
	}
	return n
}

func (m *pbModel) newVar() int {
	m.nvars++
	return m.nvars
}

func (m *pbModel) clause(lits ...int) { m.constrs = append(m.constrs, solver.PropClause(lits...)) }

func addTerm(terms map[int]int64, v int, w int64) {
	if w != 0 {
		terms[v] += w
	}
}

// buildPB writes p as a pbModel.
func (p *problem) buildPB(relax relaxation) *pbModel {
	m := &pbModel{primary: make(map[int]int64), secondary: make(map[int]int64)}
	nodeCPU := make(map[int][]wlit)
	nodeMem := make(map[int][]wlit)
	linkLoad := make(map[int][]wlit)
	for s, sv := range p.svcs {
		xs := make([]int, len(sv.domain))
		for k := range xs {
			xs[k] = m.newVar()
		}
		m.x = append(m.x, xs)
		m.constrs = append(m.constrs, solver.AtLeast(slices.Clone(xs), 1), solver.AtMost(slices.Clone(xs), 1))
		var replicas []int
		for k, r := range sv.domain {
			addTerm(m.primary, xs[k], p.computeCost(s, r))
			cpu := sv.cpu[r]
			for _, n := range sv.nodes[r] {
				prev := xs[k]
				for range p.replicasOn(sv, r, n) {
					v := m.newVar()
					m.clause(-v, prev)
					prev = v
					replicas = append(replicas, v)
					m.u = append(m.u, uvar{s, n, v})
					nodeCPU[n] = append(nodeCPU[n], wlit{v, cpu})
					nodeMem[n] = append(nodeMem[n], wlit{v, sv.memMiB})
				}
			}
		}
		m.constrs = append(m.constrs, solver.AtLeast(slices.Clone(replicas), sv.replicas), solver.AtMost(replicas, sv.replicas))
	}

	for _, f := range p.flows {
		addFlow := func(v int, h hop) {
			addTerm(m.primary, v, p.netCost(f, len(h.links)))
			addTerm(m.secondary, v, h.latency)
			if f.bw > 0 {
				for _, l := range h.links {
					linkLoad[l] = append(linkLoad[l], wlit{v, f.bw})
				}
			}
		}
		if f.src.svc < 0 || f.dst.svc < 0 {
			s := f.src.svc
			if s < 0 {
				s = f.dst.svc
			}
			other := f.other(s)
			for k, r := range p.svcs[s].domain {
				h, ok := p.routeOriented(f, s, r, other.region, p.free)
				if !ok {
					m.clause(-m.x[s][k])
					continue
				}
				addFlow(m.x[s][k], h)
			}
			continue
		}
		a, b := f.src.svc, f.dst.svc
		for ka, ra := range p.svcs[a].domain {
			for kb, rb := range p.svcs[b].domain {
				xa, xb := m.x[a][ka], m.x[b][kb]
				h, ok := p.route(f, ra, rb, p.free)
				switch {
				case !ok:
					m.clause(-xa, -xb)
				case len(h.links) > 0:
					v := m.newVar()
					m.clause(-xa, -xb, v)
					addFlow(v, h)
				}
			}
		}
	}

	if !relax.nodes {
		for _, n := range slices.Sorted(maps.Keys(nodeCPU)) {
			m.atMost(nodeCPU[n], p.freeCPU[n])
			m.atMost(nodeMem[n], p.freeMem[n])
		}
	}
	if !relax.links {
		for _, l := range slices.Sorted(maps.Keys(linkLoad)) {
			m.atMost(linkLoad[l], p.free[l])
		}
	}
	return m
}

// atMost adds Σ terms ≤ bound, unless it always holds. A variable may come
// more than once (two dataflows of one microservice over the same link); the
// solver wants each once, so their weights are added up.
func (m *pbModel) atMost(terms []wlit, bound int64) {
	merged := make(map[int]int64, len(terms))
	var sum int64
	for _, t := range terms {
		merged[t.v] += t.w
		sum += t.w
	}
	terms = sortedTerms(merged)
	if sum <= bound {
		return
	}
	m.constrs = append(m.constrs, lessEq(terms, bound))
}

// lessEq returns the constraint Σ terms ≤ bound.
func lessEq(terms []wlit, bound int64) solver.PBConstr {
	lits := make([]int, 0, len(terms))
	weights := make([]int, 0, len(terms))
	for _, t := range terms {
		if t.w == 0 {
			continue
		}
		lits = append(lits, t.v)
		weights = append(weights, int(t.w))
	}
	return solver.LtEq(lits, weights, int(bound))
}

// sortedTerms returns the terms of a sum by variable, so that the model is
// the same on every run.
func sortedTerms(terms map[int]int64) []wlit {
	out := make([]wlit, 0, len(terms))
	for _, v := range slices.Sorted(maps.Keys(terms)) {
		out = append(out, wlit{v, terms[v]})
	}
	return out
}

// errSolver reports a failure of the solver library itself.
var errSolver = errors.New("pseudo-boolean solver failed")

// solverMu serialises every use of the solver library: gophersat's clause
// learning writes a package-level buffer (solver.bufLits in v1.4.0), so two
// solves at once would corrupt each other's learned clauses.
var solverMu sync.Mutex

// solve solves the model plus extra constraints, minimising cost when it is
// not empty. ok is false when no model exists.
func (m *pbModel) solve(extra []solver.PBConstr, cost []wlit) (model []bool, value int64, ok bool, err error) {
	solverMu.Lock()
	defer solverMu.Unlock()
	defer func() {
		// The solver signals misuse by panicking; never let that take the
		// process down.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errSolver, r)
		}
	}()
	all := make([]solver.PBConstr, 0, len(m.constrs)+len(extra))
	for _, c := range append(m.constrs, extra...) {
		// The solver modifies constraints it is given (weight saturation).
		all = append(all, solver.PBConstr{Lits: slices.Clone(c.Lits), Weights: slices.Clone(c.Weights), AtLeast: c.AtLeast})
	}
	pb := solver.ParsePBConstrs(all)
	if len(cost) > 0 {
		lits := make([]solver.Lit, len(cost))
		weights := make([]int, len(cost))
		for i, t := range cost {
			lits[i] = solver.IntToLit(int32(t.v))
			weights[i] = int(t.w)
		}
		pb.SetCostFunc(lits, weights)
	}
	s := solver.New(pb)
	if len(cost) > 0 {
		c := s.Minimize()
		if c < 0 {
			return nil, 0, false, nil
		}
		value = int64(c)
	} else if s.Solve() != solver.Sat {
		return nil, 0, false, nil
	}
	model = s.Model()
	if len(model) < m.nvars {
		// Every variable occurs in some constraint, so the solver knows it.
		return nil, 0, false, fmt.Errorf("%w: model of %d variables, want %d", errSolver, len(model), m.nvars)
	}
	return model, value, true, nil
}

// placeExact finds the optimal placement (see the comment at the top of this
// file). When none exists, sol is nil and reason says what cannot be met.
func (p *problem) placeExact(ctx context.Context) (sol *solution, reason string, err error) {
	if math.MaxInt < math.MaxInt64 {
		return nil, "", fmt.Errorf("%w: the exact method needs 64-bit integers", errSolver)
	}
	m := p.buildPB(relaxation{})
	primary, secondary := sortedTerms(m.primary), sortedTerms(m.secondary)

	model, best, ok, err := m.solve(nil, primary)
	if err != nil || !ok {
		if err == nil {
			reason, err = p.explainInfeasible(ctx)
		}
		return nil, reason, err
	}
	fixed := []solver.PBConstr{lessEq(primary, best)}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if len(secondary) > 0 {
		mdl, lat, ok, err := m.solve(fixed, secondary)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "", fmt.Errorf("%w: optimum %d not reproducible", errSolver, best)
		}
		model = mdl
		fixed = append(fixed, lessEq(secondary, lat))
	}
	for s := range p.svcs {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		cur, err := m.chosen(model, s)
		if err != nil {
			return nil, "", err
		}
		// Ask for any region earlier in s's preference order until there
		// is none: usually one solve per microservice, an unsatisfiable one.
		for cur > 0 {
			mdl, _, ok, err := m.solve(append(fixed, solver.PropClause(slices.Clone(m.x[s][:cur])...)), nil)
			if err != nil {
				return nil, "", err
			}
			if !ok {
				break
			}
			model = mdl
			if cur, err = m.chosen(model, s); err != nil {
				return nil, "", err
			}
		}
		fixed = append(fixed, solver.PropClause(m.x[s][cur]))
	}
	return m.decode(p, model)
}

// chosen returns the domain index of the region model puts s in.
func (m *pbModel) chosen(model []bool, s int) (int, error) {
	k := -1
	for i, v := range m.x[s] {
		if model[v-1] {
			if k >= 0 {
				return 0, fmt.Errorf("%w: microservice %d in two regions", errSolver, s)
			}
			k = i
		}
	}
	if k < 0 {
		return 0, fmt.Errorf("%w: microservice %d in no region", errSolver, s)
	}
	return k, nil
}

// decode turns a model into a solution.
func (m *pbModel) decode(p *problem, model []bool) (*solution, string, error) {
	sol := newSolution(p)
	for s := range p.svcs {
		k, err := m.chosen(model, s)
		if err != nil {
			return nil, "", err
		}
		sol.region[s] = p.svcs[s].domain[k]
	}
	for _, u := range m.u {
		if model[u.v-1] {
			sol.addReplicas(u.s, u.node, 1)
		}
	}
	return sol, "", nil
}

// explainInfeasible says why the exact model has no solution although every
// microservice and dataflow can be met on its own: it solves again without
// link bandwidth, then without node capacity, and names what the relaxed
// placement overloads.
func (p *problem) explainInfeasible(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	for _, relax := range []relaxation{{links: true}, {nodes: true}} {
		m := p.buildPB(relax)
		model, _, ok, err := m.solve(nil, nil)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		sol, _, err := m.decode(p, model)
		if err != nil {
			return "", err
		}
		if relax.links {
			if l, need := sol.overloadedLink(); l >= 0 {
				return fmt.Sprintf("dataflows together need %s on link %s, which has %s free",
					topology.FormatBandwidth(need), p.links[l].ID, topology.FormatBandwidth(p.free[l])), nil
			}
		} else if r := sol.overloadedRegion(); r >= 0 {
			return fmt.Sprintf("microservices that must share region %s need more cpu or memory than its nodes have free", p.regions[r].ID), nil
		}
	}
	return "no placement meets node capacity and link bandwidth together", nil
}
