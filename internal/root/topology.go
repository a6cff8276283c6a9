package root

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/placement/app"
	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/topology"
)

// This file is the live path of topology-aware placement: FogAtlas regions,
// links and external endpoints stored at the root, and FADepl applications
// placed over them (with the nodes the clusters report) and run as ordinary
// services pinned to their regions by a node selector.

// Buckets of the topology objects.
const (
	bucketRegions   = "topology_regions"
	bucketLinks     = "topology_links"
	bucketEndpoints = "topology_endpoints"
	bucketFADepls   = "fadepls"
)

// Annotations of a FADepl microservice's Deployment (Hedge extensions, read
// from the pod template's metadata, or the Deployment's own).
const (
	// AnnotationVirtualization picks the runtime of the microservice's
	// instances: container (the default), process or unikernel. With
	// process, the image is the executable (an absolute path or a URL).
	AnnotationVirtualization = "hedge.io/virtualization"
)

// fadeplNamespace is the namespace of the applications FADepls create.
const fadeplNamespace = "fadepl"

// fadeplRecord is a FADepl as the root stores it.
type fadeplRecord struct {
	Spec  *topology.FADepl `json:"spec"`
	Owner string           `json:"owner"`
	// OwnerID is the owning user's id, which ownership is decided by.
	OwnerID string `json:"owner_id,omitempty"`
	// Runtime holds, per microservice, what the Deployment says beyond what
	// placement reads: the runtime annotation and the first container's
	// command and args.
	Runtime map[string]msRuntime `json:"runtime,omitempty"`
	// ApplicationID is the application running Placed; "" while the FADepl
	// has never been placed.
	ApplicationID string `json:"application_id,omitempty"`
	// Result is the latest placement attempt.
	Result *app.Result `json:"result"`
	// Placed is the last successful placement: the one whose services run
	// and whose bandwidth is allocated on the links. It differs from Result
	// only when the latest attempt failed.
	Placed    *app.Result `json:"placed,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// msRuntime is how one microservice's instances run.
type msRuntime struct {
	Virtualization string   `json:"virtualization,omitempty"`
	Cmd            []string `json:"cmd,omitempty"`
	Args           []string `json:"args,omitempty"`
	// Spec, for an application that came as an SLA with dataflows, is the
	// microservice as the SLA wrote it: its services keep everything the
	// placement does not decide (environment, ports, policies, ...).
	Spec *api.ServiceSpec `json:"spec,omitempty"`
}

// FADeplView is a FADepl's state as the API shows it.
type FADeplView struct {
	Name          string `json:"name"`
	Owner         string `json:"owner"`
	Algorithm     string `json:"algorithm"`
	ApplicationID string `json:"application_id,omitempty"`
	// Status is the latest placement: FogAtlas's New, Synced, Changed or
	// Failed with its reason, the placements and the link occupancy.
	Status *app.Result `json:"status"`
	// Running is the placement whose services run, when the latest attempt
	// failed after an earlier success.
	Running   *app.Result `json:"running,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

func (rec *fadeplRecord) view() FADeplView {
	v := FADeplView{Name: rec.Spec.Name, Owner: rec.Owner, Algorithm: string(rec.Spec.Algorithm),
		ApplicationID: rec.ApplicationID, Status: rec.Result, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt}
	if rec.Placed != nil && rec.Placed != rec.Result && rec.Result != nil && rec.Result.Status == app.StatusFailed {
		v.Running = rec.Placed
	}
	return v
}

// TopologyApplied is what ApplyTopology did.
type TopologyApplied struct {
	Regions   []string `json:"regions"`
	Links     []string `json:"links"`
	Endpoints []string `json:"endpoints"`
	// FADepls are the applications of the input, placed.
	FADepls []FADeplView `json:"fadepls"`
	// Replaced are the other applications placed again because the
	// topology changed.
	Replaced []FADeplView `json:"replaced"`
}

// storedTopo is the topology objects of the store.
type storedTopo struct {
	regions   []topology.Region
	links     []topology.Link
	endpoints []topology.ExternalEndpoint
	fadepls   []fadeplRecord
}

func (r *Root) loadTopoLocked() (*storedTopo, error) {
	st := &storedTopo{}
	err := r.cfg.Store.View(func(tx store.Tx) error {
		var err error
		if st.regions, err = store.ListAll[topology.Region](tx, bucketRegions); err != nil {
			return err
		}
		if st.links, err = store.ListAll[topology.Link](tx, bucketLinks); err != nil {
			return err
		}
		if st.endpoints, err = store.ListAll[topology.ExternalEndpoint](tx, bucketEndpoints); err != nil {
			return err
		}
		st.fadepls, err = store.ListAll[fadeplRecord](tx, bucketFADepls)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load topology: %w", err)
	}
	return st, nil
}

// objects returns the stored regions, links (with their allocation) and
// endpoints as topology objects.
func (st *storedTopo) objects() []topology.Object {
	var out []topology.Object
	for i := range st.regions {
		out = append(out, &st.regions[i])
	}
	for i := range st.links {
		out = append(out, &st.links[i])
	}
	for i := range st.endpoints {
		out = append(out, &st.endpoints[i])
	}
	return out
}

// Regions lists the stored regions by id.
func (r *Root) Regions() ([]topology.Region, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.loadTopoLocked()
	if err != nil {
		return nil, err
	}
	return nonNil(st.regions), nil
}

// Links lists the stored links by id, each with the bandwidth the placed
// FADepls allocate on it.
func (r *Root) Links() ([]topology.Link, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.loadTopoLocked()
	if err != nil {
		return nil, err
	}
	return nonNil(st.links), nil
}

// Endpoints lists the stored external endpoints by id.
func (r *Root) Endpoints() ([]topology.ExternalEndpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.loadTopoLocked()
	if err != nil {
		return nil, err
	}
	return nonNil(st.endpoints), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// FADepls lists the caller's FADepls (all of them for an admin) by name.
func (r *Root) FADepls(who Caller) ([]FADeplView, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.loadTopoLocked()
	if err != nil {
		return nil, err
	}
	out := []FADeplView{}
	for i := range st.fadepls {
		if who.owns(st.fadepls[i].OwnerID) {
			out = append(out, st.fadepls[i].view())
		}
	}
	return out, nil
}

// FADepl returns one of the caller's FADepls.
func (r *Root) FADepl(who Caller, name string) (FADeplView, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, err := r.fadeplLocked(who, name)
	if err != nil {
		return FADeplView{}, err
	}
	return rec.view(), nil
}

func (r *Root) fadeplLocked(who Caller, name string) (*fadeplRecord, error) {
	var rec fadeplRecord
	err := r.cfg.Store.View(func(tx store.Tx) error { return tx.Get(bucketFADepls, name, &rec) })
	if errors.Is(err, store.ErrNotFound) || (err == nil && !who.owns(rec.OwnerID)) {
		return nil, fmt.Errorf("%w: fadepl %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &rec, nil
}

// ApplyTopology takes multi-document YAML or JSON of kinds Region, Link,
// ExternalEndpoint and FADepl. Regions, links and endpoints are created or
// replaced by id (only an admin may write them; a link's bwallocated is the
// root's to compute and is ignored). Then every FADepl of the input is
// placed over the whole topology and the nodes the clusters report, and its
// services are created or moved. When regions or links changed, the FADepls
// already stored are placed again and moved where their placement changed.
// A bad input changes nothing and gives an error that wraps
// topology.ErrInvalid and lists every problem.
func (r *Root) ApplyTopology(ctx context.Context, who Caller, data []byte) (*TopologyApplied, error) {
	objs, err := topology.ParseDocuments(data)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%w: no documents", topology.ErrInvalid)
	}
	runtimes, err := parseRuntimes(data)
	if err != nil {
		return nil, err
	}
	var regions []*topology.Region
	var links []*topology.Link
	var endpoints []*topology.ExternalEndpoint
	var fadepls []*topology.FADepl
	for _, o := range objs {
		switch o := o.(type) {
		case *topology.Region:
			regions = append(regions, o)
		case *topology.Link:
			links = append(links, o)
		case *topology.ExternalEndpoint:
			endpoints = append(endpoints, o)
		case *topology.FADepl:
			fadepls = append(fadepls, o)
		default:
			return nil, fmt.Errorf("%w: kind %s cannot be applied: nodes join as workers (hedge worker --label region=ID)", topology.ErrInvalid, o.Kind())
		}
	}
	infra := len(regions)+len(links)+len(endpoints) > 0
	if infra && !who.Admin {
		return nil, fmt.Errorf("%w: regions, links and external endpoints are written by an admin", ErrForbidden)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.loadTopoLocked()
	if err != nil {
		return nil, err
	}
	for _, a := range fadepls {
		for _, rec := range st.fadepls {
			if rec.Spec.Name == a.Name && !who.owns(rec.OwnerID) {
				return nil, fmt.Errorf("%w: fadepl %s belongs to another user", ErrConflict, a.Name)
			}
		}
	}
	// Merge the new objects over the stored ones, keeping allocations.
	alloc := map[string]int64{}
	for _, l := range st.links {
		alloc[l.ID] = l.BWAllocated
	}
	st.regions = upsert(st.regions, regions, func(x *topology.Region) string { return x.ID })
	st.links = upsert(st.links, links, func(x *topology.Link) string { return x.ID })
	st.endpoints = upsert(st.endpoints, endpoints, func(x *topology.ExternalEndpoint) string { return x.ID })
	for i := range st.links {
		st.links[i].BWAllocated = alloc[st.links[i].ID]
	}
	if _, err := topology.Build(st.objects()); err != nil {
		return nil, err
	}
	out := &TopologyApplied{Regions: ids(regions), Links: ids(links), Endpoints: ids(endpoints), FADepls: []FADeplView{}, Replaced: []FADeplView{}}
	if infra {
		err := r.cfg.Store.Update(func(tx store.Tx) error {
			for _, o := range regions {
				if err := tx.Put(bucketRegions, o.ID, o); err != nil {
					return err
				}
			}
			for i := range st.links {
				if slices.ContainsFunc(links, func(l *topology.Link) bool { return l.ID == st.links[i].ID }) {
					if err := tx.Put(bucketLinks, st.links[i].ID, &st.links[i]); err != nil {
						return err
					}
				}
			}
			for _, o := range endpoints {
				if err := tx.Put(bucketEndpoints, o.ID, o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if infra {
		r.topologyChangedLocked()
	}
	applied := map[string]bool{}
	for _, a := range fadepls {
		v, err := r.placeFADeplLocked(ctx, who, st, a, runtimes[a.Name])
		if err != nil {
			return nil, err
		}
		applied[a.Name] = true
		out.FADepls = append(out.FADepls, v)
	}
	if infra {
		replaced, err := r.replaceAllLocked(ctx, st, applied)
		if err != nil {
			return nil, err
		}
		out.Replaced = replaced
	}
	return out, nil
}

// ErrForbidden: the caller may not do this.
var ErrForbidden = errdefs.New(errdefs.ErrForbidden, "forbidden")

func ids[T topology.Object](objs []T) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.ObjectID())
	}
	return out
}

// upsert replaces the elements of have with the same key as one of add and
// appends the others, keeping the result sorted by key.
func upsert[T any](have []T, add []*T, key func(*T) string) []T {
	for _, a := range add {
		i := slices.IndexFunc(have, func(h T) bool { return key(&h) == key(a) })
		if i >= 0 {
			have[i] = *a
		} else {
			have = append(have, *a)
		}
	}
	sort.Slice(have, func(i, j int) bool { return key(&have[i]) < key(&have[j]) })
	return have
}

// DeleteTopologyObject removes a region, link or endpoint (kind as in the
// documents). A region that links or endpoints still name cannot go. The
// stored FADepls are then placed again.
func (r *Root) DeleteTopologyObject(ctx context.Context, kind, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.loadTopoLocked()
	if err != nil {
		return err
	}
	var bucket string
	var found bool
	switch kind {
	case topology.KindRegion:
		bucket = bucketRegions
		for _, l := range st.links {
			if l.EndpointA == id || l.EndpointB == id {
				return fmt.Errorf("%w: region %s is an end of link %s: delete the link first", ErrConflict, id, l.ID)
			}
		}
		for _, e := range st.endpoints {
			if e.RegionID == id {
				return fmt.Errorf("%w: region %s holds external endpoint %s: delete the endpoint first", ErrConflict, id, e.ID)
			}
		}
		st.regions, found = without(st.regions, func(x topology.Region) bool { return x.ID == id })
	case topology.KindLink:
		bucket = bucketLinks
		st.links, found = without(st.links, func(x topology.Link) bool { return x.ID == id })
	case topology.KindExternalEndpoint:
		bucket = bucketEndpoints
		st.endpoints, found = without(st.endpoints, func(x topology.ExternalEndpoint) bool { return x.ID == id })
	default:
		return fmt.Errorf("%w: kind %q", ErrInvalid, kind)
	}
	if !found {
		return fmt.Errorf("%w: %s %s", ErrNotFound, strings.ToLower(kind), id)
	}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucket, id) }); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	r.topologyChangedLocked()
	_, err = r.replaceAllLocked(ctx, st, nil)
	return err
}

func without[T any](s []T, match func(T) bool) ([]T, bool) {
	n := len(s)
	s = slices.DeleteFunc(s, match)
	return s, len(s) != n
}

// DeleteFADepl removes a FADepl, its application and services, and releases
// the bandwidth it held on the links.
func (r *Root) DeleteFADepl(who Caller, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, err := r.fadeplLocked(who, name)
	if err != nil {
		return err
	}
	return r.deleteFADeplLocked(name, rec.ApplicationID)
}

// deleteFADeplLocked removes a FADepl, its application (appID, if placed)
// and its bandwidth on the links.
func (r *Root) deleteFADeplLocked(name, appID string) error {
	if appID != "" {
		if err := r.deleteAppLocked(appID); err != nil {
			return err
		}
	}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucketFADepls, name) }); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	st, err := r.loadTopoLocked()
	if err != nil {
		return err
	}
	return r.saveAllocationLocked(st)
}

// deleteAppLocked removes an application with its services.
func (r *Root) deleteAppLocked(id string) error {
	a, ok := r.apps[id]
	if !ok {
		return nil
	}
	var svcIDs []string
	for _, sid := range a.ServiceIDs {
		if _, ok := r.svcs[sid]; ok {
			svcIDs = append(svcIDs, sid)
		}
	}
	err := r.cfg.Store.Update(func(tx store.Tx) error {
		for _, sid := range svcIDs {
			if err := r.deleteServiceTx(tx, sid); err != nil {
				return err
			}
		}
		return tx.Delete(bucketApps, id)
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, sid := range svcIDs {
		r.dropServiceLocked(sid)
	}
	delete(r.apps, id)
	return nil
}

// saveAllocationLocked sets every link's bwallocated to the sum of what the
// placed FADepls hold on it, and stores the links that changed.
func (r *Root) saveAllocationLocked(st *storedTopo) error {
	sum := map[string]int64{}
	for _, rec := range st.fadepls {
		if rec.Placed == nil {
			continue
		}
		for _, o := range rec.Placed.LinksOccupancy {
			sum[o.LinkID] += o.BWAllocated
		}
	}
	var changed []*topology.Link
	for i := range st.links {
		if st.links[i].BWAllocated != sum[st.links[i].ID] {
			st.links[i].BWAllocated = sum[st.links[i].ID]
			changed = append(changed, &st.links[i])
		}
	}
	if len(changed) == 0 {
		return nil
	}
	err := r.cfg.Store.Update(func(tx store.Tx) error {
		for _, l := range changed {
			if err := tx.Put(bucketLinks, l.ID, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store links: %w", err)
	}
	return nil
}

// replaceAllLocked places again every stored FADepl not in skip, after a
// change of the topology, and moves the ones whose placement changed.
func (r *Root) replaceAllLocked(ctx context.Context, st *storedTopo, skip map[string]bool) ([]FADeplView, error) {
	out := []FADeplView{}
	names := make([]string, 0, len(st.fadepls))
	for _, rec := range st.fadepls {
		if !skip[rec.Spec.Name] {
			names = append(names, rec.Spec.Name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		i := slices.IndexFunc(st.fadepls, func(rec fadeplRecord) bool { return rec.Spec.Name == name })
		rec := st.fadepls[i]
		v, err := r.placeFADeplLocked(ctx, Caller{User: rec.Owner, UserID: rec.OwnerID}, st, rec.Spec, rec.Runtime)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ReplaceFADepls places every stored FADepl again (for example after the
// nodes of a region changed) and moves those whose placement changed.
func (r *Root) ReplaceFADepls(ctx context.Context) ([]FADeplView, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.loadTopoLocked()
	if err != nil {
		return nil, err
	}
	return r.replaceAllLocked(ctx, st, nil)
}

// placeFADeplLocked places a, new or again, over the stored topology st and
// the reported nodes, stores the outcome, updates st (its FADepls and link
// allocations) and makes the application's services follow the placement.
func (r *Root) placeFADeplLocked(ctx context.Context, who Caller, st *storedTopo, a *topology.FADepl, rt map[string]msRuntime) (FADeplView, error) {
	now := r.cfg.Now()
	idx := slices.IndexFunc(st.fadepls, func(rec fadeplRecord) bool { return rec.Spec.Name == a.Name })
	rec := fadeplRecord{Spec: a, Owner: who.User, OwnerID: who.UserID, Runtime: rt, CreatedAt: now}
	if idx >= 0 {
		old := st.fadepls[idx]
		rec.Owner, rec.OwnerID, rec.ApplicationID, rec.Placed, rec.CreatedAt = old.Owner, old.OwnerID, old.ApplicationID, old.Placed, old.CreatedAt
	}
	if err := checkRuntimes(a, rt); err != nil {
		return FADeplView{}, err
	}
	objs := st.objects()
	for _, n := range r.regionNodesLocked(st, rec.ApplicationID) {
		objs = append(objs, n)
	}
	topo, err := topology.Build(objs)
	if err != nil {
		return FADeplView{}, fmt.Errorf("%w: stored topology: %w", ErrInvalid, err)
	}
	res, err := app.Place(ctx, topo, a, app.Options{Previous: rec.Placed, Logger: r.log})
	switch {
	case errors.Is(err, app.ErrInfeasible):
	case err != nil:
		return FADeplView{}, err
	}
	rec.Result, rec.UpdatedAt = res, now
	if res.Status != app.StatusFailed {
		rec.Placed = res
		if err := r.syncFADeplServicesLocked(&rec); err != nil {
			return FADeplView{}, err
		}
	}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketFADepls, a.Name, &rec) }); err != nil {
		return FADeplView{}, fmt.Errorf("store: %w", err)
	}
	if idx >= 0 {
		st.fadepls[idx] = rec
	} else {
		st.fadepls = append(st.fadepls, rec)
	}
	if err := r.saveAllocationLocked(st); err != nil {
		return FADeplView{}, err
	}
	r.log.Info("placed fadepl", "fadepl", a.Name, "status", res.Status, "method", res.Method, "reason", res.Reason)
	return rec.view(), nil
}

// regionNodesLocked turns the ready, schedulable nodes that carry a region
// label naming a stored region into topology nodes. Their free capacity is
// what the cluster reports, plus what the instances of the application
// appID hold on them: placing an application again may reuse its own room.
func (r *Root) regionNodesLocked(st *storedTopo, appID string) []*topology.Node {
	known := map[string]bool{}
	for _, rg := range st.regions {
		known[rg.ID] = true
	}
	own := map[string]api.Resources{} // node id -> demand of appID's instances
	if a := r.apps[appID]; a != nil {
		for _, sid := range a.ServiceIDs {
			s := r.svcs[sid]
			if s == nil {
				continue
			}
			for _, in := range r.instancesOfLocked(sid) {
				if in.ClusterID != "" && in.Status.NodeID != "" {
					own[in.Status.NodeID] = own[in.Status.NodeID].Add(s.Spec.Demand())
				}
			}
		}
	}
	var out []*topology.Node
	seen := map[string]bool{}
	clusterIDs := make([]string, 0, len(r.clusters))
	for id := range r.clusters {
		clusterIDs = append(clusterIDs, id)
	}
	sort.Strings(clusterIDs)
	for _, cid := range clusterIDs {
		c := r.clusters[cid]
		if c.info.State != api.NodeReady {
			continue
		}
		for _, n := range c.nodes {
			region := n.Labels[topology.LabelRegion]
			if n.State != api.NodeReady || n.Cordoned || !known[region] {
				continue
			}
			name := n.Name
			if seen[name] {
				name = c.info.Name + "/" + n.Name
			}
			seen[name] = true
			used := n.Reserved.Sub(own[n.ID])
			out = append(out, &topology.Node{
				Name: name, Labels: n.Labels, Region: region,
				CPUMillis:            int64(math.Round(n.Capacity.VCPUs * 1000)),
				MemoryBytes:          n.Capacity.MemoryMB << 20,
				AllocatedCPUMillis:   max(int64(math.Round(used.VCPUs*1000)), 0),
				AllocatedMemoryBytes: max(used.MemoryMB<<20, 0),
			})
		}
	}
	return out
}

// syncFADeplServicesLocked makes the FADepl's application hold exactly one
// service per (microservice, region) of rec.Placed: services of regions no
// longer used are deleted, new ones created, changed ones replaced. The
// application is created on first placement.
func (r *Root) syncFADeplServicesLocked(rec *fadeplRecord) error {
	now := r.cfg.Now()
	want := map[string]api.ServiceSpec{}
	var order []string
	for _, p := range rec.Placed.Placements {
		for _, rp := range p.Regions {
			spec := serviceSpec(rec.Spec, p.Microservice, rp, rec.Runtime[p.Microservice])
			want[spec.Name] = spec
			order = append(order, spec.Name)
		}
	}
	a, ok := r.apps[rec.ApplicationID]
	created := !ok
	var updated api.Application
	if created {
		updated = api.Application{ID: newID(), Name: rec.Spec.Name, Namespace: fadeplNamespace,
			Description: "FADepl " + rec.Spec.Name, Owner: rec.Owner, OwnerID: rec.OwnerID, CreatedAt: now}
	} else {
		updated = *a
	}
	var drop []string
	have := map[string]bool{}
	updated.ServiceIDs = nil
	var ownIDs []string
	if a != nil {
		ownIDs = a.ServiceIDs
	}
	for _, sid := range ownIDs {
		s := r.svcs[sid]
		if s == nil {
			continue
		}
		if spec, ok := want[s.Spec.Name]; ok && sameSpec(spec, s.Spec) {
			have[s.Spec.Name] = true
			updated.ServiceIDs = append(updated.ServiceIDs, sid)
			continue
		}
		drop = append(drop, sid)
	}
	var svcs []*service
	var insts []*instance
	// A microservice placed in several regions is one service per region:
	// each takes free addresses, as one address the SLA gives cannot be
	// all of theirs.
	claims := r.addrClaimsLocked()
	for _, name := range order {
		if have[name] {
			continue
		}
		spec := want[name]
		spec.Addresses = nil
		addrs, err := claims.claim("microservices["+name+"]", serviceWho(name, updated.Name, updated.Namespace), spec)
		if err != nil {
			return err
		}
		s, is := r.newServiceLocked(&updated, want[name], now, true, addrs)
		svcs = append(svcs, s)
		insts = append(insts, is...)
	}
	if !created && len(drop) == 0 && len(svcs) == 0 {
		return nil
	}
	err := r.cfg.Store.Update(func(tx store.Tx) error {
		for _, sid := range drop {
			if err := r.deleteServiceTx(tx, sid); err != nil {
				return err
			}
		}
		if err := tx.Put(bucketApps, updated.ID, &updated); err != nil {
			return err
		}
		for _, s := range svcs {
			if err := tx.Put(bucketServices, s.ID, s); err != nil {
				return err
			}
		}
		for _, in := range insts {
			if err := tx.Put(bucketInstances, in.ID, in); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, sid := range drop {
		r.dropServiceLocked(sid)
	}
	if created {
		r.apps[updated.ID] = &updated
	} else {
		*a = updated
	}
	rec.ApplicationID = updated.ID
	r.commitLocked(svcs, insts)
	return nil
}

// serviceSpec is the service that runs microservice ms of a in one region:
// named <ms>.reg.<region>, with the region's replicas, image and requests
// (MIPS already converted), pinned to the region by a node selector.
func serviceSpec(a *topology.FADepl, ms string, rp app.RegionPlacement, rt msRuntime) api.ServiceSpec {
	selector := map[string]string{}
	if m, ok := a.Microservice(ms); ok {
		for k, v := range m.Deployment.NodeSelector {
			selector[k] = v
		}
	}
	selector[topology.LabelRegion] = rp.Region
	virt := rt.Virtualization
	if virt == "" {
		virt = api.VirtContainer
	}
	var spec api.ServiceSpec
	if rt.Spec != nil {
		spec = *rt.Spec
		spec.Connectivity = nil // the application's dataflows, placed already
	}
	spec.Name, spec.Namespace, spec.Virtualization = rp.Deployment, fadeplNamespace, virt
	spec.Code, spec.Cmd, spec.Args = rp.Image, rt.Cmd, rt.Args
	spec.Instances = max(rp.Replicas, 1)
	spec.VCPUs = float64(rp.CPUMillis) / 1000
	spec.MemoryMB = (rp.MemoryBytes + (1<<20 - 1)) >> 20
	spec.NodeSelector = selector
	return spec
}

// sameSpec reports whether a service already runs as spec says, so that
// placing again leaves it alone.
func sameSpec(a, b api.ServiceSpec) bool {
	return a.Name == b.Name && a.Virtualization == b.Virtualization && a.Code == b.Code &&
		a.Instances == b.Instances && a.VCPUs == b.VCPUs && a.MemoryMB == b.MemoryMB &&
		slices.Equal(a.Cmd, b.Cmd) && slices.Equal(a.Args, b.Args) && maps.Equal(a.NodeSelector, b.NodeSelector)
}

// checkRuntimes rejects an unknown runtime annotation.
func checkRuntimes(a *topology.FADepl, rt map[string]msRuntime) error {
	for ms, r := range rt {
		switch r.Virtualization {
		case "", api.VirtContainer, api.VirtProcess, api.VirtUnikernel:
		default:
			return fmt.Errorf("%w: fadepl %s: microservice %s: annotation %s: %q, want container, process or unikernel",
				ErrInvalid, a.Name, ms, AnnotationVirtualization, r.Virtualization)
		}
	}
	return nil
}

// rawRuntimeDoc is what parseRuntimes reads of a FADepl document.
type rawRuntimeDoc struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Microservices []struct {
			Name       string `yaml:"name"`
			Deployment struct {
				Metadata struct {
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"metadata"`
				Spec struct {
					Template struct {
						Metadata struct {
							Annotations map[string]string `yaml:"annotations"`
						} `yaml:"metadata"`
						Spec struct {
							Containers []struct {
								Command []string `yaml:"command"`
								Args    []string `yaml:"args"`
							} `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"deployment"`
		} `yaml:"microservices"`
	} `yaml:"spec"`
}

// parseRuntimes reads, per FADepl and microservice, the runtime annotation
// and the first container's command and args, which topology.ParseDocuments
// does not keep (placement does not need them). The input has already been
// parsed once, so a decoding problem here is reported as invalid too.
func parseRuntimes(data []byte) (map[string]map[string]msRuntime, error) {
	out := map[string]map[string]msRuntime{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc rawRuntimeDoc
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", topology.ErrInvalid, err)
		}
		if doc.Kind != topology.KindFADepl {
			continue
		}
		m := map[string]msRuntime{}
		for _, ms := range doc.Spec.Microservices {
			d := &ms.Deployment
			virt := d.Spec.Template.Metadata.Annotations[AnnotationVirtualization]
			if virt == "" {
				virt = d.Metadata.Annotations[AnnotationVirtualization]
			}
			rt := msRuntime{Virtualization: strings.TrimSpace(virt)}
			if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
				rt.Cmd, rt.Args = cs[0].Command, cs[0].Args
			}
			if rt.Virtualization != "" || rt.Cmd != nil || rt.Args != nil {
				m[strings.TrimSpace(ms.Name)] = rt
			}
		}
		out[strings.TrimSpace(doc.Metadata.Name)] = m
	}
}
