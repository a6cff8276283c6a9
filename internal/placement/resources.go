package placement

import (
	"context"

	"github.com/hedgeorch/hedge/api"
)

// ResourcesFit filters out candidates without enough FREE cpu and memory for
// the request: capacity minus what is already reserved, not total cores (the
// check Oakestra makes). At LevelRoot a cluster must also have one node with
// room for the whole instance, because an instance runs on a single node.
type ResourcesFit struct {
	Level Level
}

var _ FilterPlugin = ResourcesFit{}

func init() {
	registerFilter(900, func(l Level) FilterPlugin { return ResourcesFit{Level: l} })
}

// Reasons are fixed strings so rejecting allocates nothing.
var (
	statusNoCPU      = &Status{Code: Unschedulable, Plugin: "ResourcesFit", Reason: "insufficient cpu"}
	statusNoMem      = &Status{Code: Unschedulable, Plugin: "ResourcesFit", Reason: "insufficient memory"}
	statusNoBoth     = &Status{Code: Unschedulable, Plugin: "ResourcesFit", Reason: "insufficient cpu and memory"}
	statusNodeNoCPU  = &Status{Code: Unschedulable, Plugin: "ResourcesFit", Reason: "no single node has enough cpu"}
	statusNodeNoMem  = &Status{Code: Unschedulable, Plugin: "ResourcesFit", Reason: "no single node has enough memory"}
	statusNodeNoBoth = &Status{Code: Unschedulable, Plugin: "ResourcesFit", Reason: "no single node has enough cpu and memory"}
)

// Name returns "ResourcesFit".
func (ResourcesFit) Name() string { return "ResourcesFit" }

// Filter rejects a candidate whose Free (and, at LevelRoot, MaxNodeFree)
// cannot hold r.Demand; the reason names the dimensions that are short.
func (p ResourcesFit) Filter(_ context.Context, r *Request, c *Candidate) *Status {
	if st := shortOf(r.Demand, c.Free, statusNoCPU, statusNoMem, statusNoBoth); st != nil {
		return st
	}
	if p.Level == LevelRoot {
		return shortOf(r.Demand, c.MaxNodeFree, statusNodeNoCPU, statusNodeNoMem, statusNodeNoBoth)
	}
	return nil
}

// shortOf returns nil if demand fits in free, otherwise the status naming
// what is short. The cpu tolerance matches api.Resources.Fits.
func shortOf(demand, free api.Resources, cpu, mem, both *Status) *Status {
	cpuOK := demand.VCPUs <= free.VCPUs+1e-9
	memOK := demand.MemoryMB <= free.MemoryMB
	switch {
	case cpuOK && memOK:
		return nil
	case memOK:
		return cpu
	case cpuOK:
		return mem
	default:
		return both
	}
}
