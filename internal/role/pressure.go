package role

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hedgeorch/hedge/internal/metrics/glances"
	"github.com/hedgeorch/hedge/internal/pressure"
	"github.com/hedgeorch/hedge/internal/root"
)

// PressureConfig turns on resource-pressure control in a cluster.
type PressureConfig struct {
	Enabled  bool
	Policy   pressure.Policy
	Interval time.Duration
	// PolicyFile holds per-node thresholds (see pressure.PolicyFile).
	PolicyFile string
	// NodesFile is a FRACTAL nodes.yaml: more machines to watch through their
	// Glances API, and to act on through Docker when they are Docker hosts.
	NodesFile string
	// StateDir keeps what the Docker actuators changed, so a restart can
	// restore it; set by the role to its data directory.
	StateDir string
}

// load returns the policy and the nodes file (zero when none), or a nil
// policy when pressure control is disabled.
func (p PressureConfig) load() (*pressure.Policy, pressure.NodesFile, error) {
	var nf pressure.NodesFile
	if !p.Enabled {
		return nil, nf, nil
	}
	policy := p.Policy
	if p.PolicyFile != "" {
		data, err := os.ReadFile(p.PolicyFile)
		if err != nil {
			return nil, nf, fmt.Errorf("--pressure-policy: %w", err)
		}
		if policy, err = pressure.ApplyPolicyFile(policy, data); err != nil {
			return nil, nf, fmt.Errorf("--pressure-policy %s: %w", p.PolicyFile, err)
		}
	}
	if err := policy.Validate(); err != nil {
		return nil, nf, err
	}
	if p.NodesFile == "" {
		return &policy, nf, nil
	}
	data, err := os.ReadFile(p.NodesFile)
	if err != nil {
		return nil, nf, fmt.Errorf("--pressure-nodes: %w", err)
	}
	if nf, err = pressure.ParseNodesFile(data); err != nil {
		return nil, nf, fmt.Errorf("--pressure-nodes %s: %w", p.NodesFile, err)
	}
	policy = nf.Policy(policy)
	return &policy, nf, nil
}

// build returns a cluster's policy and the nodes file's targets, or nil
// when disabled. Entries with orchestrator: kubernetes are left to the root
// (kubePressure), which reaches those nodes through their cluster.
func (p PressureConfig) build(ctx context.Context, log *slog.Logger) (*pressure.Policy, []pressure.Target, error) {
	policy, nf, err := p.load()
	if err != nil || policy == nil {
		return nil, nil, err
	}
	var targets []pressure.Target
	for _, e := range nf.Nodes {
		if e.Orchestrator == pressure.OrchestratorKubernetes {
			continue
		}
		t := pressure.Target{Node: e.Hostname, Source: pressure.GlancesSource{Client: &glances.Client{BaseURL: e.GlancesURL()}}}
		if e.Orchestrator == pressure.OrchestratorDocker {
			opts := pressure.DockerOptions{Host: e.DockerHost(), Logger: log}
			if p.StateDir != "" {
				opts.StateFile = filepath.Join(p.StateDir, "pressure-docker-"+e.Hostname+".json")
			}
			act, err := pressure.NewDockerActuator(ctx, opts)
			if err != nil {
				log.Warn("pressure: docker host will only be watched", "node", e.Hostname, "err", err)
			} else {
				t.Actuator = act
			}
		}
		targets = append(targets, t)
	}
	return policy, targets, nil
}

// kubePressure returns the root's pressure control of Kubernetes nodes, or
// nil when disabled. A nodes file's entries with orchestrator: kubernetes
// name where those nodes' Glances answer.
func (p PressureConfig) kubePressure(token string) (*root.KubePressure, error) {
	policy, nf, err := p.load()
	if err != nil || policy == nil {
		return nil, err
	}
	kp := &root.KubePressure{Policy: *policy, Interval: p.Interval, Token: token, GlancesURLs: map[string]string{}}
	for _, e := range nf.Nodes {
		if e.Orchestrator == pressure.OrchestratorKubernetes {
			kp.GlancesURLs[e.Hostname] = e.GlancesURL()
		}
	}
	return kp, nil
}
