package placement

import "context"

// NodeReady filters out candidates that are not ready (stopped reporting) or
// cordoned (closed to new work by an operator).
type NodeReady struct{}

var _ FilterPlugin = NodeReady{}

func init() { registerFilter(100, func(Level) FilterPlugin { return NodeReady{} }) }

var (
	statusNotReady = &Status{Code: Unschedulable, Plugin: "NodeReady", Reason: "not ready"}
	statusCordoned = &Status{Code: Unschedulable, Plugin: "NodeReady", Reason: "cordoned"}
)

// Name returns "NodeReady".
func (NodeReady) Name() string { return "NodeReady" }

// Filter rejects a candidate that is not ready, or ready but cordoned.
func (NodeReady) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	if !c.Ready {
		return statusNotReady
	}
	if c.Cordoned {
		return statusCordoned
	}
	return nil
}
