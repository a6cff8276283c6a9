package root

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/ipam"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/pki"
	"github.com/hedgeorch/hedge/internal/placement"
	"github.com/hedgeorch/hedge/internal/pressure"
	"github.com/hedgeorch/hedge/internal/roster"
	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/topology"
)

// Buckets of the root's store.
const (
	bucketApps      = "applications"
	bucketServices  = "services"
	bucketInstances = "instances"
	bucketClusters  = "clusters"
	bucketCreds     = "cluster_credentials"
	bucketNodeCtl   = "node_controls"
)

// Config configures the Root.
type Config struct {
	Store  store.Store
	Auth   *auth.Service
	Logger *slog.Logger
	// ClusterTimeout: a cluster silent for this long is NOT_READY and its
	// instances are placed on other clusters.
	ClusterTimeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// KubePressure, when set, puts the nodes of the Kubernetes clusters
	// under pressure control (the root is their cluster tier).
	KubePressure *KubePressure
	// Kube configures the Kubernetes support (the hedge-kube program).
	Kube KubeOptions
	// CA, when set, signs the serving certificates of clusters and its pin
	// is part of every join token issued.
	CA *pki.CA
	// Network are the instance network's settings given on the command
	// line; a field not given takes the stored value, or the default on a
	// first start (see loadNetwork).
	Network ipam.Settings
}

// KubePressure configures pressure control of Kubernetes nodes; see
// kube.PressureConfig, which hedge-kube reads it as (JSON).
type KubePressure struct {
	Policy      pressure.Policy
	Interval    time.Duration
	GlancesURLs map[string]string
	Token       string
}

// Root is the control plane.
type Root struct {
	cfg    Config
	log    *slog.Logger
	creds  *auth.Credentials
	fw     *placement.Framework
	server *link.Server
	roster *roster.Roster[*cluster]
	loop   *roster.Loop

	mu       sync.Mutex
	epoch    uint64
	apps     map[string]*api.Application
	svcs     map[string]*service
	insts    map[string]*instance
	clusters map[string]*cluster
	// nodeCtl holds cordon and drain orders by node id; they reach the
	// node's cluster with its assignments.
	nodeCtl map[string]nodeControl
	// kube runs hedge-kube, which drives Kubernetes clusters and enablers
	// (kube.go).
	kube *kubeHook
	// latencyTopo is the topology latency constraints are resolved over;
	// nil until needed and after every change (latency.go).
	latencyTopo *topology.Topology
	// usage is each instance's recent CPU and memory figures (oakestra.go).
	usage map[string]*usage
	// net is the instance network's state (network.go).
	net *network
}

// nodeControl is an operator's order for a node, kept at the root.
type nodeControl struct {
	ClusterID string `json:"cluster_id"`
	link.NodeControl
}

// service is a deployed microservice and its instances.
type service struct {
	api.Service
	NextNumber int `json:"next_number"`
	// Net holds the service's addresses on the instance network.
	Net *svcNet `json:"net,omitempty"`
}

// instance is the root's record of one instance.
type instance struct {
	ID         string              `json:"id"`
	ServiceID  string              `json:"service_id"`
	Number     int                 `json:"number"`
	Generation uint64              `json:"generation"`
	ClusterID  string              `json:"cluster_id,omitempty"`
	Status     link.InstanceStatus `json:"status"`
	UpdatedAt  time.Time           `json:"updated_at"`
}

// cluster is a registered cluster as the root tracks it.
type cluster struct {
	info     api.Cluster
	nodes    []api.Node
	events   []api.Event // the cluster's recent node events, as last reported
	desired  roster.Desired
	assigned map[string]bool
}

var _ roster.Member = (*cluster)(nil)

// Name implements roster.Member.
func (c *cluster) Name() string { return c.info.Name }

// Liveness implements roster.Member.
func (c *cluster) Liveness() (time.Time, bool) { return c.info.LastSeen, c.info.State == api.NodeReady }

// SetNotReady implements roster.Member.
func (c *cluster) SetNotReady() { c.info.State = api.NodeNotReady }

type clusterRecord struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

var _ link.Upper = (*Root)(nil)

// New loads the root's state from its store.
func New(cfg Config) (*Root, error) {
	roster.Defaults(&cfg.Logger, &cfg.Now, &cfg.ClusterTimeout, 15*time.Second)
	r := &Root{
		cfg:      cfg,
		log:      cfg.Logger,
		apps:     map[string]*api.Application{},
		svcs:     map[string]*service{},
		insts:    map[string]*instance{},
		clusters: map[string]*cluster{},
		nodeCtl:  map[string]nodeControl{},
	}
	t := roster.NewTier(roster.TierConfig[*cluster]{
		Config: roster.Config[*cluster]{
			Kind: "cluster", Lock: &r.mu, Members: r.clusters, Store: cfg.Store, Bucket: bucketClusters,
			Timeout: cfg.ClusterTimeout, Now: cfg.Now, Logger: cfg.Logger,
			Admit: func(_ context.Context, token, _ string, use bool) error {
				check := cfg.Auth.CheckJoinToken
				if use {
					check = func(kind, token string) error { return cfg.Auth.UseJoinToken(kind, token, "") }
				}
				if err := check(auth.JoinKindCluster, token); err != nil {
					return fmt.Errorf("%w: %v", link.ErrUnauthorized, err)
				}
				return nil
			},
			Record: func(id, name string) any { return clusterRecord{ID: id, Name: name} },
			New: func(id, name string) *cluster {
				return r.newCluster(api.Cluster{ID: id, Name: name, State: api.NodeNotReady, LastSeen: cfg.Now()})
			},
			Forget: r.forgetClusterLocked,
		},
		CredsBucket: bucketCreds, Level: placement.LevelRoot, Upper: r,
	})
	r.roster, r.creds, r.server, r.fw, r.loop, r.epoch = t.Roster, t.Creds, t.Server, t.FW, t.Loop, t.Epoch
	r.kube = newKubeHook(r)
	err := cfg.Store.View(func(tx store.Tx) error {
		if err := r.loadNetwork(tx); err != nil {
			return err
		}
		apps, err := store.ListAll[api.Application](tx, bucketApps)
		if err != nil {
			return err
		}
		for i := range apps {
			r.apps[apps[i].ID] = &apps[i]
		}
		svcs, err := store.ListAll[service](tx, bucketServices)
		if err != nil {
			return err
		}
		for i := range svcs {
			r.svcs[svcs[i].ID] = &svcs[i]
		}
		cls, err := store.ListAll[clusterRecord](tx, bucketClusters)
		if err != nil {
			return err
		}
		for _, c := range cls {
			r.clusters[c.ID] = r.newCluster(api.Cluster{ID: c.ID, Name: c.Name, Labels: c.Labels, State: api.NodeNotReady, LastSeen: cfg.Now()})
		}
		err = tx.List(bucketNodeCtl, func(key string, raw []byte) error {
			var nc nodeControl
			if err := json.Unmarshal(raw, &nc); err != nil {
				return err
			}
			r.nodeCtl[key] = nc
			return nil
		})
		if err != nil {
			return err
		}
		insts, err := store.ListAll[instance](tx, bucketInstances)
		if err != nil {
			return err
		}
		for i := range insts {
			in := &insts[i]
			r.insts[in.ID] = in
			if c := r.clusters[in.ClusterID]; c != nil {
				c.assigned[in.ID] = true
				if s := r.svcs[in.ServiceID]; s != nil {
					c.info.Reserved = c.info.Reserved.Add(s.Spec.Demand())
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load root state: %w", err)
	}
	if err := r.storeNetworkSettings(); err != nil {
		return nil, fmt.Errorf("store network settings: %w", err)
	}
	if err := r.backfillServiceAddrs(); err != nil {
		return nil, fmt.Errorf("load root state: service addresses: %w", err)
	}
	if err := r.assignOwnerIDs(); err != nil {
		return nil, fmt.Errorf("load root state: owners: %w", err)
	}
	return r, nil
}

func (r *Root) newCluster(info api.Cluster) *cluster {
	return &cluster{info: info, desired: roster.NewDesired(r.epoch), assigned: map[string]bool{}}
}

// LinkHandler serves the link that clusters dial.
func (r *Root) LinkHandler() *link.Server { return r.server }

// Run places instances and watches cluster liveness until ctx ends.
func (r *Root) Run(ctx context.Context) {
	defer r.kube.run(ctx)()
	var nodes string
	n := 0
	r.loop.Run(ctx, func() {
		r.checkClusters()
		// Whole applications (FADepl) are placed over regions' nodes: when
		// the nodes change (one leaves, capacity shrinks, labels move),
		// place them again. Checked every 10 s, as it can solve.
		if n%10 == 0 {
			if now := r.nodeFingerprint(); now != nodes {
				if nodes != "" {
					if _, err := r.ReplaceFADepls(ctx); err != nil {
						r.log.Warn("re-place applications after a node change", "err", err)
					}
				}
				nodes = now
			}
		}
	}, func(ctx context.Context) {
		r.schedule(ctx)
		n++
	})
}

// nodeFingerprint summarises the nodes that placement over regions depends on.
func (r *Root) nodeFingerprint() string {
	var parts []string
	for _, n := range r.Nodes() {
		if n.State == api.NodeReady && !n.Cordoned {
			parts = append(parts, fmt.Sprintf("%s/%v/%v/%v", n.ID, n.Labels, n.Capacity, n.Pressure))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// trigger asks the placement loop for a pass.
func (r *Root) trigger() { r.loop.Trigger() }

// bumpLocked publishes a new desired set to the cluster.
func (c *cluster) bumpLocked() { c.desired.Bump() }

// checkClusters marks silent clusters NOT_READY and frees their instances for
// placement on other clusters. The silent cluster keeps running them until it
// hears from the root again and learns they moved. A cluster loaded from disk
// at start counts as silent from that moment.
func (r *Root) checkClusters() {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		if r.net.dirty {
			r.refreshNetLocked()
		}
	}()
	var moved []*instance
	for _, sc := range r.roster.ExpireLocked() {
		for id := range sc.Member.assigned {
			in := r.insts[id]
			r.unassignLocked(in, api.StateDead, "cluster "+sc.Member.info.Name+" stopped reporting")
			moved = append(moved, in)
		}
	}
	r.persistInstancesLocked(moved)
	if len(moved) > 0 {
		r.trigger()
	}
}

func (r *Root) unassignLocked(in *instance, state api.InstanceState, reason string) {
	if c := r.clusters[in.ClusterID]; c != nil {
		delete(c.assigned, in.ID)
		if s := r.svcs[in.ServiceID]; s != nil {
			c.info.Reserved = c.info.Reserved.Sub(s.Spec.Demand())
		}
		c.bumpLocked()
	}
	in.ClusterID = ""
	r.markNetLocked()
	in.Generation++
	in.Status = link.InstanceStatus{InstanceID: in.ID, Generation: in.Generation, State: state, Reason: reason, Restarts: in.Status.Restarts}
	in.UpdatedAt = r.cfg.Now()
}

// schedule places every instance that has no cluster.
func (r *Root) schedule(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.net.dirty {
		r.refreshNetLocked()
	}
	pending := roster.Pending(r.insts, func(in *instance) bool { return in.ClusterID == "" && !in.Status.State.Terminal() })
	if len(pending) == 0 {
		return
	}
	var changed []*instance
	roster.Placer[*instance]{
		FW: r.fw,
		Request: func(in *instance) *placement.Request {
			s := r.svcs[in.ServiceID]
			if s == nil {
				return nil
			}
			return &placement.Request{
				ServiceID: s.ID, Instance: in.Number,
				Virtualization: s.Spec.Virtualization, Demand: s.Spec.Demand(),
				Arch: s.Spec.Arch, Constraints: r.resolveLatencyLocked(s.Spec).Constraints,
				Policy: s.Spec.PlacementPolicy, Selector: s.Spec.NodeSelector,
			}
		},
		Failed: func(in *instance, err error) {
			if in.Status.State != api.StateUnschedulable || in.Status.Reason != err.Error() {
				r.log.Info("instance unschedulable", "instance", in.ID, "reason", err.Error())
				in.Status = link.InstanceStatus{InstanceID: in.ID, Generation: in.Generation, State: api.StateUnschedulable, Reason: err.Error(), Restarts: in.Status.Restarts}
				in.UpdatedAt = r.cfg.Now()
				changed = append(changed, in)
			}
		},
		Placed: func(in *instance, cd *placement.Candidate) {
			s := r.svcs[in.ServiceID]
			c := r.clusters[cd.ID]
			in.ClusterID = c.info.ID
			c.assigned[in.ID] = true
			c.info.Reserved = c.info.Reserved.Add(s.Spec.Demand())
			cd.Free = cd.Free.Sub(s.Spec.Demand())
			c.bumpLocked()
			in.Status = link.InstanceStatus{InstanceID: in.ID, Generation: in.Generation, State: api.StateScheduled, Restarts: in.Status.Restarts}
			in.UpdatedAt = r.cfg.Now()
			changed = append(changed, in)
		},
	}.Place(ctx, pending, r.candidatesLocked())
	r.persistInstancesLocked(changed)
}

func (r *Root) candidatesLocked() []*placement.Candidate {
	out := make([]*placement.Candidate, 0, len(r.clusters))
	for _, c := range r.clusters {
		out = append(out, &placement.Candidate{
			ID: c.info.ID, Name: c.info.Name,
			Ready:    c.info.State == api.NodeReady,
			Runtimes: c.info.Runtimes, Arch: c.info.Arch,
			Capacity: c.info.Capacity, Free: c.info.Capacity.Sub(c.info.Reserved),
			MaxNodeFree: c.info.MaxNodeFree, Labels: c.info.Labels,
			NodeLabels: nodeLabels(c.nodes), NetRxBytesPS: netRx(c.nodes),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// persistInstancesLocked stores instance records, store.WritesPerTx to a
// transaction: a burst of placements changes thousands at once.
func (r *Root) persistInstancesLocked(ins []*instance) {
	err := store.UpdateEach(r.cfg.Store, ins, func(tx store.Tx, in *instance) error {
		return tx.Put(bucketInstances, in.ID, in)
	})
	if err != nil {
		r.log.Error("persist instances", "err", err)
	}
}

func newID() string { return roster.NewID() }

// nodeLabels lists the labels of a cluster's ready, schedulable nodes, so the
// root can check node selectors and locations; never nil.
func nodeLabels(nodes []api.Node) []map[string]string {
	out := []map[string]string{}
	for _, n := range nodes {
		if n.State == api.NodeReady && !n.Cordoned {
			out = append(out, n.Labels)
		}
	}
	return out
}

// netRx is a cluster's receive rate: the sum of its ready nodes'.
func netRx(nodes []api.Node) float64 {
	var sum float64
	for _, n := range nodes {
		if n.State == api.NodeReady {
			sum += n.Metrics.NetRxBytesPS
		}
	}
	return sum
}
