package placement

import (
	"context"
	"slices"
	"strings"
)

// ConstraintDirect is the SLA constraint type that pins an instance to one
// cluster and, inside it, to a set of nodes.
const ConstraintDirect = "direct"

// DirectConstraint enforces SLA "direct" constraints. At LevelRoot the
// candidate's Name must equal the constraint's Cluster when that is set; at
// LevelCluster it must be one of the names in the constraint's Node
// (";"-separated, spaces trimmed) when that is set. Each tier checks only the
// part it can see: the root does not know node names.
type DirectConstraint struct {
	Level Level
}

var (
	_ FilterPlugin    = DirectConstraint{}
	_ PreFilterPlugin = DirectConstraint{}
)

func init() {
	registerFilter(200, func(l Level) FilterPlugin { return DirectConstraint{Level: l} })
}

var (
	statusNotDirectCluster = &Status{Code: Unschedulable, Plugin: "DirectConstraint", Reason: "not the cluster named in the direct constraint"}
	statusNotDirectNode    = &Status{Code: Unschedulable, Plugin: "DirectConstraint", Reason: "not a node named in the direct constraint"}
)

// Name returns "DirectConstraint".
func (DirectConstraint) Name() string { return "DirectConstraint" }

// Filter rejects a candidate that a direct constraint of r does not name.
func (p DirectConstraint) Filter(_ context.Context, r *Request, c *Candidate) *Status {
	for _, con := range r.Constraints {
		if con.Type != ConstraintDirect {
			continue
		}
		if p.Level == LevelRoot {
			if con.Cluster != "" && con.Cluster != c.Name {
				return statusNotDirectCluster
			}
			continue
		}
		if nodes := splitNodes(con.Node); len(nodes) > 0 && !slices.Contains(nodes, c.Name) {
			return statusNotDirectNode
		}
	}
	return nil
}

// PreFilter splits the node lists once per request and skips the plugin when
// r has no direct constraint that applies at this level.
func (p DirectConstraint) PreFilter(_ context.Context, r *Request) (FilterPlugin, *Status) {
	var b directFor
	for _, con := range r.Constraints {
		if con.Type != ConstraintDirect {
			continue
		}
		if p.Level == LevelRoot {
			if con.Cluster != "" {
				b.clusters = append(b.clusters, con.Cluster)
			}
		} else if nodes := splitNodes(con.Node); len(nodes) > 0 {
			b.nodeSets = append(b.nodeSets, nodes)
		}
	}
	if len(b.clusters) == 0 && len(b.nodeSets) == 0 {
		return nil, nil
	}
	return &b, nil
}

// splitNodes returns the non-empty, trimmed names in a "a; b;c" list.
func splitNodes(list string) []string {
	var out []string
	for n := range strings.SplitSeq(list, ";") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// directFor is DirectConstraint bound to one request: every name in clusters
// must be the candidate's, and every set in nodeSets must contain it.
type directFor struct {
	clusters []string
	nodeSets [][]string
}

func (*directFor) Name() string { return "DirectConstraint" }

func (b *directFor) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	for _, want := range b.clusters {
		if want != c.Name {
			return statusNotDirectCluster
		}
	}
	for _, set := range b.nodeSets {
		if !slices.Contains(set, c.Name) {
			return statusNotDirectNode
		}
	}
	return nil
}
