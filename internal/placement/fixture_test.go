package placement

import (
	"context"

	"github.com/hedgeorch/hedge/api"
)

// cand returns a ready candidate named name (ID "id-"+name) with 4 vcpus and
// 4096 MB, all free, running process and container on amd64; opts adjust it.
func cand(name string, opts ...func(*Candidate)) *Candidate {
	c := &Candidate{
		ID:       "id-" + name,
		Name:     name,
		Ready:    true,
		Runtimes: []string{api.VirtProcess, api.VirtContainer},
		Arch:     []string{"amd64"},
		Capacity: api.Resources{VCPUs: 4, MemoryMB: 4096},
	}
	c.Free = c.Capacity
	c.MaxNodeFree = c.Capacity
	for _, o := range opts {
		o(c)
	}
	return c
}

func notReady(c *Candidate) { c.Ready = false }
func cordoned(c *Candidate) { c.Cordoned = true }

func withID(id string) func(*Candidate) { return func(c *Candidate) { c.ID = id } }

func withRuntimes(rts ...string) func(*Candidate) { return func(c *Candidate) { c.Runtimes = rts } }

func withArch(archs ...string) func(*Candidate) { return func(c *Candidate) { c.Arch = archs } }

func withCapacity(cpu float64, mem int64) func(*Candidate) {
	return func(c *Candidate) { c.Capacity = api.Resources{VCPUs: cpu, MemoryMB: mem} }
}

// withFree sets Free and MaxNodeFree.
func withFree(cpu float64, mem int64) func(*Candidate) {
	return func(c *Candidate) {
		c.Free = api.Resources{VCPUs: cpu, MemoryMB: mem}
		c.MaxNodeFree = c.Free
	}
}

func withMaxNodeFree(cpu float64, mem int64) func(*Candidate) {
	return func(c *Candidate) { c.MaxNodeFree = api.Resources{VCPUs: cpu, MemoryMB: mem} }
}

// req returns a container request for 1 vcpu and 512 MB; opts adjust it.
func req(opts ...func(*Request)) *Request {
	r := &Request{
		ServiceID:      "svc",
		Virtualization: api.VirtContainer,
		Demand:         api.Resources{VCPUs: 1, MemoryMB: 512},
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func withDemand(cpu float64, mem int64) func(*Request) {
	return func(r *Request) { r.Demand = api.Resources{VCPUs: cpu, MemoryMB: mem} }
}

func withVirt(v string) func(*Request) { return func(r *Request) { r.Virtualization = v } }

func withReqArch(archs ...string) func(*Request) { return func(r *Request) { r.Arch = archs } }

func withPolicy(p string) func(*Request) { return func(r *Request) { r.Policy = p } }

func withConstraints(cs ...api.Constraint) func(*Request) {
	return func(r *Request) { r.Constraints = append(r.Constraints, cs...) }
}

// reason returns "" for success and the reason otherwise, so that table
// expectations read as the user would see them.
func reason(st *Status) string {
	if st.IsSuccess() {
		return ""
	}
	return st.Reason
}

// runFilter runs p on c both directly and, if p has one, through its
// PreFilter, and returns the direct reason; it reports a mismatch between the
// two paths as a second value, so every plugin table also checks that the
// bound fast path decides exactly like Filter.
func runFilter(p FilterPlugin, r *Request, c *Candidate) (got string, mismatch string) {
	ctx := context.Background()
	direct := p.Filter(ctx, r, c)
	pre, ok := p.(PreFilterPlugin)
	if !ok {
		return reason(direct), ""
	}
	bound, st := pre.PreFilter(ctx, r)
	var viaPre *Status
	switch {
	case st != nil:
		viaPre = st
	case bound != nil:
		viaPre = bound.Filter(ctx, r, c)
	}
	if reason(direct) != reason(viaPre) {
		return reason(direct), "PreFilter path says " + quoteReason(reason(viaPre))
	}
	return reason(direct), ""
}

func quoteReason(s string) string {
	if s == "" {
		return "fits"
	}
	return "\"" + s + "\""
}

// withMinPerWorker lowers the parallel threshold so that small lists take
// the parallel path.
func withMinPerWorker(n int) Option { return func(c *config) { c.minPerWorker = n } }
