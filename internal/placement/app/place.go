package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/hedgeorch/hedge/internal/topology"
)

// Weights weigh the two parts of the objective. The zero value means
// DefaultWeights.
type Weights struct {
	// Network multiplies the network cost, in kbit/s·hop.
	Network int64 `json:"network"`
	// Compute multiplies the compute cost, in cpu millicores.
	Compute int64 `json:"compute"`
}

// DefaultWeights count one kbit/s carried over one link as much as one cpu
// millicore.
var DefaultWeights = Weights{Network: 1, Compute: 1}

// maxWeight bounds each weight so that objectives stay inside int64.
const maxWeight = 1_000_000

// DefaultExactLimit is the largest model, in 0/1 variables, that Place
// solves exactly unless Options.ExactLimit says otherwise. On a 2-core
// machine (docs/placement.md has the figures) the exact method takes a few
// milliseconds at a few hundred variables, a few hundred at 900, and grows
// steeply beyond (seconds at 3000), while the heuristic stays well under a
// millisecond with a gap of a few percent at most on the same instances.
const DefaultExactLimit = 600

// Options tune Place. The zero value is ready to use.
type Options struct {
	// Weights of the objective; zero means DefaultWeights.
	Weights Weights
	// ExactLimit is the largest model (Result.Variables) solved exactly;
	// beyond it the heuristic runs. 0 means DefaultExactLimit.
	ExactLimit int
	// Method forces MethodExact or MethodHeuristic whatever the size; ""
	// chooses by ExactLimit.
	Method Method
	// Previous is this application's last result, if it was placed before.
	// Its link occupancy is released before placing again (the topology's
	// bwallocated still counts it), and Status says whether the placement
	// is Synced (unchanged) or Changed.
	Previous *Result
	// Logger receives a debug line per placement; nil discards.
	Logger *slog.Logger
}

// Place decides where every microservice of app runs on topo with the
// application's algorithm:
//
//   - Silly: each microservice in each region it requires, with that
//     region's replicas and image; nothing is checked or optimised.
//   - ResourceBased (a pipeline) and DAG (any acyclic graph): one region per
//     microservice such that some node there can hold every replica (cpu after
//     MIPS conversion, memory, nodeSelector), regionrequired is honoured,
//     every dataflow's path meets its latency bound and its bandwidth fits the
//     free bandwidth of every link on the path, nodes and links shared by
//     several microservices and dataflows are not overcommitted; among those,
//     the one with the least objective (see docs/placement.md), exactly for
//     models up to Options.ExactLimit variables, by heuristic beyond.
//
// The result is deterministic. When no placement exists, Result.Status is
// Failed, Result.Reason names the constraint that could not be met, and the
// error wraps ErrInfeasible. An application that cannot be placed as
// written (a cycle, a ResourceBased application that is not a pipeline)
// gives an error wrapping ErrInvalid, and a nil Result. Place does not
// modify topo or app; apply Result.LinksOccupancy to the links to account for
// the placement.
func Place(ctx context.Context, topo *topology.Topology, app *topology.FADepl, opts Options) (*Result, error) {
	start := time.Now()
	if topo == nil || app == nil {
		return nil, fmt.Errorf("place: %w: nil topology or application", ErrInvalid)
	}
	w := opts.Weights
	if w == (Weights{}) {
		w = DefaultWeights
	}
	if w.Network < 0 || w.Compute < 0 || w.Network > maxWeight || w.Compute > maxWeight {
		return nil, fmt.Errorf("place %s: %w: weights %+v, want each in [0, %d]", app.Name, ErrInvalid, w, maxWeight)
	}
	switch opts.Method {
	case "", MethodExact, MethodHeuristic:
	default:
		return nil, fmt.Errorf("place %s: %w: method %q, want exact or heuristic", app.Name, ErrInvalid, opts.Method)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("place %s: %w", app.Name, err)
	}
	res := &Result{App: app.Name, Algorithm: string(app.Algorithm)}
	var err error
	switch app.Algorithm {
	case topology.AlgorithmSilly:
		placeSilly(topo, app, res)
	case topology.AlgorithmResourceBased, topology.AlgorithmDAG:
		err = placeOptimised(ctx, topo, app, w, opts, res)
	default:
		err = fmt.Errorf("%w: algorithm %q, want Silly, ResourceBased or DAG", ErrInvalid, app.Algorithm)
	}
	if err != nil {
		return nil, fmt.Errorf("place %s: %w", app.Name, err)
	}
	switch {
	case res.Reason != "":
		res.Status = StatusFailed
		res.Placements, res.LinksOccupancy = nil, nil
		res.Objective, res.NetworkCost, res.ComputeCost, res.LatencyMicros = 0, 0, 0, 0
		err = fmt.Errorf("place %s: %w: %s", app.Name, ErrInfeasible, res.Reason)
	case opts.Previous == nil:
		res.Status = StatusNew
	case samePlacement(opts.Previous.Placements, res.Placements):
		res.Status = StatusSynced
	default:
		res.Status = StatusChanged
	}
	if opts.Logger != nil {
		opts.Logger.Debug("placed application", "app", app.Name, "algorithm", app.Algorithm, "method", res.Method,
			"status", res.Status, "variables", res.Variables, "objective", res.Objective, "duration", time.Since(start))
	}
	return res, err
}

// placeSilly puts each microservice in every region it requires.
func placeSilly(topo *topology.Topology, app *topology.FADepl, res *Result) {
	res.Method = MethodDirect
	for _, m := range app.Microservices {
		if len(m.Regions) == 0 {
			res.Reason = fmt.Sprintf("microservice %s: algorithm Silly needs at least one regionrequired", m.Name)
			return
		}
		pl := Placement{Microservice: m.Name}
		for _, want := range m.Regions {
			if _, ok := topo.Region(want.RegionRequired); !ok {
				res.Reason = fmt.Sprintf("microservice %s: required region %s does not exist", m.Name, want.RegionRequired)
				return
			}
			rp := RegionPlacement{
				Region:      want.RegionRequired,
				Deployment:  DeploymentName(m.Name, want.RegionRequired),
				Replicas:    m.Deployment.Replicas,
				Image:       m.Deployment.Image(),
				CPUMillis:   m.Deployment.CPUMillis(),
				MemoryBytes: m.Deployment.MemoryBytes(),
			}
			if want.Replicas > 0 {
				rp.Replicas = want.Replicas
			}
			if want.Image != "" {
				rp.Image = want.Image
			}
			pl.Regions = append(pl.Regions, rp)
		}
		res.Placements = append(res.Placements, pl)
	}
}

// placeOptimised runs ResourceBased and DAG.
func placeOptimised(ctx context.Context, topo *topology.Topology, app *topology.FADepl, w Weights, opts Options, res *Result) error {
	if err := checkGraph(app); err != nil {
		return err
	}
	if err := checkMagnitude(topo, app, w); err != nil {
		return err
	}
	p, failure, err := newProblem(topo, app, w, opts.Previous)
	if err != nil {
		return err
	}
	if failure != "" {
		// Found without searching, by checks every placement must pass: a
		// proof, whatever method the size would have chosen.
		res.Method, res.Reason = MethodExact, failure
		if opts.Method == MethodHeuristic {
			res.Method = MethodHeuristic
		}
		return nil
	}
	limit := opts.ExactLimit
	if limit == 0 {
		limit = DefaultExactLimit
	}
	res.Variables = p.exactSize()
	res.Method = MethodHeuristic
	if opts.Method == MethodExact || (opts.Method == "" && res.Variables <= limit) {
		res.Method = MethodExact
	}

	var sol *solution
	if res.Method == MethodExact {
		sol, failure, err = p.placeExact(ctx)
	} else {
		sol, failure, err = p.placeHeuristic(ctx)
	}
	if err != nil {
		return err
	}
	if failure != "" {
		res.Reason = failure
		return nil
	}
	if err := sol.verify(); err != nil {
		return fmt.Errorf("%s placement breaks a constraint (a bug): %w", res.Method, err)
	}
	sol.fill(res)
	return nil
}

// checkMagnitude rejects applications whose objective or latency sums could
// overflow int64: a bound is computed in floating point, far from its limits.
func checkMagnitude(topo *topology.Topology, app *topology.FADepl, w Weights) error {
	const limit = 1 << 60
	regions := float64(len(topo.Regions()))
	var maxLatency, maxCPU2MIPSInv float64
	for _, l := range topo.Links() {
		maxLatency = math.Max(maxLatency, l.Latency*1000)
	}
	maxCPU2MIPSInv = 1000 // cpu2mips >= 1
	var bound, latency float64
	for _, f := range app.Dataflows {
		bound += float64(w.Network) * math.Ceil(float64(f.BandwidthRequired)/1000) * regions
		latency += maxLatency * regions
	}
	for _, m := range app.Microservices {
		cpu := float64(m.Deployment.CPUMillis())
		if m.MIPSRequired > 0 {
			cpu = math.Max(cpu, float64(m.MIPSRequired)*maxCPU2MIPSInv)
		}
		replicas := float64(m.Deployment.Replicas)
		for _, r := range m.Regions {
			replicas = math.Max(replicas, float64(r.Replicas))
		}
		bound += float64(w.Compute) * replicas * cpu
	}
	if bound > limit || latency > limit {
		return fmt.Errorf("%w: the application's figures are too large to add up exactly (lower bandwidths, replicas or weights)", ErrInvalid)
	}
	return nil
}
