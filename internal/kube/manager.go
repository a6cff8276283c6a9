package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/pressure"
	"github.com/hedgeorch/hedge/internal/store"
)

// Root is what this package needs of the root it plugs into; internal/root
// implements it. A Kubernetes cluster joins the root as a cluster tier and
// then speaks the same link protocol as a Hedge cluster.
type Root interface {
	// JoinCluster registers a cluster tier named name and returns its id and
	// link credential.
	JoinCluster(ctx context.Context, name string) (id, credential string, err error)
	// LinkClient returns a client of the root's link for credential.
	LinkClient(credential string) *link.Client
	// SetClusterLabels sets the labels the root shows and places by.
	SetClusterLabels(id string, labels map[string]string) error
	// ForgetCluster removes a cluster; its instances are placed again.
	ForgetCluster(id string) error
	// Clusters lists every cluster the root knows, Hedge and Kubernetes.
	Clusters() []api.Cluster
}

// Config configures a Manager.
type Config struct {
	Store store.Store
	// SealKeyFile is the file of the key that seals credentials and Helm
	// values in Store (created, mode 0600, on first use). It lives apart
	// from Store, so that a copy of the store alone reveals no secret.
	SealKeyFile string
	Root        Root
	Logger      *slog.Logger
	// HTTPClient fetches from chart repositories; http.DefaultClient if nil.
	HTTPClient *http.Client
	// CheckInterval is how often a cluster's status is checked again
	// (default 15 s).
	CheckInterval time.Duration
	// ReportInterval is the heartbeat of a cluster's link to the root
	// (default 2 s).
	ReportInterval time.Duration
	// IndexTTL is how long a chart repository's index is kept before it
	// is read again (default 5 min).
	IndexTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Pressure, when set, puts every cluster's nodes under pressure
	// control (pressure_watch.go).
	Pressure *PressureConfig
}

// Manager keeps the registered Kubernetes clusters, chart repositories and
// enablers, and links every cluster to the root while Run runs.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	seal *sealer
	// indexes caches the chart repositories' indexes.
	indexes *indexCache

	mu       sync.Mutex
	clusters map[string]*kcluster
	runCtx   context.Context // nil until Run
	wg       sync.WaitGroup
	// ops serialises the Helm operations of one enabler.
	ops map[string]*sync.Mutex
}

// clusterRecord is a cluster as stored: credentials sealed.
type clusterRecord struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Description      string    `json:"description,omitempty"`
	Cloud            bool      `json:"cloud"`
	Server           string    `json:"server"`
	CreatedAt        time.Time `json:"created_at"`
	SealedKubeconfig []byte    `json:"sealed_kubeconfig"`
	SealedLinkCred   []byte    `json:"sealed_link_credential"`
}

// kcluster is a registered cluster with its clients and live state.
type kcluster struct {
	rec  clusterRecord
	kc   []byte
	rc   *rest.Config
	cs   kubernetes.Interface
	cred string

	mu       sync.Mutex
	status   api.KubeCluster
	pressure *pressure.Controller // nil unless pressure control is on

	factory informers.SharedInformerFactory
	peer    *workloads
	cancel  context.CancelFunc
	done    chan struct{}
}

// New loads the registered clusters from the store. Nothing runs until Run.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Root == nil {
		return nil, errors.New("kube: store and root are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 15 * time.Second
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s, err := loadSealer(cfg.Store, cfg.SealKeyFile)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "kube"), seal: s, indexes: newIndexCache(cfg.IndexTTL, cfg.Now), clusters: map[string]*kcluster{}, ops: map[string]*sync.Mutex{}}
	if n, err := m.sealStoredValues(); err != nil {
		return nil, err
	} else if n > 0 {
		m.log.Info("sealed the helm values of stored enablers", "enablers", n)
	}
	var recs []clusterRecord
	err = cfg.Store.View(func(tx store.Tx) error {
		var err error
		recs, err = store.ListAll[clusterRecord](tx, bucketClusters)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load kubernetes clusters: %w", err)
	}
	for _, rec := range recs {
		c, err := m.open(rec)
		if err != nil {
			m.log.Error("cannot open a stored kubernetes cluster", "cluster", rec.Name, "err", err)
			continue
		}
		m.clusters[rec.ID] = c
	}
	return m, nil
}

// open builds the clients of a stored cluster.
func (m *Manager) open(rec clusterRecord) (*kcluster, error) {
	kc, err := m.seal.Open(rec.ID, rec.SealedKubeconfig)
	if err != nil {
		return nil, err
	}
	cred, err := m.seal.Open(rec.ID, rec.SealedLinkCred)
	if err != nil {
		return nil, err
	}
	rc, _, err := ValidateKubeconfig(kc)
	if err != nil {
		return nil, err
	}
	rc.Timeout = 30 * time.Second
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	c := &kcluster{rec: rec, kc: kc, rc: rc, cs: cs, cred: string(cred)}
	c.status = api.KubeCluster{ID: rec.ID, Name: rec.Name, Description: rec.Description, Cloud: rec.Cloud,
		Server: rec.Server, CreatedAt: rec.CreatedAt, Status: api.KubePending}
	c.peer = newWorkloads(c, m.log.With("cluster", rec.Name))
	return c, nil
}

// Run links every cluster to the root and rechecks their status until ctx
// ends, then stops them and waits for them and for Helm operations in
// flight.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.runCtx = ctx
	for _, c := range m.clusters {
		m.startLocked(c)
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	for _, c := range m.clusters {
		c.stop()
	}
	m.runCtx = nil
	m.mu.Unlock()
	m.wg.Wait()
}

// startLocked starts a cluster's informers, status checks and link.
func (m *Manager) startLocked(c *kcluster) {
	if m.runCtx == nil || c.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(m.runCtx)
	c.cancel, c.done = cancel, make(chan struct{})
	c.factory = informers.NewSharedInformerFactory(c.cs, 0)
	c.peer.watch(c.factory)
	c.factory.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		m.checkLoop(ctx, c)
	}()
	if m.cfg.Pressure != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.runPressure(ctx, c)
		}()
	}
	go func() {
		defer wg.Done()
		link.Run(ctx, m.cfg.Root.LinkClient(c.cred), c.peer, link.RunOptions{
			ReportInterval: m.cfg.ReportInterval, Logger: m.log.With("cluster", c.rec.Name, "link", "root"),
		})
	}()
	go func() {
		wg.Wait()
		c.factory.Shutdown()
		close(c.done)
	}()
}

func (c *kcluster) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.cancel = nil
}

func (m *Manager) checkLoop(ctx context.Context, c *kcluster) {
	t := time.NewTicker(m.cfg.CheckInterval)
	defer t.Stop()
	for {
		m.check(ctx, c)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check asks the cluster's API server for its version and nodes and sets
// the status: Enabled when every node is Ready, Degraded when some are not
// (or there are none), Error when the server cannot be reached or refuses
// the credentials.
func (m *Manager) check(ctx context.Context, c *kcluster) api.KubeCluster {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	status, reason, version := api.KubeEnabled, "", ""
	var total, ready int
	nodes, err := c.cs.CoreV1().Nodes().List(ctx, listAll)
	if err == nil {
		var v fmt.Stringer
		v, err = c.cs.Discovery().ServerVersion()
		if err == nil {
			version = v.String()
		}
	}
	switch {
	case err != nil && (apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err)):
		status, reason = api.KubeError, "credentials refused: "+err.Error()
	case err != nil:
		status, reason = api.KubeError, "unreachable: "+err.Error()
	default:
		var notReady []string
		for i := range nodes.Items {
			total++
			if nodeReady(&nodes.Items[i]) {
				ready++
			} else {
				notReady = append(notReady, nodes.Items[i].Name)
			}
		}
		switch {
		case total == 0:
			status, reason = api.KubeDegraded, "the cluster has no nodes"
		case len(notReady) > 0:
			sort.Strings(notReady)
			status, reason = api.KubeDegraded, fmt.Sprintf("%d of %d nodes NotReady: %v", len(notReady), total, notReady)
		}
	}
	c.mu.Lock()
	prev := c.status.Status
	c.status.Status, c.status.Reason = status, reason
	if version != "" {
		c.status.Version = version
	}
	c.status.Nodes, c.status.ReadyNodes, c.status.CheckedAt = total, ready, m.cfg.Now()
	out := c.status
	c.mu.Unlock()
	if prev != status {
		m.log.Info("kubernetes cluster status", "cluster", c.rec.Name, "status", status, "reason", reason)
		c.peer.poke()
	}
	return out
}

// nameRE is what a cluster, repository or enabler name may be: a DNS label,
// so it can also name a namespace or a Helm release.
var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$`)

// AddCluster registers a Kubernetes cluster. A kubeconfig that cannot be
// used gives ErrInvalid and registers nothing; a usable one is registered,
// checked at once and linked to the root, and its status says whether the
// cluster could be reached.
func (m *Manager) AddCluster(ctx context.Context, req api.KubeClusterRequest) (api.KubeCluster, error) {
	if !nameRE.MatchString(req.Name) {
		return api.KubeCluster{}, fmt.Errorf("%w: name: %q must be a DNS label (lowercase letters, digits and '-', at most 53)", ErrInvalid, req.Name)
	}
	if len(req.Description) > 1024 {
		return api.KubeCluster{}, fmt.Errorf("%w: description: at most 1024 characters", ErrInvalid)
	}
	kc, err := ParseCredentials(req.Credentials)
	if err != nil {
		return api.KubeCluster{}, err
	}
	_, server, err := ValidateKubeconfig(kc)
	if err != nil {
		return api.KubeCluster{}, err
	}
	m.mu.Lock()
	err = m.checkNewLocked(req, "")
	m.mu.Unlock()
	if err != nil {
		return api.KubeCluster{}, err
	}
	id, cred, err := m.cfg.Root.JoinCluster(ctx, req.Name)
	if err != nil {
		return api.KubeCluster{}, fmt.Errorf("join the root as cluster %s: %w", req.Name, err)
	}
	rec := clusterRecord{ID: id, Name: req.Name, Description: req.Description, Cloud: req.Cloud, Server: server, CreatedAt: m.cfg.Now()}
	if rec.SealedKubeconfig, err = m.seal.Seal(id, kc); err != nil {
		return api.KubeCluster{}, m.undoJoin(id, err)
	}
	if rec.SealedLinkCred, err = m.seal.Seal(id, []byte(cred)); err != nil {
		return api.KubeCluster{}, m.undoJoin(id, err)
	}
	c, err := m.open(rec)
	if err != nil {
		return api.KubeCluster{}, m.undoJoin(id, err)
	}
	labels := map[string]string{api.KubeClusterKindLabel: api.KubeClusterKind}
	if req.Cloud {
		labels[api.KubeCloudLabel] = "true"
	}
	if err := m.cfg.Root.SetClusterLabels(id, labels); err != nil {
		return api.KubeCluster{}, m.undoJoin(id, err)
	}
	m.mu.Lock()
	if err := m.checkNewLocked(req, id); err != nil { // lost a race with another add
		m.mu.Unlock()
		return api.KubeCluster{}, m.undoJoin(id, err)
	}
	if err := m.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketClusters, id, rec) }); err != nil {
		m.mu.Unlock()
		return api.KubeCluster{}, m.undoJoin(id, fmt.Errorf("store cluster: %w", err))
	}
	m.clusters[id] = c
	m.mu.Unlock()
	m.log.Info("kubernetes cluster registered", "cluster", req.Name, "cluster_id", id, "server", server, "cloud", req.Cloud)
	out := m.check(ctx, c)
	m.mu.Lock()
	m.startLocked(c)
	m.mu.Unlock()
	return out, nil
}

func (m *Manager) undoJoin(id string, err error) error {
	if ferr := m.cfg.Root.ForgetCluster(id); ferr != nil {
		m.log.Error("forget a half-registered cluster", "cluster_id", id, "err", ferr)
	}
	return err
}

// checkNewLocked enforces unique names (among Hedge clusters too) and at
// most one cloud cluster. self is the root's id of the cluster being added
// once it joined.
func (m *Manager) checkNewLocked(req api.KubeClusterRequest, self string) error {
	for _, c := range m.clusters {
		if c.rec.Name == req.Name {
			return fmt.Errorf("%w: a kubernetes cluster named %s exists (id %s)", ErrConflict, req.Name, c.rec.ID)
		}
		if req.Cloud && c.rec.Cloud {
			return fmt.Errorf("%w: cloud: cluster %s is already the cloud cluster; there is at most one", ErrConflict, c.rec.Name)
		}
	}
	for _, c := range m.cfg.Root.Clusters() {
		if c.Name == req.Name && c.ID != self {
			return fmt.Errorf("%w: a cluster named %s is registered with the root", ErrConflict, req.Name)
		}
	}
	return nil
}

// Clusters lists the registered clusters with their last status.
func (m *Manager) Clusters() []api.KubeCluster {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]api.KubeCluster, 0, len(m.clusters))
	for _, c := range m.clusters {
		c.mu.Lock()
		out = append(out, c.status)
		c.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// cluster finds a cluster by id or name.
func (m *Manager) cluster(idOrName string) (*kcluster, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.clusters[idOrName]; ok {
		return c, nil
	}
	for _, c := range m.clusters {
		if c.rec.Name == idOrName {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: kubernetes cluster %s", ErrNotFound, idOrName)
}

// DeleteCluster forgets a cluster: it is unlinked from the root, whose
// instances there are placed again elsewhere. What runs on the cluster is
// left alone, so that forgetting a cluster never takes a workload down.
// Enablers still installed there keep it from being deleted.
func (m *Manager) DeleteCluster(ctx context.Context, idOrName string) error {
	c, err := m.cluster(idOrName)
	if err != nil {
		return err
	}
	ens, err := m.enablers(func(e *enablerRecord) bool {
		return e.ClusterID == c.rec.ID && e.Status != api.EnablerTerminated
	})
	if err != nil {
		return err
	}
	if len(ens) > 0 {
		return fmt.Errorf("%w: cluster %s still has %d enabler(s) (e.g. %s): terminate or delete them first", ErrConflict, c.rec.Name, len(ens), ens[0].Name)
	}
	m.mu.Lock()
	c.stop()
	delete(m.clusters, c.rec.ID)
	m.mu.Unlock()
	if err := m.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucketClusters, c.rec.ID) }); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := m.cfg.Root.ForgetCluster(c.rec.ID); err != nil {
		return fmt.Errorf("unlink cluster %s from the root: %w", c.rec.Name, err)
	}
	m.log.Info("kubernetes cluster deleted", "cluster", c.rec.Name, "cluster_id", c.rec.ID)
	return nil
}

// Nodes lists a cluster's nodes with what their running pods request.
func (m *Manager) Nodes(ctx context.Context, idOrName string) ([]api.KubeNode, error) {
	c, err := m.cluster(idOrName)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := c.view(ctx)
	if err != nil {
		return nil, err
	}
	return v.kubeNodes(), nil
}

// Clientset returns the Kubernetes client of a registered cluster, for
// callers (FADepl, pressure) that act on it directly.
func (m *Manager) Clientset(idOrName string) (kubernetes.Interface, error) {
	c, err := m.cluster(idOrName)
	if err != nil {
		return nil, err
	}
	return c.cs, nil
}
