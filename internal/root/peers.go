package root

import (
	"fmt"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file is the deletion of peers: clusters (whose credentials the root
// holds) and worker nodes (whose credentials their cluster holds, so the
// root sends the order down with the cluster's desired set).

// DeleteCluster deletes a cluster by id or name: its credential is revoked
// at once, it is forgotten, and its instances are placed on other clusters.
func (r *Root) DeleteCluster(idOrName string) (api.Cluster, error) {
	r.mu.Lock()
	var found *cluster
	for id, c := range r.clusters {
		if id == idOrName || c.info.Name == idOrName {
			found = c
		}
	}
	r.mu.Unlock()
	if found == nil {
		return api.Cluster{}, fmt.Errorf("%w: cluster %s", ErrNotFound, idOrName)
	}
	if isKube(found.info.Labels) {
		return api.Cluster{}, fmt.Errorf("%w: id: %s is a Kubernetes cluster: delete it with DELETE /api/k8sclusters/%s (hedge kube cluster delete)", ErrInvalid, idOrName, idOrName)
	}
	if _, err := r.roster.Remove(found.info.ID, "deleted by an operator"); err != nil {
		return api.Cluster{}, err
	}
	return found.info, nil
}

// DeleteNode deletes a worker node by id or name. The order is stored and
// reaches the node's cluster with its desired set, at once while the
// cluster is connected: the cluster revokes the worker's credential, forgets
// it and places its instances on its other nodes. The node leaves the
// root's listings at once.
func (r *Root) DeleteNode(idOrName string) (api.Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c *cluster
	at := -1
	for _, cl := range r.clusters {
		for i := range cl.nodes {
			if cl.nodes[i].ID == idOrName || cl.nodes[i].Name == idOrName {
				c, at = cl, i
			}
		}
	}
	if c == nil {
		return api.Node{}, fmt.Errorf("%w: node %s", ErrNotFound, idOrName)
	}
	if isKube(c.info.Labels) {
		return api.Node{}, fmt.Errorf("%w: id: %s is a node of the Kubernetes cluster %s: remove it there (kubectl delete node)", ErrInvalid, idOrName, c.info.Name)
	}
	n := c.nodes[at]
	nc := nodeControl{ClusterID: c.info.ID, NodeControl: link.NodeControl{Cordoned: true, Deleted: true}}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketNodeCtl, n.ID, nc) }); err != nil {
		return api.Node{}, fmt.Errorf("store: %w", err)
	}
	r.nodeCtl[n.ID] = nc
	c.nodes = append(c.nodes[:at:at], c.nodes[at+1:]...)
	c.bumpLocked()
	r.log.Info("node deleted", "node_id", n.ID, "node", n.Name, "cluster", c.info.Name)
	return n, nil
}

// reportedNodesLocked keeps the nodes a cluster reports, except those
// deleted, and drops the deletion orders its cluster has carried out (the
// node is no longer in its report). r.mu held.
func (r *Root) reportedNodesLocked(clusterID string, nodes []api.Node) []api.Node {
	listed := make(map[string]bool, len(nodes))
	out := nodes[:0:0]
	for _, n := range nodes {
		listed[n.ID] = true
		if nc, ok := r.nodeCtl[n.ID]; ok && nc.Deleted {
			continue
		}
		out = append(out, n)
	}
	var done []string
	for id, nc := range r.nodeCtl {
		if nc.ClusterID == clusterID && nc.Deleted && !listed[id] {
			done = append(done, id)
		}
	}
	if len(done) == 0 {
		return out
	}
	err := r.cfg.Store.Update(func(tx store.Tx) error {
		for _, id := range done {
			if err := tx.Delete(bucketNodeCtl, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.log.Error("drop carried-out node deletions", "cluster_id", clusterID, "err", err)
		return out
	}
	for _, id := range done {
		delete(r.nodeCtl, id)
	}
	return out
}

// isKube reports whether a cluster is a Kubernetes cluster (hedge-kube
// labels them): its peers are not Hedge's to delete.
func isKube(labels map[string]string) bool {
	return labels[api.KubeClusterKindLabel] == api.KubeClusterKind
}
