package role

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hedgeorch/hedge/internal/metrics/glances"
	"github.com/hedgeorch/hedge/internal/pressure"
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
}

// build returns the policy and the extra targets, or nil when disabled.
func (p PressureConfig) build(ctx context.Context, log *slog.Logger) (*pressure.Policy, []pressure.Target, error) {
	if !p.Enabled {
		return nil, nil, nil
	}
	policy := p.Policy
	if p.PolicyFile != "" {
		data, err := os.ReadFile(p.PolicyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--pressure-policy: %w", err)
		}
		if policy, err = pressure.ApplyPolicyFile(policy, data); err != nil {
			return nil, nil, fmt.Errorf("--pressure-policy %s: %w", p.PolicyFile, err)
		}
	}
	if err := policy.Validate(); err != nil {
		return nil, nil, err
	}
	if p.NodesFile == "" {
		return &policy, nil, nil
	}
	data, err := os.ReadFile(p.NodesFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--pressure-nodes: %w", err)
	}
	nf, err := pressure.ParseNodesFile(data)
	if err != nil {
		return nil, nil, fmt.Errorf("--pressure-nodes %s: %w", p.NodesFile, err)
	}
	policy = nf.Policy(policy)
	var targets []pressure.Target
	for _, e := range nf.Nodes {
		t := pressure.Target{Node: e.Hostname, Source: pressure.GlancesSource{Client: &glances.Client{BaseURL: e.GlancesURL()}}}
		if e.Orchestrator == pressure.OrchestratorDocker {
			act, err := pressure.NewDockerActuator(ctx, pressure.DockerOptions{Host: e.DockerHost(), Logger: log})
			if err != nil {
				log.Warn("pressure: docker host will only be watched", "node", e.Hostname, "err", err)
			} else {
				t.Actuator = act
			}
		}
		targets = append(targets, t)
	}
	return &policy, targets, nil
}
