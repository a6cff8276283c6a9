package placement

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/hedgeorch/hedge/api"
)

// This file holds the ASSIST-IoT Smart Orchestrator's placement over
// Kubernetes clusters as framework plugins: a cluster's room is
// max_replicas, the number of copies of a demand its schedulable nodes can
// still take; a filter drops clusters without room for the wanted replicas;
// the policies rank by that room or by traffic.

// unboundedReplicas stands for "no limit" when the demand is zero in every
// dimension, so that such a chart fits anywhere.
const unboundedReplicas = math.MaxInt32

// MaxReplicas returns the Smart Orchestrator's max_replicas of a cluster for
// demand: the sum over its schedulable nodes of min(free cpu / demand cpu,
// free memory / demand memory), each quotient rounded down, where free is a
// node's allocatable minus what its running pods request. A dimension the
// demand does not use does not limit; a node with nothing free in a used
// dimension adds nothing.
func MaxReplicas(demand api.Resources, free []api.Resources) int {
	total := 0
	for _, f := range free {
		n := unboundedReplicas
		if demand.VCPUs > 0 {
			// Millicores, so that 0.1 of 0.3 cores counts as 3, not 2.999.
			n = min(n, int(max(0, math.Floor(math.Round(f.VCPUs*1000)/math.Round(demand.VCPUs*1000)))))
		}
		if demand.MemoryMB > 0 {
			n = min(n, int(max(0, f.MemoryMB/demand.MemoryMB)))
		}
		if n == unboundedReplicas {
			return unboundedReplicas
		}
		total += n
		if total >= unboundedReplicas {
			return unboundedReplicas
		}
	}
	return total
}

// ReplicaRoom filters out clusters whose max_replicas is below the replicas
// a chart (or service) needs. Room maps candidate IDs to max_replicas; a
// candidate missing from it has no room.
type ReplicaRoom struct {
	Replicas int
	Room     map[string]int
}

var _ FilterPlugin = (*ReplicaRoom)(nil)

// Name returns "ReplicaRoom".
func (*ReplicaRoom) Name() string { return "ReplicaRoom" }

// Filter rejects a cluster with room for fewer than Replicas replicas.
func (p *ReplicaRoom) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	if room := p.Room[c.ID]; room < max(p.Replicas, 1) {
		return NewStatus(Unschedulable, "ReplicaRoom", "too little room for the replicas (max_replicas below the replica count)")
	}
	return nil
}

// CloudCluster keeps the cloud cluster (label api.KubeCloudLabel="true") out
// of automatic placement: the Smart Orchestrator reserves it for what edge
// clusters cannot take. A request that names the cluster in a direct or
// clusters constraint may still go there.
type CloudCluster struct{}

var _ FilterPlugin = CloudCluster{}

// Between the SLA cluster constraints (300) and the runtime filter (400).
func init() {
	registerFilter(350, func(l Level) FilterPlugin {
		if l != LevelRoot {
			return nil
		}
		return CloudCluster{}
	})
}

var statusCloud = &Status{Code: Unschedulable, Plugin: "CloudCluster", Reason: "cloud cluster (excluded from automatic placement unless named)"}

// Name returns "CloudCluster".
func (CloudCluster) Name() string { return "CloudCluster" }

// Filter rejects a cloud cluster the request does not name.
func (CloudCluster) Filter(_ context.Context, r *Request, c *Candidate) *Status {
	if c.Labels[api.KubeCloudLabel] != "true" {
		return nil
	}
	for _, con := range r.Constraints {
		if (con.Type == ConstraintDirect && con.Cluster == c.Name) ||
			(con.Type == ConstraintClusters && slices.Contains(con.Allowed, c.Name)) {
			return nil
		}
	}
	return statusCloud
}

// RankScore scores candidates by their place in an order a policy computed
// over all of them beforehand (first = MaxScore, then one less each), so a
// policy whose measure has no natural 0..100 scale (max_replicas, a receive
// rate) still ranks exactly. Candidates not in Order score 0.
type RankScore struct {
	Policy string
	Order  []string // candidate IDs, best first
}

var _ ScorePlugin = (*RankScore)(nil)

// Name returns "RankScore(<policy>)".
func (p *RankScore) Name() string { return "RankScore(" + p.Policy + ")" }

// Score returns MaxScore minus the candidate's rank.
func (p *RankScore) Score(_ context.Context, _ *Request, c *Candidate) (int64, *Status) {
	i := slices.Index(p.Order, c.ID)
	if i < 0 {
		return 0, nil
	}
	return max(0, MaxScore-int64(i)), nil
}

// ClusterRoom is one cluster's measures for the replica policies.
type ClusterRoom struct {
	ID, Name     string
	MaxReplicas  int
	NetRxBytesPS float64
}

// RoomOrder orders clusters as a Smart Orchestrator policy prefers them:
// worst-fit most max_replicas first, best-fit fewest first, most-traffic
// (traffic-most) highest receive rate first. Ties go to more room, then to
// the name. An unknown policy is an error naming the known ones.
func RoomOrder(policy string, rooms []ClusterRoom) ([]ClusterRoom, error) {
	out := slices.Clone(rooms)
	var less func(a, b ClusterRoom) int
	switch policy {
	case PolicyWorstFit:
		less = func(a, b ClusterRoom) int { return cmpInt(b.MaxReplicas, a.MaxReplicas) }
	case PolicyBestFit:
		less = func(a, b ClusterRoom) int { return cmpInt(a.MaxReplicas, b.MaxReplicas) }
	case PolicyMostTraffic, PolicyTrafficMost:
		less = func(a, b ClusterRoom) int {
			switch {
			case a.NetRxBytesPS > b.NetRxBytesPS:
				return -1
			case a.NetRxBytesPS < b.NetRxBytesPS:
				return 1
			}
			return cmpInt(b.MaxReplicas, a.MaxReplicas)
		}
	default:
		return nil, fmt.Errorf("%w: unknown placement policy %q, want worst-fit, best-fit, most-traffic or traffic-most", ErrInvalidRequest, policy)
	}
	slices.SortStableFunc(out, func(a, b ClusterRoom) int {
		if c := less(a, b); c != 0 {
			return c
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out, nil
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// NewReplicaFramework returns a root-level framework that places a chart of
// replicas copies of a demand over clusters with the given rooms under
// policy: ready clusters only, the cloud cluster only when named, room for
// every replica, best rank wins.
func NewReplicaFramework(policy string, replicas int, rooms []ClusterRoom) (*Framework, error) {
	order, err := RoomOrder(policy, rooms)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(order))
	room := make(map[string]int, len(order))
	for i, r := range order {
		ids[i] = r.ID
		room[r.ID] = r.MaxReplicas
	}
	rank := &RankScore{Policy: policy, Order: ids}
	return New(LevelRoot, WithoutDefaults(),
		WithFilter(NodeReady{}), WithFilter(ClustersConstraint{Level: LevelRoot}), WithFilter(CloudCluster{}),
		WithFilter(&ReplicaRoom{Replicas: replicas, Room: room}),
		WithPolicy(policy, rank)), nil
}
