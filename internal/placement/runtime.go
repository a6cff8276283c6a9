package placement

import (
	"context"
	"slices"

	"github.com/hedgeorch/hedge/api"
)

// Runtime filters out candidates that cannot run the request's
// virtualization (process, container, unikernel).
type Runtime struct{}

var (
	_ FilterPlugin    = Runtime{}
	_ PreFilterPlugin = Runtime{}
)

func init() { registerFilter(400, func(Level) FilterPlugin { return Runtime{} }) }

// Name returns "Runtime".
func (Runtime) Name() string { return "Runtime" }

// Filter rejects a candidate whose Runtimes lack r.Virtualization. A request
// with no virtualization passes everywhere.
func (Runtime) Filter(_ context.Context, r *Request, c *Candidate) *Status {
	if r.Virtualization == "" || slices.Contains(c.Runtimes, r.Virtualization) {
		return nil
	}
	return runtimeStatus(r.Virtualization)
}

// PreFilter builds the rejection status once per request; for the known
// virtualizations it is built once and for all.
func (Runtime) PreFilter(_ context.Context, r *Request) (FilterPlugin, *Status) {
	switch r.Virtualization {
	case "":
		return nil, nil
	case api.VirtProcess:
		return runtimeProcess, nil
	case api.VirtContainer:
		return runtimeContainer, nil
	case api.VirtUnikernel:
		return runtimeUnikernel, nil
	}
	return newRuntimeFor(r.Virtualization), nil
}

var (
	runtimeProcess   = newRuntimeFor(api.VirtProcess)
	runtimeContainer = newRuntimeFor(api.VirtContainer)
	runtimeUnikernel = newRuntimeFor(api.VirtUnikernel)
)

func newRuntimeFor(virt string) *runtimeFor {
	return &runtimeFor{want: virt, reject: runtimeStatus(virt)}
}

func runtimeStatus(virt string) *Status {
	return NewStatus(Unschedulable, "Runtime", "runtime "+virt+" not available")
}

// runtimeFor is Runtime bound to one request.
type runtimeFor struct {
	want   string
	reject *Status
}

func (*runtimeFor) Name() string { return "Runtime" }

func (b *runtimeFor) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	for _, rt := range c.Runtimes {
		if rt == b.want {
			return nil
		}
	}
	return b.reject
}
