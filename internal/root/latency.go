package root

import (
	"fmt"
	"slices"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/placement"
	"github.com/hedgeorch/hedge/internal/topology"
)

// This file resolves Oakestra latency constraints over the topology: only
// the root knows the regions and links, so it turns each constraint into the
// list of regions close enough (api.Constraint.Regions) before it places an
// instance or hands it to a cluster, and moves instances whose region falls
// out of that list when the topology changes.

// latencyTopologyLocked returns the stored topology, built once per change
// (topologyChangedLocked forgets it).
func (r *Root) latencyTopologyLocked() (*topology.Topology, error) {
	if r.latencyTopo != nil {
		return r.latencyTopo, nil
	}
	st, err := r.loadTopoLocked()
	if err != nil {
		return nil, err
	}
	t, err := topology.Build(st.objects())
	if err != nil {
		return nil, err
	}
	r.latencyTopo = t
	return t, nil
}

// hasLatency reports whether spec has a latency constraint.
func hasLatency(spec api.ServiceSpec) bool {
	return slices.ContainsFunc(spec.Constraints, func(c api.Constraint) bool { return c.Type == placement.ConstraintLatency })
}

// resolveLatencyLocked returns spec with the Regions of its latency
// constraints set from the current topology. A topology that cannot be read
// leaves them empty, so nothing is placed blindly.
func (r *Root) resolveLatencyLocked(spec api.ServiceSpec) api.ServiceSpec {
	if !hasLatency(spec) {
		return spec
	}
	t, err := r.latencyTopologyLocked()
	if err != nil {
		r.log.Error("latency constraints: topology unavailable", "err", err)
	}
	cons := slices.Clone(spec.Constraints)
	for i := range cons {
		if cons[i].Type == placement.ConstraintLatency {
			cons[i].Regions = nil
			if t != nil {
				cons[i].Regions = RegionsWithin(t, cons[i].Area, cons[i].Threshold)
			}
		}
	}
	spec.Constraints = cons
	return spec
}

// RegionsWithin returns the ids of the regions whose path to area (a
// region id or name, or an external endpoint id, which stands for its
// region) over links that are up takes at most ms milliseconds; nil when
// the area is not in the topology.
func RegionsWithin(t *topology.Topology, area string, ms float64) []string {
	target := ""
	if reg, ok := t.Region(area); ok {
		target = reg.ID
	} else if ep, ok := t.Endpoint(area); ok {
		target = ep.RegionID
	} else {
		for _, reg := range t.Regions() {
			if reg.Name == area {
				target = reg.ID
				break
			}
		}
	}
	if target == "" {
		return nil
	}
	var out []string
	for _, reg := range t.Regions() {
		if p, ok := t.Path(reg.ID, target); ok && p.Latency <= ms {
			out = append(out, reg.ID)
		}
	}
	return out
}

// topologyChangedLocked forgets the cached topology and moves every
// instance whose latency constraint its node's region no longer meets, and
// every one its cluster could not place; the schedule loop then places them
// again, within the new regions.
func (r *Root) topologyChangedLocked() {
	r.latencyTopo = nil
	var moved []*instance
	for _, in := range r.insts {
		s := r.svcs[in.ServiceID]
		if s == nil || in.ClusterID == "" || in.Status.State.Terminal() || !hasLatency(s.Spec) {
			continue
		}
		region, known := r.nodeRegionLocked(in)
		if !known && in.Status.State != api.StateUnschedulable {
			continue // on its way to a node, placed by the regions of its assignment
		}
		spec := r.resolveLatencyLocked(s.Spec)
		for _, con := range spec.Constraints {
			if con.Type != placement.ConstraintLatency || (known && slices.Contains(con.Regions, region)) {
				continue
			}
			reason := fmt.Sprintf("moving: region %s is no longer within %g ms of %s", region, con.Threshold, con.Area)
			if !known {
				reason = fmt.Sprintf("placing again within %g ms of %s after a topology change", con.Threshold, con.Area)
			}
			r.log.Info("instance moves for its latency constraint", "instance", in.ID, "region", region, "area", con.Area, "regions", con.Regions)
			r.unassignLocked(in, api.StateScheduled, reason)
			moved = append(moved, in)
			break
		}
	}
	r.persistInstancesLocked(moved)
	r.trigger() // instances the root could not place may fit now
}

// nodeRegionLocked returns the region label of the node in runs on, as its
// cluster last reported; false while it has no node.
func (r *Root) nodeRegionLocked(in *instance) (string, bool) {
	c := r.clusters[in.ClusterID]
	if c == nil || in.Status.NodeID == "" {
		return "", false
	}
	for _, n := range c.nodes {
		if n.ID == in.Status.NodeID {
			return n.Labels[placement.LabelRegion], true
		}
	}
	return "", false
}
