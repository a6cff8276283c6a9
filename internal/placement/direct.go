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
	var clusters []string
	var nodeSets []nameSet
	for _, con := range r.Constraints {
		if con.Type != ConstraintDirect {
			continue
		}
		if p.Level == LevelRoot {
			if con.Cluster != "" {
				clusters = append(clusters, con.Cluster)
			}
		} else if nodes := splitNodes(con.Node); len(nodes) > 0 {
			nodeSets = append(nodeSets, newNameSet(nodes))
		}
	}
	if len(clusters) == 0 && len(nodeSets) == 0 {
		return nil, nil // the common case: nothing to check, nothing allocated
	}
	return &directFor{clusters: clusters, nodeSets: nodeSets}, nil
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
	nodeSets []nameSet
}

func (*directFor) Name() string { return "DirectConstraint" }

func (b *directFor) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	for _, want := range b.clusters {
		if want != c.Name {
			return statusNotDirectCluster
		}
	}
	for _, set := range b.nodeSets {
		if !set.contains(c.Name) {
			return statusNotDirectNode
		}
	}
	return nil
}

// nameSet answers "is this name listed" for a list built once per Place
// call: a scan for a few names, a map past that, since the scan runs for
// every candidate.
type nameSet struct {
	list []string
	set  map[string]struct{}
}

const nameSetMapFrom = 8

func newNameSet(names []string) nameSet {
	if len(names) < nameSetMapFrom {
		return nameSet{list: names}
	}
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		set[n] = struct{}{}
	}
	return nameSet{set: set}
}

func (s nameSet) contains(name string) bool {
	if s.set != nil {
		_, ok := s.set[name]
		return ok
	}
	return slices.Contains(s.list, name)
}
