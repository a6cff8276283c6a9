package root

import (
	"context"
	"fmt"
	"sort"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/pki"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file is the root's side of the link that clusters dial.

// Join admits a cluster that presents a cluster join token (see
// roster.Join: a live cluster's name is refused).
func (r *Root) Join(ctx context.Context, req link.JoinRequest) (link.JoinResponse, error) {
	return r.roster.Join(ctx, req)
}

// Authenticate implements link.Upper.
func (r *Root) Authenticate(bearer string) (string, error) { return r.roster.Authenticate(bearer) }

// Report takes a cluster's aggregate, nodes and instance states. Statuses of
// instances the root has since moved to another cluster are ignored (fencing).
func (r *Root) Report(ctx context.Context, peer string, rep *link.Report) error {
	if rep.Cluster == nil {
		return fmt.Errorf("%w: cluster: required in a cluster report", link.ErrInvalid)
	}
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.clusters[peer]
	if !ok {
		return fmt.Errorf("%w: cluster %s is not registered", link.ErrUnauthorized, peer)
	}
	wasReady := c.info.State == api.NodeReady
	agg := rep.Cluster.Aggregate
	agg.ID, agg.Name, agg.Labels, agg.Reserved = c.info.ID, c.info.Name, c.info.Labels, c.info.Reserved
	agg.State, agg.LastSeen = api.NodeReady, now
	capChanged := agg.Capacity != c.info.Capacity || agg.MaxNodeFree != c.info.MaxNodeFree || fmt.Sprint(agg.Runtimes) != fmt.Sprint(c.info.Runtimes)
	c.info = agg
	netBefore := nodesNetKey(c.nodes)
	c.nodes = r.reportedNodesLocked(peer, rep.Cluster.Nodes)
	c.events = rep.Cluster.Events
	for i := range c.nodes {
		c.nodes[i].ClusterID, c.nodes[i].ClusterName = c.info.ID, c.info.Name
	}
	if !wasReady {
		r.log.Info("cluster ready", "cluster_id", peer, "cluster", c.info.Name)
	}
	var changed []*instance
	insts := rep.Instances
	if rep.Unchanged != "" {
		// The same statuses and figures as the last report: nothing to
		// compare, and no new usage sample. A cluster of 100,000
		// instances cost the root a fifth of a core a second here.
		insts = nil
	}
	for _, st := range insts {
		in, ok := r.insts[st.InstanceID]
		if !ok || in.ClusterID != peer || st.Generation != in.Generation {
			continue
		}
		if st.State == api.StateUndeployed {
			continue
		}
		r.recordUsageLocked(in.ID, now, st.CPU, st.MemoryMB)
		if differs(in.Status, st) {
			in.Status = st
			in.UpdatedAt = now
			changed = append(changed, in)
		} else {
			// Usage changes on every report: kept fresh, not persisted.
			in.Status.CPU, in.Status.MemoryMB, in.Status.Limited = st.CPU, st.MemoryMB, st.Limited
		}
	}
	r.persistInstancesLocked(changed)
	if len(changed) > 0 || nodesNetKey(c.nodes) != netBefore {
		// Rebuilt by the placement loop's pass this kicks, so that a burst
		// of reports rebuilds the map once.
		r.markNetLocked()
	}
	if !wasReady || capChanged {
		r.trigger()
	}
	return nil
}

// differs reports whether a status change is worth storing.
func differs(a, b link.InstanceStatus) bool {
	if a.State != b.State || a.Reason != b.Reason || a.Restarts != b.Restarts || a.PID != b.PID || a.NodeID != b.NodeID || a.IP != b.IP {
		return true
	}
	if (a.ExitCode == nil) != (b.ExitCode == nil) || (a.ExitCode != nil && *a.ExitCode != *b.ExitCode) {
		return true
	}
	return (a.StartedAt == nil) != (b.StartedAt == nil) || (a.StartedAt != nil && !a.StartedAt.Equal(*b.StartedAt))
}

// Assignments implements link.Upper: the instances placed on the cluster, and
// the operators' orders for its nodes.
func (r *Root) Assignments(peer string) (*link.Assignments, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.clusters[peer]
	if !ok {
		return &link.Assignments{}, make(chan struct{})
	}
	rev, wake := c.desired.Revision()
	out := &link.Assignments{Revision: rev, Items: make([]link.Assignment, 0, len(c.assigned))}
	for id := range c.assigned {
		in := r.insts[id]
		s := r.svcs[in.ServiceID]
		if s == nil {
			continue
		}
		out.Items = append(out.Items, link.Assignment{
			InstanceID: in.ID, ServiceID: s.ID, AppName: s.AppName, Number: in.Number,
			Generation: in.Generation, Spec: r.resolveLatencyLocked(s.Spec),
		})
	}
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].InstanceID < out.Items[j].InstanceID })
	for id, nc := range r.nodeCtl {
		if nc.ClusterID == peer {
			if out.Nodes == nil {
				out.Nodes = map[string]link.NodeControl{}
			}
			out.Nodes[id] = nc.NodeControl
		}
	}
	return out, wake
}

// CheckWorkerToken implements link.TokenChecker: a cluster asks whether a
// worker may join it with a worker join token, and with c.Use counts a use.
// The token's scope is checked against the asking cluster's name.
func (r *Root) CheckWorkerToken(_ context.Context, peer string, c link.TokenCheck) error {
	r.mu.Lock()
	cl, ok := r.clusters[peer]
	var name string
	if ok {
		name = cl.info.Name
	}
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: cluster %s is not registered", link.ErrUnauthorized, peer)
	}
	check := r.cfg.Auth.CheckJoinTokenAt
	if c.Use {
		check = r.cfg.Auth.UseJoinToken
	}
	if err := check(auth.JoinKindWorker, c.Token, name); err != nil {
		return fmt.Errorf("%w: %v", link.ErrUnauthorized, err)
	}
	return nil
}

// forgetClusterLocked is the roster's Forget: the instances of a cluster
// that was deleted (or replaced by a new cluster of its name) are placed
// again on other clusters, and the orders for its nodes are dropped. The
// cluster's open long-poll wakes and finds it gone. r.mu held.
func (r *Root) forgetClusterLocked(id string, c *cluster) {
	var moved []*instance
	for iid := range c.assigned {
		in := r.insts[iid]
		r.unassignLocked(in, api.StateRequested, "cluster "+c.info.Name+" was removed")
		moved = append(moved, in)
	}
	var orders []string
	for nid, nc := range r.nodeCtl {
		if nc.ClusterID == id {
			orders = append(orders, nid)
			delete(r.nodeCtl, nid)
		}
	}
	if len(orders) > 0 {
		err := r.cfg.Store.Update(func(tx store.Tx) error {
			for _, nid := range orders {
				if err := tx.Delete(bucketNodeCtl, nid); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			r.log.Error("drop node orders of a removed cluster", "cluster_id", id, "err", err)
		}
	}
	c.bumpLocked()
	r.persistInstancesLocked(moved)
	r.releaseClusterRangeLocked(id)
	r.trigger()
}

// SignCertificate implements link.Signer: a cluster gets one certificate,
// at its join and when it renews, that it serves to its workers and
// presents to the root as its client certificate. It names only
// pki.ClusterName whatever the cluster asks for, so that it can never pose
// as the root, and the cluster's id (hedge://cluster/<id>).
func (r *Root) SignCertificate(_ context.Context, peer string, csrPEM []byte) ([]byte, error) {
	if r.cfg.CA == nil {
		return nil, fmt.Errorf("%w: this root has no CA (it serves plain HTTP)", link.ErrInvalid)
	}
	return r.cfg.CA.SignPeer(csrPEM, pki.KindCluster, peer, []string{pki.ClusterName})
}

// SignNodeCertificate implements link.NodeSigner: the client certificate of
// a worker, which its cluster asks for when the worker joins or renews. It
// names the node only and serves nothing, so it cannot pass as a cluster
// (link servers check the kind) nor serve TLS.
func (r *Root) SignNodeCertificate(_ context.Context, clusterID, nodeID string, csrPEM []byte) ([]byte, error) {
	if r.cfg.CA == nil {
		return nil, fmt.Errorf("%w: this root has no CA (it serves plain HTTP)", link.ErrInvalid)
	}
	r.log.Info("signing a worker's client certificate", "cluster_id", clusterID, "node_id", nodeID)
	return r.cfg.CA.SignPeer(csrPEM, pki.KindNode, nodeID, nil)
}

// PeerKind implements link.PeerKind: the root's peers are clusters.
func (r *Root) PeerKind() string { return pki.KindCluster }
