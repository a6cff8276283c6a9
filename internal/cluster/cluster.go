package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/placement"
	"github.com/hedgeorch/hedge/internal/pressure"
	"github.com/hedgeorch/hedge/internal/roster"
	"github.com/hedgeorch/hedge/internal/store"
)

// Buckets of the cluster's store.
const (
	bucketNodes     = "nodes"
	bucketInstances = "instances"
	bucketMeta      = "meta"
	bucketCreds     = "node_credentials"
)

// Config configures a Cluster.
type Config struct {
	Name   string
	Store  store.Store
	Logger *slog.Logger
	// NodeTimeout: a worker silent for this long is NOT_READY and its
	// instances are placed on other nodes.
	NodeTimeout time.Duration
	// WorkerTokens are join tokens accepted from workers in addition to the
	// root's: given to this cluster by its operator, they never expire.
	WorkerTokens []string
	// Root checks the root's worker join tokens, for each join (a
	// *link.Client to the root). Without it only WorkerTokens admit.
	Root TokenChecker
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Pressure, when set, puts every node under resource-pressure control
	// with this policy (limit, then taint and move instances off, then
	// restore).
	Pressure *pressure.Policy
	// PressureInterval is how often the nodes are sampled (default 5 s).
	PressureInterval time.Duration
	// PressureTargets are more machines to watch and act on, such as the
	// Docker hosts of a FRACTAL nodes.yaml.
	PressureTargets []pressure.Target
}

// TokenChecker asks the root about a worker join token; *link.Client
// implements it. An error wrapping link.ErrUnauthorized is the root's no;
// any other error means the root could not be asked.
type TokenChecker interface {
	CheckWorkerToken(ctx context.Context, c link.TokenCheck) error
}

// NodeCertifier has the root sign a worker's client certificate;
// *link.Client implements it. A Root without it gives workers no
// certificate.
type NodeCertifier interface {
	NodeCertificate(ctx context.Context, nodeID string, csrPEM []byte) ([]byte, error)
}

// Cluster places and tracks the instances of one site.
type Cluster struct {
	cfg      Config
	log      *slog.Logger
	creds    *auth.Credentials
	fw       *placement.Framework
	server   *link.Server
	roster   *roster.Roster[*node]
	loop     *roster.Loop
	changed  chan struct{}
	pressure *pressure.Controller

	// localTokens are the hashes of cfg.WorkerTokens; read-only after New.
	localTokens map[string]bool

	mu    sync.Mutex
	epoch uint64
	nodes map[string]*node
	insts map[string]*inst
	// net is the cluster's share of the instance network (network.go).
	net netState
}

// node is a worker as the cluster tracks it.
type node struct {
	info     api.Node
	desired  roster.Desired
	assigned map[string]bool
	// tainted: under resource pressure, no new placements at all.
	tainted bool
}

var _ roster.Member = (*node)(nil)

// Name implements roster.Member.
func (n *node) Name() string { return n.info.Name }

// Liveness implements roster.Member.
func (n *node) Liveness() (time.Time, bool) { return n.info.LastSeen, n.info.State == api.NodeReady }

// SetNotReady implements roster.Member.
func (n *node) SetNotReady() { n.info.State = api.NodeNotReady }

// record is what the cluster persists of a node.
type nodeRecord struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels,omitempty"`
	Cordoned bool              `json:"cordoned,omitempty"`
}

// inst is an instance the root assigned to this cluster.
type inst struct {
	A      link.Assignment `json:"assignment"`
	NodeID string          `json:"node_id,omitempty"`
	// Limit is the tightened limit pressure control set, if any.
	Limit  *api.Resources      `json:"limit,omitempty"`
	Status link.InstanceStatus `json:"-"`
}

var _ link.Upper = (*Cluster)(nil)
var _ link.Peer = (*Cluster)(nil)

// New loads the cluster's state from its store.
func New(cfg Config) (*Cluster, error) {
	roster.Defaults(&cfg.Logger, &cfg.Now, &cfg.NodeTimeout, 5*time.Second)
	c := &Cluster{
		cfg:         cfg,
		log:         cfg.Logger,
		changed:     make(chan struct{}, 1),
		nodes:       map[string]*node{},
		insts:       map[string]*inst{},
		localTokens: map[string]bool{},
	}
	t := roster.NewTier(roster.TierConfig[*node]{
		Config: roster.Config[*node]{
			Kind: "node", Lock: &c.mu, Members: c.nodes, Store: cfg.Store, Bucket: bucketNodes,
			Timeout: cfg.NodeTimeout, Now: cfg.Now, Logger: cfg.Logger,
			Admit:  c.admit,
			Record: func(id, name string) any { return nodeRecord{ID: id, Name: name} },
			New: func(id, name string) *node {
				return c.newNode(api.Node{ID: id, Name: name, State: api.NodeNotReady, LastSeen: cfg.Now()})
			},
			Forget: c.forgetNodeLocked,
			Joined: c.watchPressure,
		},
		CredsBucket: bucketCreds, Level: placement.LevelCluster, Upper: c,
	})
	c.roster, c.creds, c.server, c.fw, c.loop, c.epoch = t.Roster, t.Creds, t.Server, t.FW, t.Loop, t.Epoch
	for _, t := range cfg.WorkerTokens {
		c.localTokens[auth.HashToken(t)] = true
	}
	err := cfg.Store.View(func(tx store.Tx) error {
		nodes, err := store.ListAll[nodeRecord](tx, bucketNodes)
		if err != nil {
			return err
		}
		for _, r := range nodes {
			c.nodes[r.ID] = c.newNode(api.Node{ID: r.ID, Name: r.Name, Labels: r.Labels, Cordoned: r.Cordoned, State: api.NodeNotReady, LastSeen: cfg.Now()})
		}
		insts, err := store.ListAll[inst](tx, bucketInstances)
		if err != nil {
			return err
		}
		for _, in := range insts {
			in := in
			in.Status = link.InstanceStatus{InstanceID: in.A.InstanceID, State: api.StateNodeScheduled}
			if in.NodeID == "" {
				in.Status.State = api.StateScheduled
			}
			c.insts[in.A.InstanceID] = &in
			if n := c.nodes[in.NodeID]; n != nil {
				n.assigned[in.A.InstanceID] = true
				n.info.Reserved = n.info.Reserved.Add(in.A.Spec.Demand())
			}
		}
		return c.loadNetwork(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("load cluster state: %w", err)
	}
	if cfg.Pressure != nil {
		c.pressure = pressure.NewController(*cfg.Pressure, pressure.WithLogger(cfg.Logger.With("component", "pressure")),
			pressure.WithNow(cfg.Now), pressure.WithInterval(cfg.PressureInterval))
		for _, n := range c.nodes {
			c.watchPressure(n.info.Name)
		}
		for _, t := range cfg.PressureTargets {
			c.pressure.Watch(t)
		}
	}
	return c, nil
}

// persistLocked stores instance records, store.WritesPerTx to a
// transaction: a desired set of the root may bring thousands at once.
func (c *Cluster) persistLocked(ins []*inst) {
	err := store.UpdateEach(c.cfg.Store, ins, func(tx store.Tx, in *inst) error {
		return tx.Put(bucketInstances, in.A.InstanceID, in)
	})
	if err != nil {
		c.log.Error("persist instances", "err", err)
	}
}

func (c *Cluster) newNode(info api.Node) *node {
	return &node{info: info, desired: roster.NewDesired(c.epoch), assigned: map[string]bool{}}
}

// Handler serves the link that workers dial.
func (c *Cluster) Handler() *link.Server { return c.server }

// Run places instances and watches node liveness until ctx ends.
func (c *Cluster) Run(ctx context.Context) {
	if c.pressure != nil {
		go c.pressure.Run(ctx)
	}
	c.loop.Run(ctx, c.checkNodes, c.schedule)
}

// trigger asks the placement loop for a pass.
func (c *Cluster) trigger() { c.loop.Trigger() }

func (c *Cluster) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// bumpLocked publishes a new desired set to a node's worker.
func (n *node) bumpLocked() { n.desired.Bump() }

// checkNodes marks silent nodes NOT_READY and frees their instances for
// placement elsewhere. The worker keeps running them until it hears from the
// cluster again and learns they moved (fencing by desired set). A node loaded
// from disk at start counts as silent from that moment, so instances on a node
// that never comes back are moved too.
func (c *Cluster) checkNodes() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sn := range c.roster.ExpireLocked() {
		if sn.Down {
			c.notify()
		}
		n := sn.Member
		if len(n.assigned) == 0 {
			continue
		}
		c.log.Warn("moving instances off silent node", "node_id", n.info.ID, "node", n.info.Name, "instances", len(n.assigned))
		for id := range n.assigned {
			c.unassignLocked(c.insts[id], api.StateDead, "node "+n.info.Name+" stopped reporting")
		}
		c.notify()
	}
}

func (c *Cluster) unassignLocked(in *inst, state api.InstanceState, reason string) {
	if n := c.nodes[in.NodeID]; n != nil {
		delete(n.assigned, in.A.InstanceID)
		n.info.Reserved = n.info.Reserved.Sub(in.A.Spec.Demand())
		n.bumpLocked()
	}
	in.NodeID = ""
	in.Status = link.InstanceStatus{InstanceID: in.A.InstanceID, Generation: in.A.Generation, State: state, Reason: reason, Restarts: in.Status.Restarts}
}

// schedule places every instance that has no node. Nodes under pressure
// (limited) are avoided while another node fits.
func (c *Cluster) schedule(ctx context.Context) {
	levels, _ := c.pressureView()
	c.mu.Lock()
	defer c.mu.Unlock()
	pending := roster.Pending(c.insts, func(in *inst) bool { return in.NodeID == "" })
	if len(pending) == 0 {
		return
	}
	cands := c.candidatesLocked()
	var calm []*placement.Candidate
	for _, cd := range cands {
		if levels[cd.Name] != pressure.Limited {
			calm = append(calm, cd)
		}
	}
	lists := [][]*placement.Candidate{cands}
	if len(calm) < len(cands) {
		lists = [][]*placement.Candidate{calm, cands}
	}
	var placed []*inst
	roster.Placer[*inst]{
		FW: c.fw,
		Request: func(in *inst) *placement.Request {
			return &placement.Request{
				ServiceID: in.A.ServiceID, Instance: in.A.Number,
				Virtualization: in.A.Spec.Virtualization, Demand: in.A.Spec.Demand(),
				Arch: in.A.Spec.Arch, Constraints: in.A.Spec.Constraints,
				Policy: in.A.Spec.PlacementPolicy, Selector: in.A.Spec.NodeSelector,
			}
		},
		Failed: func(in *inst, err error) {
			if in.Status.State != api.StateUnschedulable || in.Status.Reason != err.Error() {
				c.log.Info("instance unschedulable in cluster", "instance", in.A.InstanceID, "reason", err.Error())
			}
			in.Status = link.InstanceStatus{InstanceID: in.A.InstanceID, Generation: in.A.Generation, State: api.StateUnschedulable, Reason: err.Error(), Restarts: in.Status.Restarts}
		},
		Placed: func(in *inst, cd *placement.Candidate) {
			n := c.nodes[cd.ID]
			in.NodeID = n.info.ID
			n.assigned[in.A.InstanceID] = true
			n.info.Reserved = n.info.Reserved.Add(in.A.Spec.Demand())
			cd.Free = n.info.Capacity.Sub(n.info.Reserved)
			cd.MaxNodeFree = cd.Free
			n.bumpLocked()
			in.Status = link.InstanceStatus{InstanceID: in.A.InstanceID, Generation: in.A.Generation, State: api.StateNodeScheduled, Restarts: in.Status.Restarts}
			placed = append(placed, in)
		},
	}.Place(ctx, pending, lists...)
	if len(placed) > 0 {
		c.persistLocked(placed)
	}
	c.notify()
}

func (c *Cluster) candidatesLocked() []*placement.Candidate {
	out := make([]*placement.Candidate, 0, len(c.nodes))
	for _, n := range c.nodes {
		free := n.info.Capacity.Sub(n.info.Reserved)
		out = append(out, &placement.Candidate{
			ID: n.info.ID, Name: n.info.Name,
			Ready: n.info.State == api.NodeReady, Cordoned: n.info.Cordoned || n.tainted,
			Runtimes: n.info.Runtimes, Arch: []string{n.info.Arch},
			Capacity: n.info.Capacity, Free: free, MaxNodeFree: free,
			Labels: n.info.Labels, NetRxBytesPS: n.info.Metrics.NetRxBytesPS,
		})
	}
	slices.SortFunc(out, func(a, b *placement.Candidate) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}
