package root

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/sla"
	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/topology"
)

// Sentinel errors of the root's operations; the API turns them into status
// codes.
var (
	ErrNotFound = errdefs.New(errdefs.ErrNotFound, "not found")
	ErrConflict = errdefs.New(errdefs.ErrConflict, "conflict")
	ErrInvalid  = errdefs.New(errdefs.ErrInvalid, "invalid")
	ErrGone     = errdefs.New(errdefs.ErrUnavailable, "unavailable")
)

// maxInstances bounds one service so a typo cannot ask for a million.
const maxInstances = 1000

// Caller is who asks: users see and touch only their own applications,
// admins see all.
type Caller struct {
	User string
	// UserID is the user's id, which ownership is decided by.
	UserID string
	Admin  bool
}

// owns reports whether the caller may act on what the user with id
// ownerID owns.
func (c Caller) owns(ownerID string) bool { return c.Admin || (c.UserID != "" && c.UserID == ownerID) }

// Submit stores the applications of an SLA and requests their instances:
// each microservice's Instances of them, and at least one when deploy is
// set (Hedge's one-step deployment). Without deploy a microservice with
// Instances 0 is only registered, as in Oakestra's workflow, where POST
// /api/service/{id}/instance deploys (AddInstance). Applications with
// dataflows are placed as a whole at once either way (sla_apps.go).
func (r *Root) Submit(ctx context.Context, who Caller, doc *sla.Document, deploy bool) ([]api.Application, []api.Service, error) {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range doc.Applications {
		for _, existing := range r.apps {
			if existing.OwnerID == who.UserID && existing.Name == a.Name && existing.Namespace == a.Namespace {
				return nil, nil, fmt.Errorf("%w: application %s/%s already exists (id %s): delete it first or add services to it", ErrConflict, a.Namespace, a.Name, existing.ID)
			}
		}
	}
	var d demand
	claims := r.addrClaimsLocked()
	nets := make([][]*svcNet, len(doc.Applications))
	for i, a := range doc.Applications {
		for j, spec := range a.Services {
			path := fmt.Sprintf("applications[%d].microservices[%d]", i, j)
			if err := r.checkPrivileged(who, path, spec); err != nil {
				return nil, nil, err
			}
			d.service(spec, initialInstances(spec, deploy))
			if topology.HasDataflows(a.Services) {
				continue // placed as a whole: its services claim theirs then
			}
			n, err := claims.claim(path, serviceWho(spec.Name, a.Name, a.Namespace), spec)
			if err != nil {
				return nil, nil, err
			}
			nets[i] = append(nets[i], n)
		}
	}
	if err := r.checkQuotaLocked(who.User, who.UserID, d); err != nil {
		return nil, nil, err
	}
	var apps []*api.Application
	var svcs []*service
	var insts []*instance
	var whole []api.Application
	var wholeSvcs []api.Service
	for i, a := range doc.Applications {
		if topology.HasDataflows(a.Services) {
			app, s, err := r.submitWholeLocked(ctx, who, a)
			if err != nil {
				// All or nothing: the whole applications of this SLA placed
				// so far go again.
				for _, w := range whole {
					if derr := r.deleteFADeplLocked(w.Name, w.ID); derr != nil {
						r.log.Error("undo a whole application of a refused SLA", "application", w.Name, "err", derr)
					}
				}
				return nil, nil, err
			}
			whole, wholeSvcs = append(whole, app), append(wholeSvcs, s...)
			continue
		}
		app := &api.Application{ID: newID(), Name: a.Name, Namespace: a.Namespace, Description: a.Description, Owner: who.User, OwnerID: who.UserID, CreatedAt: now}
		for j, spec := range a.Services {
			s, is := r.newServiceLocked(app, spec, now, deploy, nets[i][j])
			svcs = append(svcs, s)
			insts = append(insts, is...)
		}
		apps = append(apps, app)
	}
	if err := r.persistLocked(apps, svcs, insts); err != nil {
		return nil, nil, err
	}
	for _, a := range apps {
		r.apps[a.ID] = a
	}
	r.commitLocked(svcs, insts)
	outApps := make([]api.Application, len(apps))
	for i, a := range apps {
		outApps[i] = *a
	}
	return oakApps(append(whole, outApps...)), append(wholeSvcs, r.viewsLocked(svcs)...), nil
}

// AddServices adds microservices to an existing application; deploy is as
// for Submit.
func (r *Root) AddServices(ctx context.Context, who Caller, appID string, specs []api.ServiceSpec, deploy bool) ([]api.Service, error) {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	app, ok := r.apps[appID]
	if !ok || !who.owns(app.OwnerID) {
		return nil, fmt.Errorf("%w: application %s", ErrNotFound, appID)
	}
	if topology.HasDataflows(specs) {
		return nil, fmt.Errorf("%w: connectivity: dataflows are placed with their whole application; submit the application with all its microservices", ErrInvalid)
	}
	for _, spec := range specs {
		for _, id := range app.ServiceIDs {
			if s := r.svcs[id]; s != nil && s.Spec.Name == spec.Name {
				return nil, fmt.Errorf("%w: microservice %s already exists in application %s", ErrConflict, spec.Name, app.Name)
			}
		}
	}
	var d demand
	paths := make([]string, len(specs))
	for i, spec := range specs {
		paths[i] = fmt.Sprintf("microservices[%d]", i)
		if err := r.checkPrivileged(who, paths[i], spec); err != nil {
			return nil, err
		}
		d.service(spec, initialInstances(spec, deploy))
	}
	nets, err := r.claimAllLocked(app, paths, specs)
	if err != nil {
		return nil, err
	}
	if err := r.checkQuotaLocked(app.Owner, app.OwnerID, d); err != nil {
		return nil, err
	}
	updated := *app
	updated.ServiceIDs = append([]string(nil), app.ServiceIDs...)
	var svcs []*service
	var insts []*instance
	for i, spec := range specs {
		s, is := r.newServiceLocked(&updated, spec, now, deploy, nets[i])
		svcs = append(svcs, s)
		insts = append(insts, is...)
	}
	if err := r.persistLocked([]*api.Application{&updated}, svcs, insts); err != nil {
		return nil, err
	}
	*app = updated
	r.commitLocked(svcs, insts)
	return r.viewsLocked(svcs), nil
}

// newServiceLocked builds a service with its addresses on the instance
// network (claimed by addrClaims) and its first instances (spec.Instances
// of them, at least one when deploy is set); nothing is stored or published
// yet.
func (r *Root) newServiceLocked(app *api.Application, spec api.ServiceSpec, now time.Time, deploy bool, addrs *svcNet) (*service, []*instance) {
	n := max(spec.Instances, 0)
	if deploy && n == 0 {
		n = 1
	}
	s := &service{Service: api.Service{ID: newID(), ApplicationID: app.ID, AppName: app.Name, Owner: app.Owner, OwnerID: app.OwnerID, Spec: spec, CreatedAt: now}, Net: addrs}
	app.ServiceIDs = append(app.ServiceIDs, s.ID)
	var out []*instance
	for range n {
		out = append(out, r.newInstanceLocked(s, now))
	}
	return s, out
}

func (r *Root) newInstanceLocked(s *service, now time.Time) *instance {
	n := s.NextNumber
	s.NextNumber++
	id := fmt.Sprintf("%s-%d", s.ID, n)
	return &instance{ID: id, ServiceID: s.ID, Number: n, Generation: 1, UpdatedAt: now,
		Status: link.InstanceStatus{InstanceID: id, Generation: 1, State: api.StateRequested}}
}

func (r *Root) persistLocked(apps []*api.Application, svcs []*service, insts []*instance) error {
	err := r.cfg.Store.Update(func(tx store.Tx) error {
		for _, a := range apps {
			if err := tx.Put(bucketApps, a.ID, a); err != nil {
				return err
			}
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
	return nil
}

func (r *Root) commitLocked(svcs []*service, insts []*instance) {
	r.markNetLocked()
	for _, s := range svcs {
		r.svcs[s.ID] = s
	}
	for _, in := range insts {
		r.insts[in.ID] = in
	}
	if len(insts) > 0 {
		r.trigger()
	}
}

// Applications lists the caller's applications.
func (r *Root) Applications(who Caller) []api.Application {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []api.Application{}
	for _, a := range r.apps {
		if who.owns(a.OwnerID) {
			out = append(out, *a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt.Before(out[j].CreatedAt) || (out[i].CreatedAt.Equal(out[j].CreatedAt) && out[i].ID < out[j].ID)
	})
	return oakApps(out)
}

// Application returns one of the caller's applications.
func (r *Root) Application(who Caller, id string) (api.Application, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.apps[id]
	if !ok || !who.owns(a.OwnerID) {
		return api.Application{}, fmt.Errorf("%w: application %s", ErrNotFound, id)
	}
	return oakApp(*a), nil
}

// DeleteApplication removes an application with all its services; their
// instances are stopped by the workers running them.
func (r *Root) DeleteApplication(who Caller, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.apps[id]
	if !ok || !who.owns(a.OwnerID) {
		return fmt.Errorf("%w: application %s", ErrNotFound, id)
	}
	// An application placed over regions (a FADepl, or an SLA with
	// dataflows) goes with its placement, or it would come back on the next
	// topology change and keep its links' bandwidth.
	st, err := r.loadTopoLocked()
	if err != nil {
		return err
	}
	for _, rec := range st.fadepls {
		if rec.ApplicationID == id {
			return r.deleteFADeplLocked(rec.Spec.Name, id)
		}
	}
	return r.deleteAppLocked(id)
}

// Services lists the caller's services, of one application when appID is set.
func (r *Root) Services(who Caller, appID string) ([]api.Service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if appID != "" {
		if a, ok := r.apps[appID]; !ok || !who.owns(a.OwnerID) {
			return nil, fmt.Errorf("%w: application %s", ErrNotFound, appID)
		}
	}
	var svcs []*service
	for _, s := range r.svcs {
		if who.owns(s.OwnerID) && (appID == "" || s.ApplicationID == appID) {
			svcs = append(svcs, s)
		}
	}
	sort.Slice(svcs, func(i, j int) bool {
		if svcs[i].AppName != svcs[j].AppName {
			return svcs[i].AppName < svcs[j].AppName
		}
		return svcs[i].Spec.Name < svcs[j].Spec.Name
	})
	return r.viewsLocked(svcs), nil
}

// Service returns one of the caller's services with its instances.
func (r *Root) Service(who Caller, id string) (api.Service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.serviceLocked(who, id)
	if err != nil {
		return api.Service{}, err
	}
	return r.viewsLocked([]*service{s})[0], nil
}

func (r *Root) serviceLocked(who Caller, id string) (*service, error) {
	s, ok := r.svcs[id]
	if !ok || !who.owns(s.OwnerID) {
		return nil, fmt.Errorf("%w: service %s", ErrNotFound, id)
	}
	return s, nil
}

// DeleteService removes a service and its instances.
func (r *Root) DeleteService(who Caller, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.serviceLocked(who, id)
	if err != nil {
		return err
	}
	app := r.apps[s.ApplicationID]
	var updated api.Application
	if app != nil {
		updated = *app
		updated.ServiceIDs = nil
		for _, sid := range app.ServiceIDs {
			if sid != id {
				updated.ServiceIDs = append(updated.ServiceIDs, sid)
			}
		}
	}
	err = r.cfg.Store.Update(func(tx store.Tx) error {
		if app != nil {
			if err := tx.Put(bucketApps, app.ID, &updated); err != nil {
				return err
			}
		}
		return r.deleteServiceTx(tx, id)
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if app != nil {
		*app = updated
	}
	r.dropServiceLocked(id)
	return nil
}

func (r *Root) deleteServiceTx(tx store.Tx, sid string) error {
	for _, in := range r.insts {
		if in.ServiceID == sid {
			if err := tx.Delete(bucketInstances, in.ID); err != nil {
				return err
			}
		}
	}
	return tx.Delete(bucketServices, sid)
}

func (r *Root) dropServiceLocked(sid string) {
	r.markNetLocked()
	for id, in := range r.insts {
		if in.ServiceID == sid {
			r.dropInstanceLocked(id)
		}
	}
	delete(r.svcs, sid)
}

// dropInstanceLocked forgets an instance and takes it off its cluster, which
// then has its worker stop it.
func (r *Root) dropInstanceLocked(id string) {
	in, ok := r.insts[id]
	if !ok {
		return
	}
	if c := r.clusters[in.ClusterID]; c != nil {
		delete(c.assigned, id)
		if s := r.svcs[in.ServiceID]; s != nil {
			c.info.Reserved = c.info.Reserved.Sub(s.Spec.Demand())
		}
		c.bumpLocked()
	}
	delete(r.insts, id)
	delete(r.usage, id)
	r.markNetLocked()
}

// AddInstance requests one more instance of a service.
func (r *Root) AddInstance(who Caller, id string) (api.Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.serviceLocked(who, id)
	if err != nil {
		return api.Instance{}, err
	}
	if len(r.instancesOfLocked(id)) >= maxInstances {
		return api.Instance{}, fmt.Errorf("%w: instances: a service may have at most %d", ErrInvalid, maxInstances)
	}
	var d demand
	d.instances(s.Spec, 1)
	if err := r.checkQuotaLocked(s.Owner, s.OwnerID, d); err != nil {
		return api.Instance{}, err
	}
	before := s.NextNumber
	in := r.newInstanceLocked(s, r.cfg.Now())
	if err := r.persistLocked(nil, []*service{s}, []*instance{in}); err != nil {
		s.NextNumber = before
		return api.Instance{}, err
	}
	r.commitLocked(nil, []*instance{in})
	return r.instanceViewLocked(in), nil
}

// DeleteInstance stops and removes instance number n of a service.
func (r *Root) DeleteInstance(who Caller, id string, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.serviceLocked(who, id); err != nil {
		return err
	}
	iid := fmt.Sprintf("%s-%d", id, n)
	if _, ok := r.insts[iid]; !ok {
		return fmt.Errorf("%w: instance %d of service %s", ErrNotFound, n, id)
	}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucketInstances, iid) }); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	r.dropInstanceLocked(iid)
	return nil
}

// Scale sets the number of instances of a service: new ones are requested,
// the highest-numbered ones are removed.
func (r *Root) Scale(who Caller, id string, want int) (api.Service, error) {
	if want < 0 || want > maxInstances {
		return api.Service{}, fmt.Errorf("%w: instances: must be between 0 and %d", ErrInvalid, maxInstances)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.serviceLocked(who, id)
	if err != nil {
		return api.Service{}, err
	}
	have := r.instancesOfLocked(id)
	var d demand
	d.instances(s.Spec, max(want-len(have), 0))
	if err := r.checkQuotaLocked(s.Owner, s.OwnerID, d); err != nil {
		return api.Service{}, err
	}
	before := s.NextNumber
	var add []*instance
	var drop []string
	for i := len(have); i < want; i++ {
		add = append(add, r.newInstanceLocked(s, r.cfg.Now()))
	}
	for i := want; i < len(have); i++ {
		drop = append(drop, have[i].ID)
	}
	updated := *s
	updated.Spec.Instances = want
	err = r.cfg.Store.Update(func(tx store.Tx) error {
		for _, in := range add {
			if err := tx.Put(bucketInstances, in.ID, in); err != nil {
				return err
			}
		}
		for _, iid := range drop {
			if err := tx.Delete(bucketInstances, iid); err != nil {
				return err
			}
		}
		return tx.Put(bucketServices, s.ID, &updated)
	})
	if err != nil {
		s.NextNumber = before
		return api.Service{}, fmt.Errorf("store: %w", err)
	}
	s.Spec.Instances = want
	for _, iid := range drop {
		r.dropInstanceLocked(iid)
	}
	r.commitLocked(nil, add)
	return r.viewsLocked([]*service{s})[0], nil
}

// instancesOfLocked returns a service's instances ordered by number.
func (r *Root) instancesOfLocked(sid string) []*instance {
	var out []*instance
	for _, in := range r.insts {
		if in.ServiceID == sid {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

func (r *Root) viewsLocked(svcs []*service) []api.Service {
	out := make([]api.Service, 0, len(svcs))
	for _, s := range svcs {
		v := s.Service
		v.Instances = []api.Instance{}
		for _, in := range r.instancesOfLocked(s.ID) {
			v.Instances = append(v.Instances, r.instanceViewLocked(in))
		}
		r.oakServiceLocked(&v)
		r.netViewLocked(&v, s)
		out = append(out, v)
	}
	return out
}

func (r *Root) instanceViewLocked(in *instance) api.Instance {
	v := api.Instance{
		Number: in.Number, ID: in.ID, Status: in.Status.State, Reason: in.Status.Reason,
		ClusterID: in.ClusterID, NodeID: in.Status.NodeID, NodeName: in.Status.NodeName,
		ExitCode: in.Status.ExitCode, Restarts: in.Status.Restarts, PID: in.Status.PID,
		CPU: in.Status.CPU, MemoryMB: in.Status.MemoryMB, Limited: in.Status.Limited,
		StartedAt: in.Status.StartedAt, UpdatedAt: in.UpdatedAt, IP: in.Status.IP,
	}
	if c := r.clusters[in.ClusterID]; c != nil {
		v.ClusterName = c.info.Name
	}
	r.oakInstanceLocked(&v)
	return v
}

// Logs fetches the tail of an instance's output from the worker running it,
// through its cluster.
func (r *Root) Logs(ctx context.Context, who Caller, id string, n, tail int) ([]byte, error) {
	r.mu.Lock()
	if _, err := r.serviceLocked(who, id); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	iid := fmt.Sprintf("%s-%d", id, n)
	in, ok := r.insts[iid]
	var clusterID string
	if ok {
		clusterID = in.ClusterID
	}
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: instance %d of service %s", ErrNotFound, n, id)
	}
	if clusterID == "" {
		return nil, fmt.Errorf("%w: instance %d is not placed on any cluster yet, so it has no logs", ErrConflict, n)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := r.server.Call(ctx, clusterID, link.Request{Kind: link.KindLogs, InstanceID: iid, Tail: tail})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGone, err)
	}
	if resp.Error != "" {
		if resp.NotFound {
			return nil, fmt.Errorf("%w: %s (it may be moving)", ErrConflict, resp.Error)
		}
		return nil, fmt.Errorf("%w: %s", ErrGone, resp.Error)
	}
	return resp.Data, nil
}

// Clusters lists registered clusters; only READY ones when active.
func (r *Root) Clusters(active bool) []api.Cluster {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []api.Cluster{}
	for _, c := range r.clusters {
		if active && c.info.State != api.NodeReady {
			continue
		}
		out = append(out, oakCluster(c.info))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Nodes lists the nodes of every cluster as last reported.
func (r *Root) Nodes() []api.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []api.Node{}
	for _, c := range r.clusters {
		for _, n := range c.nodes {
			if c.info.State != api.NodeReady {
				n.State = api.NodeNotReady
			}
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ClusterName != out[j].ClusterName {
			return out[i].ClusterName < out[j].ClusterName
		}
		return strings.Compare(out[i].Name, out[j].Name) < 0
	})
	return out
}

// Node controls.
const (
	NodeCordon   = "cordon"
	NodeUncordon = "uncordon"
	NodeDrain    = "drain"
)

// ControlNode cordons, uncordons or drains a node: a cordoned node gets no new
// instances; draining also moves the instances it runs to other nodes of its
// cluster (stopped gracefully there, started again elsewhere).
func (r *Root) ControlNode(id, op string) (api.Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var node *api.Node
	var c *cluster
	for _, cl := range r.clusters {
		for i := range cl.nodes {
			if cl.nodes[i].ID == id || cl.nodes[i].Name == id {
				node, c = &cl.nodes[i], cl
			}
		}
	}
	if node == nil {
		return api.Node{}, fmt.Errorf("%w: node %s", ErrNotFound, id)
	}
	nc := nodeControl{ClusterID: c.info.ID}
	switch op {
	case NodeCordon:
		nc.Cordoned = true
	case NodeDrain:
		nc.Cordoned, nc.Drained = true, true
	case NodeUncordon:
	default:
		return api.Node{}, fmt.Errorf("%w: operation: must be cordon, uncordon or drain", ErrInvalid)
	}
	err := r.cfg.Store.Update(func(tx store.Tx) error {
		if op == NodeUncordon {
			return tx.Delete(bucketNodeCtl, node.ID)
		}
		return tx.Put(bucketNodeCtl, node.ID, nc)
	})
	if err != nil {
		return api.Node{}, fmt.Errorf("store: %w", err)
	}
	if op == NodeUncordon {
		delete(r.nodeCtl, node.ID)
	} else {
		r.nodeCtl[node.ID] = nc
	}
	node.Cordoned = nc.Cordoned
	c.bumpLocked()
	return *node, nil
}

// Events lists the recent node events (pressure transitions and actions) of
// every cluster, oldest first.
func (r *Root) Events() []api.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []api.Event{}
	for _, c := range r.clusters {
		for _, e := range c.events {
			e.Cluster = c.info.Name
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// InstanceCounts counts instances by state, for metrics.
func (r *Root) InstanceCounts() map[api.InstanceState]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[api.InstanceState]int{}
	for _, in := range r.insts {
		out[in.Status.State]++
	}
	return out
}
