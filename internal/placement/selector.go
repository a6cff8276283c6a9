package placement

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// NodeSelector keeps instances on nodes that carry every label of the
// request's Selector (the SLA's node_selector), as Kubernetes' nodeSelector
// does; FogAtlas uses it for GPUs (`accelerator: <type>`) and regions. At
// LevelRoot a cluster passes when one of its ready nodes carries them all.
type NodeSelector struct{}

var (
	_ FilterPlugin    = NodeSelector{}
	_ PreFilterPlugin = NodeSelector{}
)

func init() { registerFilter(600, func(Level) FilterPlugin { return NodeSelector{} }) }

// Name returns "NodeSelector".
func (NodeSelector) Name() string { return "NodeSelector" }

// Filter rejects a candidate no node of which matches the selector.
func (p NodeSelector) Filter(ctx context.Context, r *Request, c *Candidate) *Status {
	f, _ := p.PreFilter(ctx, r)
	if f == nil {
		return nil
	}
	return f.Filter(ctx, r, c)
}

// PreFilter renders the reason once and skips the plugin without a selector.
func (NodeSelector) PreFilter(_ context.Context, r *Request) (FilterPlugin, *Status) {
	if len(r.Selector) == 0 {
		return nil, nil
	}
	keys := slices.Sorted(maps.Keys(r.Selector))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + r.Selector[k]
	}
	return selectorMatch{sel: r.Selector, reason: &Status{Code: Unschedulable, Plugin: "NodeSelector",
		Reason: fmt.Sprintf("no node with labels %s", strings.Join(parts, ","))}}, nil
}

type selectorMatch struct {
	sel    map[string]string
	reason *Status
}

func (selectorMatch) Name() string { return "NodeSelector" }

func (m selectorMatch) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	for _, labels := range c.labelSets() {
		if matches(labels, m.sel) {
			return nil
		}
	}
	return m.reason
}

func matches(labels, sel map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
