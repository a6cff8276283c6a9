package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/hedgeorch/hedge/internal/ipam"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/roster"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file is the cluster's share of the instance network
// (docs/networking.md): it follows the root's map, hands each of its
// workers a subnet of the range the root gave it, and serves the map on to
// its workers with their own subnets (GET /link/v1/netmap).

// Network state in the cluster's store.
const (
	bucketSubnets = "worker_subnets"
	// keyNetMap (in bucketMeta) is the root's last map, served to the
	// workers after a restart while the root is away.
	keyNetMap = "netmap"
)

// netState is the cluster's network state, guarded by Cluster.mu.
type netState struct {
	// root is the root's last map (Self: this cluster), nil before the
	// first one.
	root *netmap.Map
	// subnets is each worker's subnet, by node id.
	subnets map[string]string
	desired roster.Desired
}

// loadNetwork reads the last map and the workers' subnets. Called from New
// inside its read transaction.
func (c *Cluster) loadNetwork(tx store.Tx) error {
	c.net = netState{subnets: map[string]string{}, desired: roster.NewDesired(c.epoch)}
	var m netmap.Map
	switch err := tx.Get(bucketMeta, keyNetMap, &m); {
	case err == nil:
		c.net.root = &m
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	err := tx.List(bucketSubnets, func(id string, raw []byte) error {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		c.net.subnets[id] = s
		if n := c.nodes[id]; n != nil {
			n.info.Subnet = s
		}
		return nil
	})
	return err
}

var (
	_ link.NetPeer   = (*Cluster)(nil)
	_ link.NetMapper = (*Cluster)(nil)
)

// FollowsNetMap implements link.NetPeer: a cluster always follows the
// root's map (one long-poll), to hand out its workers' subnets.
func (c *Cluster) FollowsNetMap() bool { return true }

// ApplyNetMap implements link.NetPeer: the root's new map. When the root
// gives the cluster another range than before, every worker gets a new
// subnet from it (when it next asks). Subnets are handed out to the
// workers that ask for the map, that is those with an instance network.
func (c *Cluster) ApplyNetMap(_ context.Context, m *netmap.Map) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketMeta, keyNetMap, m) }); err != nil {
		return fmt.Errorf("store the instance network's map: %w", err)
	}
	if old := c.net.root; old != nil && old.Self.Range != m.Self.Range && len(c.net.subnets) > 0 {
		c.log.Warn("the root gave this cluster another range of the instance network: every worker gets a new subnet",
			"old_range", old.Self.Range, "range", m.Self.Range)
		c.releaseSubnetsLocked(nil)
	}
	c.net.root = m
	c.net.desired.Bump()
	return nil
}

// subnetLocked returns the worker's subnet, handing it the first free one
// of the cluster's range if it has none yet; "" while the cluster has no
// range (or none is left: logged). c.mu held.
func (c *Cluster) subnetLocked(id string) string {
	if s, ok := c.net.subnets[id]; ok {
		return s
	}
	n := c.nodes[id]
	if n == nil || c.net.root == nil || c.net.root.Self.Range == "" {
		return ""
	}
	rng, err := netip.ParsePrefix(c.net.root.Self.Range)
	if err != nil {
		c.log.Error("the root's range for this cluster is not a CIDR", "range", c.net.root.Self.Range)
		return ""
	}
	bits := c.net.root.WorkerPrefix
	if bits == 0 {
		bits = netmap.DefaultWorkerBits
	}
	used := make([]netip.Prefix, 0, len(c.net.subnets))
	for _, s := range c.net.subnets {
		if p, err := netip.ParsePrefix(s); err == nil {
			used = append(used, p)
		}
	}
	p, err := ipam.NextSubnet(rng, bits, used)
	if err != nil {
		c.log.Error("no subnet of the instance network left for a worker", "node_id", id, "node", n.info.Name, "err", err)
		return ""
	}
	if err := c.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketSubnets, id, p.String()) }); err != nil {
		c.log.Error("store a worker's subnet", "node_id", id, "err", err)
		return ""
	}
	c.net.subnets[id] = p.String()
	n.info.Subnet = p.String()
	c.log.Info("worker given a subnet of the instance network", "node_id", id, "node", n.info.Name, "subnet", p.String())
	return p.String()
}

// releaseSubnetsLocked frees the subnets of the nodes ids (all when nil).
// c.mu held.
func (c *Cluster) releaseSubnetsLocked(ids []string) {
	if ids == nil {
		for id := range c.net.subnets {
			ids = append(ids, id)
		}
	}
	err := c.cfg.Store.Update(func(tx store.Tx) error {
		for _, id := range ids {
			if err := tx.Delete(bucketSubnets, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.log.Error("release workers' subnets", "err", err)
		return
	}
	for _, id := range ids {
		delete(c.net.subnets, id)
		if n := c.nodes[id]; n != nil {
			n.info.Subnet = ""
		}
	}
	c.net.desired.Bump()
}

// NetMap implements link.NetMapper: the root's map as a worker sees it,
// with its subnet (handed out on its first ask). Before the cluster has
// any map from the root it answers revision 0, which a worker's long-poll
// waits on.
func (c *Cluster) NetMap(peer string) (*netmap.Map, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rev, wake := c.net.desired.Revision()
	if c.net.root == nil {
		return &netmap.Map{Self: netmap.Self{ID: peer}}, wake
	}
	m := *c.net.root
	m.Revision = rev
	m.Self = netmap.Self{ID: peer}
	if _, ok := c.nodes[peer]; ok {
		before := len(c.net.subnets)
		m.Self.Subnet = c.subnetLocked(peer)
		if len(c.net.subnets) != before {
			c.notify()
		}
	}
	return &m, wake
}
