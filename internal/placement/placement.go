package placement

import (
	"context"

	"github.com/hedgeorch/hedge/api"
)

// Level says which tier a Framework places for, and so what its candidates are.
type Level int

const (
	// LevelRoot places an instance on a cluster; candidates are clusters with
	// the aggregate resources of their nodes.
	LevelRoot Level = iota
	// LevelCluster places an instance on a node of one cluster.
	LevelCluster
)

// String returns "root" or "cluster".
func (l Level) String() string {
	switch l {
	case LevelRoot:
		return "root"
	case LevelCluster:
		return "cluster"
	default:
		return "unknown"
	}
}

// candidates returns what the candidates at this level are called in
// diagnoses: "clusters" or "nodes".
func (l Level) candidates() string {
	if l == LevelCluster {
		return "nodes"
	}
	return "clusters"
}

// Request is one instance to place.
type Request struct {
	ServiceID string
	Instance  int
	// Virtualization is the runtime the instance needs (api.VirtProcess,
	// api.VirtContainer, api.VirtUnikernel); "" asks for none in particular.
	Virtualization string
	// Demand is what the instance reserves: vcpus and memory MB.
	Demand api.Resources
	// Arch lists the architectures the instance can run on; empty means any.
	Arch []string
	// Constraints come from the SLA. Plugins act on the types they know
	// (direct, clusters) and ignore the others.
	Constraints []api.Constraint
	// Policy names the score policy ("best-fit", "worst-fit",
	// "most-traffic"); "" means DefaultPolicy.
	Policy string
	// Selector holds labels the node running the instance must carry.
	Selector map[string]string
}

// Candidate is a place an instance can go: a cluster at LevelRoot, a node at
// LevelCluster. Plugins read candidates and must never modify them.
type Candidate struct {
	ID, Name string
	// Ready is false for a candidate that stopped reporting; Cordoned is true
	// for one an operator closed to new work. Either filters it out.
	Ready, Cordoned bool
	// Runtimes lists the virtualizations the candidate can run.
	Runtimes []string
	// Arch lists the architectures present: one for a node, the set of its
	// nodes' architectures for a cluster.
	Arch []string
	// Capacity is the total allocatable.
	Capacity api.Resources
	// Free is Capacity minus what is already reserved.
	Free api.Resources
	// MaxNodeFree is, at LevelRoot, the most free resources on any single
	// node of the cluster: one instance runs on one node, so a cluster whose
	// free memory is spread thinly cannot take a large instance. At
	// LevelCluster it equals Free.
	MaxNodeFree api.Resources
	Labels      map[string]string
	// NodeLabels, at LevelRoot, are the labels of each ready node of the
	// cluster, so node-level selectors and locations can be checked there;
	// at LevelCluster it is nil and Labels are the node's own.
	NodeLabels []map[string]string
	// NetRxBytesPS is the network receive rate the candidate reports (a
	// cluster's is the sum of its nodes'); most-traffic prefers the highest.
	NetRxBytesPS float64
}

// labelSets returns the label sets a node-level check looks at: the node's own
// labels, or at LevelRoot those of each node of the cluster.
func (c *Candidate) labelSets() []map[string]string {
	if c.NodeLabels != nil {
		return c.NodeLabels
	}
	return []map[string]string{c.Labels}
}

// Plugin is the base of every placement plugin.
type Plugin interface {
	// Name identifies the plugin in statuses and errors.
	Name() string
}

// FilterPlugin decides whether a candidate can take the request at all.
// Implemented by the plugins in this package and by later topology plugins.
//
// Filter is called concurrently by many Place calls, must not modify r or c,
// and must be idempotent. It returns nil when the candidate fits, a Status
// with Code Unschedulable and a short reason that reads well after a count
// ("2 insufficient memory") when it does not, or Code Error when the plugin
// itself failed. Returned statuses may be shared between calls: callers must
// not modify them.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, r *Request, c *Candidate) *Status
}

// ScorePlugin ranks a candidate that passed every filter. Score returns a
// value in 0..MaxScore, higher is better; a non-nil Status is an Error (a
// scorer does not reject). The same concurrency rules as FilterPlugin apply.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, r *Request, c *Candidate) (int64, *Status)
}

// PreFilterPlugin is an optional capability of a FilterPlugin whose work
// depends on the request more than on the candidate (splitting a constraint,
// building a reason string). Place calls PreFilter once and runs the filter
// it returns on every candidate instead of the plugin itself.
//
// The returned filter must decide exactly as the plugin's own Filter would
// for r. Returning a nil filter and a nil status means r asks nothing of this
// plugin and it is skipped. A status with Code Unschedulable rejects every
// candidate with its reason; Code Error aborts the placement.
type PreFilterPlugin interface {
	FilterPlugin
	PreFilter(ctx context.Context, r *Request) (FilterPlugin, *Status)
}

// PreScorePlugin is the same optional capability for a ScorePlugin: Place
// calls PreScore once and runs the returned scorer on every feasible
// candidate. A nil scorer and nil status skip the plugin; any status is an
// Error.
type PreScorePlugin interface {
	ScorePlugin
	PreScore(ctx context.Context, r *Request) (ScorePlugin, *Status)
}

// MaxScore is the highest score a ScorePlugin may return.
const MaxScore int64 = 100
