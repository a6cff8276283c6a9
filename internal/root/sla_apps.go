package root

import (
	"context"
	"fmt"
	"slices"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/sla"
	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/topology"
)

// ErrUnplaceable: an application cannot be placed as it stands (a dataflow
// bound no path meets, a microservice no region can hold).
var ErrUnplaceable = errdefs.New(errdefs.ErrUnschedulable, "cannot be placed")

// This file places an SLA application whose microservices declare
// connectivity (dataflows) as a whole, over the topology's regions: it
// becomes a FADepl named after the application (topology.FromSLA) and
// follows the FADepl path from there, re-placement on topology changes
// included. Its services are <microservice>.reg.<region> in namespace
// fadepl, each keeping the rest of the SLA's microservice.

// submitWholeLocked places one such application. One that cannot be placed
// is refused with the reason and leaves nothing behind.
func (r *Root) submitWholeLocked(ctx context.Context, who Caller, a sla.Application) (api.Application, []api.Service, error) {
	st, err := r.loadTopoLocked()
	if err != nil {
		return api.Application{}, nil, err
	}
	if slices.ContainsFunc(st.fadepls, func(rec fadeplRecord) bool { return rec.Spec.Name == a.Name }) {
		return api.Application{}, nil, fmt.Errorf("%w: an application placed over regions named %s already exists: delete it first", ErrConflict, a.Name)
	}
	fa := topology.FromSLA(a.Name, a.Services)
	rt := map[string]msRuntime{}
	for i := range a.Services {
		s := a.Services[i]
		rt[s.Name] = msRuntime{Virtualization: s.Virtualization, Cmd: s.Cmd, Args: s.Args, Spec: &s}
	}
	v, err := r.placeFADeplLocked(ctx, who, st, fa, rt)
	if err != nil {
		return api.Application{}, nil, err
	}
	if v.Status == nil || v.ApplicationID == "" {
		reason := "no placement"
		if v.Status != nil {
			reason = v.Status.Reason
		}
		if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucketFADepls, fa.Name) }); err != nil {
			return api.Application{}, nil, fmt.Errorf("store: %w", err)
		}
		return api.Application{}, nil, fmt.Errorf("%w: application %s over the topology's regions: %s", ErrUnplaceable, a.Name, reason)
	}
	app := r.apps[v.ApplicationID]
	var svcs []*service
	for _, id := range app.ServiceIDs {
		if s := r.svcs[id]; s != nil {
			svcs = append(svcs, s)
		}
	}
	return *app, r.viewsLocked(svcs), nil
}
