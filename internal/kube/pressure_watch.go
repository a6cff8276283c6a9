package kube

import (
	"context"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/metrics/glances"
	"github.com/hedgeorch/hedge/internal/pressure"
)

// This file puts the nodes of a Kubernetes cluster under the pressure
// controller, as FRACTAL did: each node is read through the Glances API of
// the monitoring that runs on it (FRACTAL runs Glances as a DaemonSet with
// the host network), and acted on through KubeActuator.

// AnnotationGlancesURL on a node names its Glances API when it is not at the
// node's InternalIP on GlancesPort (a Glances behind a Service, a proxy).
const AnnotationGlancesURL = "hedge.io/glances-url"

// GlancesPort is where the Glances of a node answers by default.
const GlancesPort = 61208

// PressureConfig turns on pressure control of Kubernetes nodes.
type PressureConfig struct {
	Policy pressure.Policy
	// Interval between samples; pressure.DefaultInterval when zero.
	Interval time.Duration
	// GlancesURLs are Glances APIs by node name (a FRACTAL nodes file's
	// entries with orchestrator: kubernetes); they win over the node's
	// annotation and its InternalIP.
	GlancesURLs map[string]string
	// Token is sent to Glances APIs that are Hedge exporters.
	Token string
}

// glancesURL returns where node's Glances answers, "" if nowhere known, and
// whether the metrics token may go there: not to a URL taken from a node
// annotation, which whoever may annotate the node (its kubelet too) could
// point anywhere.
func (p *PressureConfig) glancesURL(n *corev1.Node) (url string, sendToken bool) {
	if u := p.GlancesURLs[n.Name]; u != "" {
		return u, true
	}
	if u := n.Annotations[AnnotationGlancesURL]; u != "" {
		return u, false
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && a.Address != "" {
			return "http://" + net.JoinHostPort(a.Address, strconv.Itoa(GlancesPort)), true
		}
	}
	return "", false
}

// runPressure samples c's nodes and acts on them until ctx ends. The
// watched set follows the cluster's nodes, re-read every interval.
func (m *Manager) runPressure(ctx context.Context, c *kcluster) {
	cfg := m.cfg.Pressure
	log := m.log.With("cluster", c.rec.Name, "component", "pressure")
	interval := cfg.Interval
	if interval <= 0 {
		interval = pressure.DefaultInterval
	}
	pc := pressure.NewController(cfg.Policy, pressure.WithLogger(log), pressure.WithNow(m.cfg.Now), pressure.WithInterval(interval))
	c.mu.Lock()
	c.pressure = pc
	c.mu.Unlock()
	act := NewActuator(c.cs, log)
	urls := map[string]string{}
	follow := func() { // the watched set follows the cluster's nodes
		nodes, err := c.peer.listNodes()
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range nodes {
			seen[n.Name] = true
			u, trusted := cfg.glancesURL(n)
			if u == "" || urls[n.Name] == u {
				continue
			}
			urls[n.Name] = u
			client := &glances.Client{BaseURL: u}
			if trusted {
				client.Token = cfg.Token
			}
			pc.Watch(pressure.Target{Node: n.Name, Actuator: act, Source: pressure.GlancesSource{Client: client}})
		}
		for name := range urls {
			if !seen[name] {
				delete(urls, name)
				pc.Unwatch(name)
			}
		}
	}
	done := make(chan struct{})
	go func() { defer close(done); pc.Run(ctx) }()
	defer func() { <-done }()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		follow()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pressureView returns the levels of c's nodes and their recent events, for
// the report to the root; nil when pressure control is off.
func (c *kcluster) pressureView() (map[string]pressure.Level, []api.Event) {
	c.mu.Lock()
	pc := c.pressure
	c.mu.Unlock()
	if pc == nil {
		return nil, nil
	}
	return pc.Levels(), pressure.APIEvents(pc.Events(time.Time{}), c.rec.Name)
}

// listNodes returns the cluster's nodes from the informer cache.
func (w *workloads) listNodes() ([]*corev1.Node, error) {
	w.mu.Lock()
	nl := w.nodes
	w.mu.Unlock()
	if nl == nil {
		return nil, nil
	}
	return nl.List(labels.Everything())
}
