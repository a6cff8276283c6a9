package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/pki"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file is the cluster's two link roles: the upper tier of its workers
// (Join, Authenticate, Report, Assignments) and a peer of the root (Apply,
// Snapshot, Changed, Handle).

// Join admits a worker that presents a worker join token: one given to this
// cluster directly, or one the root accepts when asked (each join asks; a
// use is counted at the root). A name held by a live node is refused
// (409); a dead node's name is given to the new worker with a new identity.
func (c *Cluster) Join(ctx context.Context, req link.JoinRequest) (link.JoinResponse, error) {
	return c.roster.Join(ctx, req)
}

// SignCertificate implements link.Signer for the cluster's workers: their
// client certificate, at the join and when they renew it, is signed by the
// root (the CA's key never leaves it), which names the node. A root that
// cannot be reached gives link.ErrNotReady, so the worker retries.
func (c *Cluster) SignCertificate(ctx context.Context, nodeID string, csrPEM []byte) ([]byte, error) {
	nc, ok := c.cfg.Root.(NodeCertifier)
	if !ok {
		return nil, fmt.Errorf("%w: this cluster has no root to sign certificates", link.ErrNotFound)
	}
	chain, err := nc.NodeCertificate(ctx, nodeID, csrPEM)
	switch {
	case err == nil:
		return chain, nil
	case errors.Is(err, link.ErrInvalid):
		return nil, fmt.Errorf("%w: the root refused the certificate request: %v", link.ErrInvalid, err)
	}
	c.log.Warn("cannot have the root sign a worker's certificate", "node_id", nodeID, "err", err)
	return nil, fmt.Errorf("%w: cannot reach the root to sign the certificate; retry", link.ErrNotReady)
}

// PeerKind implements link.PeerKind: a cluster's peers are workers.
func (c *Cluster) PeerKind() string { return pki.KindNode }

// admit is the roster's Admit: local tokens are checked here, any other
// token is asked about at the root. A root that cannot be reached gives
// link.ErrNotReady, so the worker retries; nothing is admitted offline.
func (c *Cluster) admit(ctx context.Context, token, name string, use bool) error {
	if c.localTokens[auth.HashToken(token)] {
		return nil
	}
	if c.cfg.Root == nil {
		return fmt.Errorf("%w: unknown worker join token", link.ErrUnauthorized)
	}
	err := c.cfg.Root.CheckWorkerToken(ctx, link.TokenCheck{Token: token, Name: name, Use: use})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, link.ErrUnauthorized):
		return fmt.Errorf("%w: worker join token refused by the root", link.ErrUnauthorized)
	}
	c.log.Warn("cannot check a worker join token with the root", "node", name, "err", err)
	return fmt.Errorf("%w: cannot reach the root to check the worker join token; retry", link.ErrNotReady)
}

// forgetNodeLocked is the roster's Forget: the instances of a node that was
// deleted (or replaced by a new worker of its name) are placed on other
// nodes. Its worker's open long-poll wakes and finds it gone. c.mu held.
func (c *Cluster) forgetNodeLocked(id string, n *node) {
	if _, ok := c.net.subnets[id]; ok {
		c.releaseSubnetsLocked([]string{id})
	}
	var moved []*inst
	for iid := range n.assigned {
		in := c.insts[iid]
		c.unassignLocked(in, api.StateScheduled, "node "+n.info.Name+" was removed")
		moved = append(moved, in)
	}
	n.bumpLocked()
	c.persistLocked(moved)
	c.trigger()
	c.notify()
}

// deleteNodes carries out the root's deletion orders: each node's
// credential is revoked, its record dropped, its instances moved. c.mu must
// not be held.
func (c *Cluster) deleteNodes(nodes map[string]link.NodeControl) error {
	for id, ctl := range nodes {
		if !ctl.Deleted {
			continue
		}
		c.mu.Lock()
		n, ok := c.nodes[id]
		c.mu.Unlock()
		if !ok {
			continue
		}
		if _, err := c.roster.Remove(id, "deleted by an operator"); err != nil {
			return err
		}
		if c.pressure != nil {
			c.pressure.Unwatch(n.info.Name)
		}
	}
	return nil
}

// Revoked implements link.Revoker: the root deleted this cluster (its
// instances were placed elsewhere), so every instance is taken off its
// node and the workers stop them.
func (c *Cluster) Revoked(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var del []string
	for id, in := range c.insts {
		c.unassignLocked(in, api.StateUndeployed, "")
		delete(c.insts, id)
		del = append(del, id)
	}
	err := c.cfg.Store.Update(func(tx store.Tx) error {
		for _, id := range del {
			if err := tx.Delete(bucketInstances, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.log.Error("drop instances after the root revoked this cluster", "err", err)
	}
	c.log.Error("the root refused this cluster's credential: stopped all instances", "instances", len(del))
	c.notify()
}

// Authenticate implements link.Upper.
func (c *Cluster) Authenticate(bearer string) (string, error) { return c.roster.Authenticate(bearer) }

// Report takes a worker's state. Statuses of instances the cluster has since
// moved to another node are ignored: that is what fences a worker that comes
// back from a partition. So are statuses of an older generation than the one
// assigned, which the worker may still run until it has the new desired set:
// passed on, they would be taken as the state of the new generation.
func (c *Cluster) Report(ctx context.Context, peer string, r *link.Report) error {
	if r.Node == nil {
		return fmt.Errorf("%w: node: required in a worker report", link.ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[peer]
	if !ok {
		return fmt.Errorf("%w: node %s is not registered", link.ErrUnauthorized, peer)
	}
	wasReady := n.info.State == api.NodeReady
	capacityChanged := n.info.Capacity != r.Node.Capacity || !slices.Equal(n.info.Runtimes, r.Node.Runtimes)
	n.info.Arch, n.info.Runtimes, n.info.Capacity, n.info.Metrics = r.Node.Arch, r.Node.Runtimes, r.Node.Capacity, r.Node.Metrics
	if len(r.Node.Labels) > 0 {
		n.info.Labels = r.Node.Labels
	}
	n.info.LastSeen = c.cfg.Now()
	n.info.State = api.NodeReady
	changed := !wasReady || capacityChanged
	var endpoint, key string
	if t := r.Node.Tunnel; t != nil {
		endpoint, key = t.Endpoint, t.PublicKey
	}
	if endpoint != n.info.TunnelEndpoint || key != n.info.TunnelPublicKey {
		n.info.TunnelEndpoint, n.info.TunnelPublicKey = endpoint, key
		c.notify() // the root's map follows at once
	}
	if !wasReady {
		c.log.Info("node ready", "node_id", peer, "node", n.info.Name)
	}
	running := 0
	for _, st := range r.Instances {
		in, ok := c.insts[st.InstanceID]
		if !ok || in.NodeID != peer || st.Generation != in.A.Generation {
			continue
		}
		st.NodeID, st.NodeName = peer, n.info.Name
		if st.State == api.StateRunning {
			running++
		}
		if in.Status != st {
			if in.Status.State != st.State || in.Status.Reason != st.Reason || in.Status.IP != st.IP {
				changed = true
			}
			in.Status = st
		}
	}
	n.info.Instances = len(n.assigned)
	if changed {
		c.notify()
		c.trigger()
	}
	return nil
}

// Assignments implements link.Upper.
func (c *Cluster) Assignments(peer string) (*link.Assignments, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[peer]
	if !ok {
		return &link.Assignments{}, make(chan struct{})
	}
	rev, wake := n.desired.Revision()
	out := &link.Assignments{Revision: rev, Items: make([]link.Assignment, 0, len(n.assigned))}
	for id := range n.assigned {
		in := c.insts[id]
		a := in.A
		a.Limit = in.Limit
		out.Items = append(out.Items, a)
	}
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].InstanceID < out.Items[j].InstanceID })
	return out, wake
}

// Apply takes the root's desired set for this cluster: new instances are
// placed, removed ones are taken off their nodes.
func (c *Cluster) Apply(ctx context.Context, a *link.Assignments) error {
	if err := c.deleteNodes(a.Nodes); err != nil {
		return fmt.Errorf("delete nodes: %w", err)
	}
	want := make(map[string]link.Assignment, len(a.Items))
	for _, it := range a.Items {
		want[it.InstanceID] = it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var put []*inst
	var del []string
	for id, in := range c.insts {
		if w, ok := want[id]; !ok || w.Generation != in.A.Generation {
			c.unassignLocked(in, api.StateUndeployed, "")
			delete(c.insts, id)
			del = append(del, id)
		}
	}
	for id, it := range want {
		if _, ok := c.insts[id]; ok {
			continue
		}
		in := &inst{A: it, Status: link.InstanceStatus{InstanceID: id, Generation: it.Generation, State: api.StateScheduled}}
		c.insts[id] = in
		put = append(put, in)
	}
	var nodeRecs []nodeRecord
	for id, n := range c.nodes {
		ctl := a.Nodes[id]
		if n.info.Cordoned != ctl.Cordoned {
			n.info.Cordoned = ctl.Cordoned
			nodeRecs = append(nodeRecs, nodeRecord{ID: id, Name: n.info.Name, Labels: n.info.Labels, Cordoned: ctl.Cordoned})
			c.log.Info("node cordon changed", "node_id", id, "node", n.info.Name, "cordoned", ctl.Cordoned)
		}
		if ctl.Drained && len(n.assigned) > 0 {
			c.log.Info("draining node", "node_id", id, "node", n.info.Name, "instances", len(n.assigned))
			for iid := range n.assigned {
				in := c.insts[iid]
				c.unassignLocked(in, api.StateScheduled, "moving off drained node "+n.info.Name)
				put = append(put, in)
			}
		}
	}
	// One transaction, or several of store.WritesPerTx when a desired set
	// adds or drops thousands of instances at once.
	var writes []func(store.Tx) error
	for _, r := range nodeRecs {
		writes = append(writes, func(tx store.Tx) error { return tx.Put(bucketNodes, r.ID, r) })
	}
	for _, id := range del {
		writes = append(writes, func(tx store.Tx) error { return tx.Delete(bucketInstances, id) })
	}
	for _, in := range put {
		writes = append(writes, func(tx store.Tx) error { return tx.Put(bucketInstances, in.A.InstanceID, in) })
	}
	err := store.UpdateEach(c.cfg.Store, writes, func(tx store.Tx, w func(store.Tx) error) error { return w(tx) })
	if err != nil {
		return fmt.Errorf("persist assignments: %w", err)
	}
	if len(put) > 0 || len(del) > 0 || len(nodeRecs) > 0 {
		c.trigger()
		c.notify()
	}
	return nil
}

// Changed implements link.Peer.
func (c *Cluster) Changed() <-chan struct{} { return c.changed }

// Snapshot reports the cluster's aggregate, its nodes and its instances.
func (c *Cluster) Snapshot(ctx context.Context) *link.Report {
	levels, events := c.pressureView()
	c.mu.Lock()
	defer c.mu.Unlock()
	agg := api.Cluster{Name: c.cfg.Name, State: api.NodeReady}
	var nodes []api.Node
	archs, runtimes := map[string]bool{}, map[string]bool{}
	for _, n := range c.nodes {
		n.info.Instances = len(n.assigned)
		if lvl, ok := levels[n.info.Name]; ok {
			n.info.Pressure = lvl.String()
		}
		nodes = append(nodes, n.info)
		if n.info.State != api.NodeReady {
			continue
		}
		agg.ActiveNodes++
		agg.Capacity = agg.Capacity.Add(n.info.Capacity)
		agg.CPUPercent += n.info.Metrics.CPUPercent
		agg.MemoryPercent += n.info.Metrics.MemoryPercent
		if n.info.Cordoned {
			continue
		}
		free := n.info.Capacity.Sub(n.info.Reserved)
		agg.MaxNodeFree.VCPUs = max(agg.MaxNodeFree.VCPUs, free.VCPUs)
		agg.MaxNodeFree.MemoryMB = max(agg.MaxNodeFree.MemoryMB, free.MemoryMB)
		archs[n.info.Arch] = true
		for _, r := range n.info.Runtimes {
			runtimes[r] = true
		}
	}
	if agg.ActiveNodes > 0 {
		agg.CPUPercent /= float64(agg.ActiveNodes)
		agg.MemoryPercent /= float64(agg.ActiveNodes)
	}
	agg.Arch, agg.Runtimes = keys(archs), keys(runtimes)
	agg.Instances = len(c.insts)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	rep := &link.Report{Cluster: &link.ClusterReport{Name: c.cfg.Name, Aggregate: agg, Nodes: nodes, Events: events}}
	rep.Instances = make([]link.InstanceStatus, 0, len(c.insts))
	for _, in := range c.insts {
		st := in.Status
		st.InstanceID, st.Generation = in.A.InstanceID, in.A.Generation
		if n := c.nodes[in.NodeID]; n != nil {
			st.NodeID, st.NodeName = n.info.ID, n.info.Name
		}
		rep.Instances = append(rep.Instances, st)
	}
	sort.Slice(rep.Instances, func(i, j int) bool { return rep.Instances[i].InstanceID < rep.Instances[j].InstanceID })
	return rep
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Handle relays a request from the root (logs) to the worker running the
// instance.
func (c *Cluster) Handle(ctx context.Context, r link.Request) link.Response {
	c.mu.Lock()
	var nodeID string
	if in, ok := c.insts[r.InstanceID]; ok {
		nodeID = in.NodeID
	}
	c.mu.Unlock()
	if nodeID == "" {
		return link.Response{Error: "instance " + r.InstanceID + " is not on any node of this cluster", NotFound: true}
	}
	resp, err := c.server.Call(ctx, nodeID, r)
	if err != nil {
		if errors.Is(err, link.ErrNoPeer) {
			return link.Response{Error: "the worker running the instance did not answer: " + err.Error()}
		}
		return link.Response{Error: err.Error()}
	}
	return resp
}
