package app

import (
	"slices"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

// Status is an application's placement state, with FogAtlas's names.
type Status string

// Placement states.
const (
	// StatusNew: placed for the first time (no previous result was given).
	StatusNew Status = "New"
	// StatusSynced: placed exactly as the previous result.
	StatusSynced Status = "Synced"
	// StatusChanged: placed, differently from the previous result.
	StatusChanged Status = "Changed"
	// StatusFailed: no placement meets every constraint; Result.Reason says
	// which one could not be met.
	StatusFailed Status = "Failed"
)

// Method says how a placement was computed.
type Method string

// Methods.
const (
	// MethodExact: 0/1 optimisation; the placement is optimal, and when it
	// fails no placement exists.
	MethodExact Method = "exact"
	// MethodHeuristic: greedy placement plus local improvement, used beyond
	// Options.ExactLimit; feasible but maybe not optimal, and a failure may
	// be the heuristic's.
	MethodHeuristic Method = "heuristic"
	// MethodDirect: Silly; regions taken as required, nothing optimised.
	MethodDirect Method = "direct"
)

var (
	// ErrInvalid: the application (or its topology) cannot be placed as
	// written: a cycle in its dataflows, a ResourceBased application that
	// is not a pipeline, weights out of range. Retrying will not help.
	ErrInvalid = errdefs.New(errdefs.ErrInvalid, "invalid application")
	// ErrCycle: the dataflows form a cycle; wrapped together with ErrInvalid.
	ErrCycle = errdefs.New(errdefs.ErrInvalid, "dataflows form a cycle")
	// ErrInfeasible: no placement meets every constraint (Result.Reason says
	// which); placing is worth retrying when the topology changes.
	ErrInfeasible = errdefs.New(errdefs.ErrUnschedulable, "application does not fit")
)

// Result is the placement of one application.
type Result struct {
	// App is the FADepl's name and Algorithm the algorithm it asked for.
	App       string `json:"app"`
	Algorithm string `json:"algorithm"`
	Status    Status `json:"status"`
	Method    Method `json:"method"`
	// Placements lists the microservices in the application's order.
	Placements []Placement `json:"placements,omitempty"`
	// LinksOccupancy is the bandwidth this application allocates on each
	// link it uses, ordered by link id.
	LinksOccupancy []LinkOccupancy `json:"linksoccupancy,omitempty"`
	// Objective is the minimised value (see docs/placement.md):
	// Network × weight.Network + Compute × weight.Compute.
	Objective int64 `json:"objective"`
	// NetworkCost is the sum over dataflows of ceil(bandwidth/1000) × hops
	// (kbit/s·hop); ComputeCost the sum over microservices of replicas ×
	// cpu millicores.
	NetworkCost int64 `json:"network_cost"`
	ComputeCost int64 `json:"compute_cost"`
	// LatencyMicros is the sum of the dataflows' path latencies, the first
	// tie-break.
	LatencyMicros int64 `json:"latency_micros"`
	// Variables is the size of the 0/1 model the exact method solves (or
	// would solve): the figure Options.ExactLimit is compared with.
	Variables int `json:"variables,omitempty"`
	// Reason is, for StatusFailed, the constraint that could not be met.
	Reason string `json:"reason,omitempty"`
}

// Placement is where one microservice runs.
type Placement struct {
	Microservice string            `json:"microservice"`
	Regions      []RegionPlacement `json:"regions"`
}

// RegionPlacement is one microservice's deployment in one region.
type RegionPlacement struct {
	Region string `json:"region"`
	// Deployment is the name of the deployment in that region,
	// <microservice>.reg.<region>.
	Deployment string `json:"deployment"`
	Replicas   int    `json:"replicas"`
	Image      string `json:"image"`
	// CPUMillis is the cpu request of one replica there, after converting
	// MIPS with the region's cpu2mips; MemoryBytes its memory request.
	CPUMillis   int64 `json:"cpu_millis"`
	MemoryBytes int64 `json:"memory_bytes"`
	// Nodes are where the replicas fit (not computed by Silly).
	Nodes []NodeReplicas `json:"nodes,omitempty"`
}

// NodeReplicas is how many replicas of a microservice one node holds.
type NodeReplicas struct {
	Node     string `json:"node"`
	Replicas int    `json:"replicas"`
}

// LinkOccupancy is the bandwidth an application uses on one link.
type LinkOccupancy struct {
	LinkID string `json:"linkid"`
	// BWAllocated is this application's share, in bit/s.
	BWAllocated int64 `json:"bwallocated"`
	// FreeAfter is the link's free bandwidth once this application is
	// placed.
	FreeAfter int64 `json:"free_after"`
}

// DeploymentName returns the name of a microservice's deployment in a
// region, as FogAtlas names them: "<microservice>.reg.<regionID>".
func DeploymentName(microservice, region string) string {
	return microservice + ".reg." + region
}

// Placement returns the placement of a microservice.
func (r *Result) Placement(microservice string) (Placement, bool) {
	for _, p := range r.Placements {
		if p.Microservice == microservice {
			return p, true
		}
	}
	return Placement{}, false
}

// samePlacement reports whether a and b put every microservice in the same
// regions with the same replicas and images.
func samePlacement(a, b []Placement) bool {
	return slices.EqualFunc(a, b, func(x, y Placement) bool {
		return x.Microservice == y.Microservice && slices.EqualFunc(x.Regions, y.Regions, func(p, q RegionPlacement) bool {
			return p.Region == q.Region && p.Replicas == q.Replicas && p.Image == q.Image
		})
	})
}
