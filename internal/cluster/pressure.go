package cluster

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/pressure"
)

// This file connects the cluster's nodes to the pressure controller (FRACTAL's
// limit-then-taint): the nodes' reports are its source, and the cluster acts on
// its own nodes by tightening instance limits, keeping placements off, and
// moving instances to other nodes.

// nodeSource samples a node from its worker's last report.
type nodeSource struct{ c *Cluster }

var _ pressure.Source = nodeSource{}

// Sample returns the node's figures. A worker that offers only part of its
// machine (hedge worker --cpus / --memory-mb) is measured against that part,
// by its instances' cgroup usage: that share is what it can be pressed out of.
// A worker that offers the whole machine is measured by the host's figures,
// as FRACTAL measures a node.
func (s nodeSource) Sample(_ context.Context, name string) (pressure.Sample, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeByNameLocked(name)
	if n == nil {
		return pressure.Sample{}, fmt.Errorf("node %s is not known", name)
	}
	if n.info.State != api.NodeReady {
		return pressure.Sample{}, fmt.Errorf("node %s is not reporting", name)
	}
	m := n.info.Metrics
	smp := pressure.Sample{At: c.cfg.Now(), CPUPercent: m.CPUPercent, MemoryPercent: m.MemoryPercent, Load1: m.Load1, Cores: m.Cores}
	if m.DiskTotalMB > 0 {
		smp.DiskPercent = 100 * float64(m.DiskTotalMB-m.DiskFreeMB) / float64(m.DiskTotalMB)
	}
	if capCPU := n.info.Capacity.VCPUs; capCPU > 0 && capCPU < float64(m.Cores)-1e-9 {
		smp.CPUPercent = 100 * m.InstancesCPU / capCPU
	}
	if capMem := n.info.Capacity.MemoryMB; capMem > 0 && capMem < m.MemoryTotalMB {
		smp.MemoryPercent = 100 * float64(m.InstancesMemoryMB) / float64(capMem)
	}
	return smp, nil
}

// nodeActuator acts on one of the cluster's nodes.
type nodeActuator struct{ c *Cluster }

var _ pressure.Actuator = nodeActuator{}

// victimsLocked returns the node's instances that pressure control may touch,
// lowest priority first (then newest first).
func (c *Cluster) victimsLocked(n *node) []*inst {
	var out []*inst
	for id := range n.assigned {
		if in := c.insts[id]; in != nil && !in.A.Spec.PressureExempt {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].A.Spec.Priority != out[j].A.Spec.Priority {
			return out[i].A.Spec.Priority < out[j].A.Spec.Priority
		}
		return out[i].A.InstanceID > out[j].A.InstanceID
	})
	return out
}

// Limit tightens the node's lowest-priority instances, as FRACTAL's first
// level does (see tightened).
func (a nodeActuator) Limit(_ context.Context, name string) error {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeByNameLocked(name)
	if n == nil {
		return fmt.Errorf("node %s is not known", name)
	}
	victims := c.victimsLocked(n)
	if len(victims) == 0 {
		return nil
	}
	lowest := victims[0].A.Spec.Priority
	changed := false
	for _, in := range victims {
		if in.A.Spec.Priority != lowest || in.Limit != nil {
			continue
		}
		l := tightened(in.A.Spec.Demand(), in.Status.MemoryMB)
		in.Limit = &l
		changed = true
	}
	if changed {
		n.bumpLocked()
		c.persistLocked(victims)
	}
	return nil
}

// tightened is the limit of a limited instance: half its cpu (half a core
// when it has no cpu limit), and memory capped a little above what it uses
// now (a quarter more, at least 16 MB more), so that it cannot grow further
// but is not killed for what it already holds; never above its own limit.
// Without a usage figure the memory limit stays as it is.
func tightened(spec api.Resources, usedMB int64) api.Resources {
	l := spec
	l.VCPUs = 0.5
	if spec.VCPUs > 0 {
		l.VCPUs = spec.VCPUs / 2
	}
	if usedMB > 0 {
		capMB := usedMB + max(usedMB/4, 16)
		if spec.MemoryMB <= 0 || capMB < spec.MemoryMB {
			l.MemoryMB = capMB
		}
	}
	return l
}

// Taint keeps every new placement off the node.
func (a nodeActuator) Taint(_ context.Context, name string) error {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodeByNameLocked(name); n != nil {
		n.tainted = true
	}
	return nil
}

// Evict moves the node's lowest-priority instance to another node where it
// fits; "" when nothing is left to move.
func (a nodeActuator) Evict(_ context.Context, name string) (string, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeByNameLocked(name)
	if n == nil {
		return "", fmt.Errorf("node %s is not known", name)
	}
	victims := c.victimsLocked(n)
	if len(victims) == 0 {
		return "", nil
	}
	in := victims[0]
	in.Limit = nil
	c.unassignLocked(in, api.StateScheduled, "moved off node "+name+" under resource pressure")
	c.persistLocked([]*inst{in})
	c.trigger()
	c.notify()
	return in.A.InstanceID, nil
}

// Restore lifts the limits and the taint. Instances that were moved stay
// where they run now; any that found no other node are placed again.
func (a nodeActuator) Restore(_ context.Context, name string) error {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeByNameLocked(name)
	if n == nil {
		return nil
	}
	n.tainted = false
	var lifted []*inst
	for id := range n.assigned {
		if in := c.insts[id]; in != nil && in.Limit != nil {
			in.Limit = nil
			lifted = append(lifted, in)
		}
	}
	if len(lifted) > 0 {
		n.bumpLocked()
		c.persistLocked(lifted)
	}
	c.trigger()
	return nil
}

// RestorePending implements pressure.RestorePender: limits are kept with
// the instances in the store, so after a restart of the cluster a node whose
// instances are still limited is restored once it is seen normal.
func (a nodeActuator) RestorePending(name string) bool {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeByNameLocked(name)
	if n == nil {
		return false
	}
	for _, in := range c.insts {
		if in.NodeID == n.info.ID && in.Limit != nil {
			return true
		}
	}
	return false
}

func (c *Cluster) nodeByNameLocked(name string) *node {
	for _, n := range c.nodes {
		if n.info.Name == name {
			return n
		}
	}
	return nil
}

// watchPressure puts a node under the pressure controller.
func (c *Cluster) watchPressure(name string) {
	if c.pressure != nil {
		c.pressure.Watch(pressure.Target{Node: name, Source: nodeSource{c}, Actuator: nodeActuator{c}})
	}
}

// pressureView returns the nodes' pressure levels and the recent events; it
// must be called without c.mu held.
func (c *Cluster) pressureView() (map[string]pressure.Level, []api.Event) {
	if c.pressure == nil {
		return nil, nil
	}
	out := pressure.APIEvents(c.pressure.Events(time.Time{}), c.cfg.Name)
	return c.pressure.Levels(), out
}
