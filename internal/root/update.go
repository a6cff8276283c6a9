package root

import (
	"fmt"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/topology"
)

// UpdateApplication changes an application's description, and its name or
// namespace while it has no services (its services and their instances are
// named after it). Empty arguments keep the current value.
func (r *Root) UpdateApplication(who Caller, id, name, namespace, desc string) (api.Application, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.apps[id]
	if !ok || !who.owns(a.OwnerID) {
		return api.Application{}, fmt.Errorf("%w: application %s", ErrNotFound, id)
	}
	updated := *a
	if desc != "" {
		updated.Description = desc
	}
	if name != "" {
		updated.Name = name
	}
	if namespace != "" {
		updated.Namespace = namespace
	}
	if (updated.Name != a.Name || updated.Namespace != a.Namespace) && len(a.ServiceIDs) > 0 {
		return api.Application{}, fmt.Errorf("%w: application_name: cannot change while the application has services (their instances are named after it)", ErrInvalid)
	}
	for _, other := range r.apps {
		if other.ID != id && other.OwnerID == a.OwnerID && other.Name == updated.Name && other.Namespace == updated.Namespace {
			return api.Application{}, fmt.Errorf("%w: application %s/%s already exists (id %s)", ErrConflict, updated.Namespace, updated.Name, other.ID)
		}
	}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketApps, id, &updated) }); err != nil {
		return api.Application{}, fmt.Errorf("store: %w", err)
	}
	*a = updated
	return oakApp(updated), nil
}

// UpdateService replaces a service's spec. The service keeps its number of
// instances; each is taken off its node and placed again, so that it runs
// the new spec. Dataflows cannot be changed this way: they are placed with
// their whole application.
func (r *Root) UpdateService(who Caller, id string, spec api.ServiceSpec) (api.Service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.serviceLocked(who, id)
	if err != nil {
		return api.Service{}, err
	}
	if topology.HasDataflows([]api.ServiceSpec{spec}) || topology.HasDataflows([]api.ServiceSpec{s.Spec}) {
		return api.Service{}, fmt.Errorf("%w: connectivity: a service with dataflows is placed with its whole application; submit the application again", ErrInvalid)
	}
	if app := r.apps[s.ApplicationID]; app != nil {
		for _, sid := range app.ServiceIDs {
			if o := r.svcs[sid]; o != nil && sid != id && o.Spec.Name == spec.Name {
				return api.Service{}, fmt.Errorf("%w: microservice_name: %s already exists in application %s", ErrConflict, spec.Name, app.Name)
			}
		}
	}
	if err := r.checkPrivileged(who, "", spec); err != nil {
		return api.Service{}, err
	}
	if err := keepsAddresses(s, spec); err != nil {
		return api.Service{}, err
	}
	insts := r.instancesOfLocked(id)
	if err := r.checkQuotaLocked(s.Owner, s.OwnerID, resized(s.Spec, spec, len(insts))); err != nil {
		return api.Service{}, err
	}
	spec.Instances = len(insts)
	updated := *s
	updated.Spec = spec
	err = r.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketServices, id, &updated) })
	if err != nil {
		return api.Service{}, fmt.Errorf("store: %w", err)
	}
	// Taken off with the old spec's reservation, placed with the new one.
	for _, in := range insts {
		if in.ClusterID != "" {
			r.unassignLocked(in, api.StateRequested, "service updated")
		}
	}
	s.Spec = spec
	r.persistInstancesLocked(insts)
	r.commitLocked(nil, insts)
	return r.viewsLocked([]*service{s})[0], nil
}
