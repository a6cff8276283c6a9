package app

import (
	"context"
	"slices"
	"strings"

	"github.com/hedgeorch/hedge/internal/placement"
)

// NodeSelector filters out nodes whose labels do not carry every key=value of
// a Deployment's nodeSelector. It is how a GPU is asked for, as FogAtlas
// does: `nodeSelector: {accelerator: <type>}` keeps only the nodes labelled
// with that accelerator, and so only the regions that have one.
type NodeSelector struct {
	selector map[string]string
	reject   *placement.Status
}

var _ placement.FilterPlugin = (*NodeSelector)(nil)

// NewNodeSelector returns the filter for selector; an empty selector lets
// every node through.
func NewNodeSelector(selector map[string]string) *NodeSelector {
	keys := make([]string, 0, len(selector))
	for k := range selector {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + selector[k]
	}
	return &NodeSelector{
		selector: selector,
		reject: placement.NewStatus(placement.Unschedulable, "NodeSelector",
			"didn't match node selector "+strings.Join(pairs, ",")),
	}
}

// Name returns "NodeSelector".
func (*NodeSelector) Name() string { return "NodeSelector" }

// Filter rejects a candidate missing one of the selector's labels.
func (f *NodeSelector) Filter(_ context.Context, _ *placement.Request, c *placement.Candidate) *placement.Status {
	for k, v := range f.selector {
		if got, ok := c.Labels[k]; !ok || got != v {
			return f.reject
		}
	}
	return nil
}
