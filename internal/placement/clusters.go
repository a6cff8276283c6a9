package placement

import (
	"context"
	"slices"
)

// ConstraintClusters is the SLA constraint type that lists the clusters an
// instance may run in.
const ConstraintClusters = "clusters"

// ClustersConstraint enforces SLA "clusters" constraints at LevelRoot: the
// candidate's Name must be in the constraint's Allowed list. A constraint
// with an empty list restricts nothing (SLA validation rejects it before it
// gets here). At LevelCluster the plugin does nothing: the root already chose
// an allowed cluster.
type ClustersConstraint struct {
	Level Level
}

var (
	_ FilterPlugin    = ClustersConstraint{}
	_ PreFilterPlugin = ClustersConstraint{}
)

func init() {
	registerFilter(300, func(l Level) FilterPlugin {
		if l != LevelRoot {
			return nil
		}
		return ClustersConstraint{Level: l}
	})
}

var statusNotAllowedCluster = &Status{Code: Unschedulable, Plugin: "ClustersConstraint", Reason: "not in the clusters constraint's allowed list"}

// Name returns "ClustersConstraint".
func (ClustersConstraint) Name() string { return "ClustersConstraint" }

// Filter rejects a cluster missing from the Allowed list of any clusters
// constraint of r.
func (p ClustersConstraint) Filter(_ context.Context, r *Request, c *Candidate) *Status {
	if p.Level != LevelRoot {
		return nil
	}
	for _, con := range r.Constraints {
		if con.Type == ConstraintClusters && len(con.Allowed) > 0 && !slices.Contains(con.Allowed, c.Name) {
			return statusNotAllowedCluster
		}
	}
	return nil
}

// PreFilter gathers the allowed lists once per request and skips the plugin
// when r has none.
func (p ClustersConstraint) PreFilter(_ context.Context, r *Request) (FilterPlugin, *Status) {
	if p.Level != LevelRoot {
		return nil, nil
	}
	var allowed []nameSet
	for _, con := range r.Constraints {
		if con.Type == ConstraintClusters && len(con.Allowed) > 0 {
			allowed = append(allowed, newNameSet(con.Allowed))
		}
	}
	if len(allowed) == 0 {
		return nil, nil
	}
	return &clustersFor{allowed: allowed}, nil
}

// clustersFor is ClustersConstraint bound to one request: the candidate must
// be in every list.
type clustersFor struct {
	allowed []nameSet
}

func (*clustersFor) Name() string { return "ClustersConstraint" }

func (b *clustersFor) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	for _, set := range b.allowed {
		if !set.contains(c.Name) {
			return statusNotAllowedCluster
		}
	}
	return nil
}
