package placement

import (
	"context"
	"fmt"
	"slices"
)

// ConstraintLatency is Oakestra's latency constraint: run where the network
// path to Area (a region or an external endpoint of the topology) takes at
// most Threshold milliseconds. Oakestra documents it; its scheduler ignores
// it.
const ConstraintLatency = "latency"

// LabelRegion is the node label naming the node's region (FogAtlas' label).
const LabelRegion = "region"

// LatencyConstraint enforces latency constraints. The topology lives at the
// root, which resolves each constraint into Constraint.Regions, the regions
// close enough, before placing and before handing instances to clusters;
// this plugin, at both levels, keeps candidates with a node labelled into
// one of them. At LevelRoot a cluster passes when one of its nodes does.
type LatencyConstraint struct{}

var (
	_ FilterPlugin    = LatencyConstraint{}
	_ PreFilterPlugin = LatencyConstraint{}
)

func init() { registerFilter(640, func(Level) FilterPlugin { return LatencyConstraint{} }) }

// Name returns "LatencyConstraint".
func (LatencyConstraint) Name() string { return "LatencyConstraint" }

// Filter checks every latency constraint of r.
func (p LatencyConstraint) Filter(ctx context.Context, r *Request, c *Candidate) *Status {
	f, st := p.PreFilter(ctx, r)
	if st != nil || f == nil {
		return st
	}
	return f.Filter(ctx, r, c)
}

type latencyArea struct {
	regions []string
	reason  *Status
}

// PreFilter collects the resolved regions once per request.
func (LatencyConstraint) PreFilter(_ context.Context, r *Request) (FilterPlugin, *Status) {
	var areas []latencyArea
	for _, con := range r.Constraints {
		if con.Type != ConstraintLatency {
			continue
		}
		a := latencyArea{regions: con.Regions}
		if len(con.Regions) == 0 {
			return nil, &Status{Code: Unschedulable, Plugin: "LatencyConstraint",
				Reason: fmt.Sprintf("no region of the topology is within %g ms of %s", con.Threshold, con.Area)}
		}
		a.reason = &Status{Code: Unschedulable, Plugin: "LatencyConstraint",
			Reason: fmt.Sprintf("no node in a region within %g ms of %s %v", con.Threshold, con.Area, con.Regions)}
		areas = append(areas, a)
	}
	if len(areas) == 0 {
		return nil, nil
	}
	return latencyFilter(areas), nil
}

type latencyFilter []latencyArea

func (latencyFilter) Name() string { return "LatencyConstraint" }

func (f latencyFilter) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	for _, a := range f {
		near := false
		for _, labels := range c.labelSets() {
			if reg, ok := labels[LabelRegion]; ok && slices.Contains(a.regions, reg) {
				near = true
				break
			}
		}
		if !near {
			return a.reason
		}
	}
	return nil
}
