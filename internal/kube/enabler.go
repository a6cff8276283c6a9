package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/store"
)

// Bounds of a Helm operation's timeout.
const (
	defaultTimeout = 5 * time.Minute
	maxTimeout     = time.Hour
)

// enablerRecord is an enabler as stored.
type enablerRecord struct {
	api.Enabler
	RepoID string `json:"repo_id"`
	Chart  string `json:"chart"`
	// SealedValues are the Helm values, sealed (values.go); Values is
	// empty in the store.
	SealedValues []byte `json:"sealed_values,omitempty"`
}

// reservedNamespaces cannot be enabler names: each enabler gets the
// namespace of its name.
var reservedNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true, Namespace: true}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func timeoutOf(seconds int) (time.Duration, error) {
	switch {
	case seconds < 0 || time.Duration(seconds)*time.Second > maxTimeout:
		return 0, fmt.Errorf("%w: timeout: %d s, want 0 (default %v) to %d", ErrInvalid, seconds, defaultTimeout, int(maxTimeout.Seconds()))
	case seconds == 0:
		return defaultTimeout, nil
	}
	return time.Duration(seconds) * time.Second, nil
}

// InstallEnabler validates the request, loads and renders the chart, picks
// the cluster (the one named, or by policy over the Kubernetes clusters)
// and starts the Helm install in the background: the answer is the enabler
// in state INSTALLING, with the placement's explanation; it becomes
// DEPLOYED when every resource is ready, or FAILED with Helm's message,
// and then nothing of the release is left on the cluster (atomic install).
// A chart that is missing or does not render fails the request itself.
func (m *Manager) InstallEnabler(ctx context.Context, req api.EnablerRequest, owner Viewer) (api.Enabler, error) {
	if !nameRE.MatchString(req.Name) || reservedNamespaces[req.Name] {
		return api.Enabler{}, fmt.Errorf("%w: enablerName: %q must be a DNS label of at most 53 characters, and not a system namespace", ErrInvalid, req.Name)
	}
	timeout, err := timeoutOf(req.Timeout)
	if err != nil {
		return api.Enabler{}, err
	}
	if (req.Cluster == "") == !req.Auto {
		return api.Enabler{}, fmt.Errorf("%w: cluster, auto: give a cluster or auto: true (not both)", ErrInvalid)
	}
	if existing, _ := m.enablers(func(e *enablerRecord) bool { return e.Name == req.Name }); len(existing) > 0 {
		return api.Enabler{}, fmt.Errorf("%w: enabler %s exists (id %s)", ErrConflict, req.Name, existing[0].ID)
	}
	repo, chartName, err := m.resolveChart(req.HelmChart)
	if err != nil {
		return api.Enabler{}, err
	}
	acc, err := m.repoAccess(repo)
	if err != nil {
		return api.Enabler{}, err
	}
	ch, err := fetchChart(ctx, m.cfg.HTTPClient, m.indexes, acc, chartName, req.Version)
	if err != nil {
		return api.Enabler{}, err
	}
	demand, replicas, err := ChartDemand(ch, req.Name, req.Values, m.kubeVersion())
	if err != nil {
		return api.Enabler{}, err
	}
	var c *kcluster
	var pl *api.EnablerPlacement
	if req.Auto {
		policy := req.PlacementPolicy
		if policy == "" {
			policy = "worst-fit"
		}
		var winner string
		pl, winner, err = m.placeEnabler(ctx, policy, demand, replicas, req.IncludeCloud)
		if err != nil {
			return api.Enabler{}, err
		}
		c, err = m.cluster(winner)
	} else {
		c, err = m.cluster(req.Cluster)
	}
	if err != nil {
		return api.Enabler{}, err
	}
	now := m.cfg.Now()
	rec := enablerRecord{Enabler: api.Enabler{
		ID: newID(), Name: req.Name, HelmChart: repo.Name + "/" + chartName, Version: ch.Metadata.Version, Values: req.Values,
		ClusterID: c.rec.ID, ClusterName: c.rec.Name, Namespace: req.Name, Status: api.EnablerInstalling,
		Placement: pl, CreatedAt: now, UpdatedAt: now, OwnerID: owner.UserID,
	}, RepoID: repo.ID, Chart: chartName}
	err = m.cfg.Store.Update(func(tx store.Tx) error {
		all, err := store.ListAll[enablerRecord](tx, bucketEnablers)
		if err != nil {
			return err
		}
		for _, e := range all {
			if e.Name == rec.Name {
				return fmt.Errorf("%w: enabler %s exists (id %s)", ErrConflict, e.Name, e.ID)
			}
		}
		return m.putEnabler(tx, rec)
	})
	if err != nil {
		return api.Enabler{}, err
	}
	m.background(rec.ID, func(ctx context.Context) { m.install(ctx, rec, c, ch, timeout) })
	return rec.Enabler, nil
}

// background runs a Helm operation of an enabler under the manager's run
// context, one at a time per enabler.
func (m *Manager) background(id string, f func(ctx context.Context)) {
	m.mu.Lock()
	ctx := m.runCtx
	lock, ok := m.ops[id]
	if !ok {
		lock = &sync.Mutex{}
		m.ops[id] = lock
	}
	if ctx == nil {
		ctx = context.Background() // not running: do it now, in the caller
		m.mu.Unlock()
		lock.Lock()
		defer lock.Unlock()
		f(ctx)
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		lock.Lock()
		defer lock.Unlock()
		f(ctx)
	}()
}

func (m *Manager) install(ctx context.Context, rec enablerRecord, c *kcluster, ch *chart.Chart, timeout time.Duration) {
	log := m.log.With("enabler", rec.Name, "cluster", c.rec.Name)
	err := func() error {
		if err := ensureNamespace(ctx, c.cs, rec.Namespace); err != nil {
			return err
		}
		cfg, err := c.helmConfig(rec.Namespace, log)
		if err != nil {
			return err
		}
		inst := action.NewInstall(cfg)
		inst.ReleaseName, inst.Namespace = rec.Name, rec.Namespace
		inst.Atomic, inst.Wait, inst.Timeout = true, true, timeout
		inst.Labels = map[string]string{"hedge.io/enabler-id": rec.ID}
		rel, err := inst.RunWithContext(ctx, ch, rec.Values)
		if err != nil {
			return err
		}
		rec.Revision = rel.Version
		return nil
	}()
	if err != nil {
		rec.Status, rec.Message = api.EnablerFailed, "install failed (nothing was left installed): "+err.Error()
		log.Warn("enabler install failed", "err", err.Error())
		m.dropNamespace(context.WithoutCancel(ctx), c, rec.Namespace)
	} else {
		rec.Status, rec.Message = api.EnablerDeployed, ""
		log.Info("enabler deployed", "revision", rec.Revision)
	}
	m.saveEnabler(rec)
}

// dropNamespace deletes an enabler's namespace if Hedge created it.
func (m *Manager) dropNamespace(ctx context.Context, c *kcluster, ns string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || n.Labels[LabelManagedBy] != ManagedBy {
		return
	}
	if err := c.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		m.log.Warn("delete enabler namespace", "namespace", ns, "err", err)
	}
}

func (m *Manager) saveEnabler(rec enablerRecord) {
	rec.UpdatedAt = m.cfg.Now()
	err := m.cfg.Store.Update(func(tx store.Tx) error {
		var cur enablerRecord
		if err := tx.Get(bucketEnablers, rec.ID, &cur); err != nil {
			return err // deleted meanwhile: do not bring it back
		}
		return m.putEnabler(tx, rec)
	})
	if err != nil {
		m.log.Error("store enabler", "enabler", rec.Name, "err", err)
	}
}

// resolveChart finds "repo/chart", or "chart" in the only repository that
// lists it.
func (m *Manager) resolveChart(ref string) (repoRecord, string, error) {
	if ref == "" {
		return repoRecord{}, "", fmt.Errorf("%w: helmChart: required (repo/chart)", ErrInvalid)
	}
	if repo, name, ok := strings.Cut(ref, "/"); ok {
		r, err := m.repo(repo)
		if err != nil {
			return repoRecord{}, "", fmt.Errorf("helmChart %s: %w", ref, err)
		}
		return r, name, nil
	}
	recs, err := m.repoRecords()
	if err != nil {
		return repoRecord{}, "", err
	}
	if len(recs) == 1 {
		return recs[0], ref, nil
	}
	return repoRecord{}, "", fmt.Errorf("%w: helmChart: %q: name the repository as repo/chart (%d repositories registered)", ErrInvalid, ref, len(recs))
}

// kubeVersion is the newest version among the reachable clusters, the one a
// chart's kubeVersion constraint is checked against when its demand is
// computed; "" when none is known.
func (m *Manager) kubeVersion() string {
	var best string
	for _, c := range m.Clusters() {
		if c.Version != "" && (best == "" || chartutil.IsCompatibleRange(">"+best, c.Version)) {
			best = c.Version
		}
	}
	return best
}

// placeEnabler runs the replica policy over the Kubernetes clusters and
// explains every cluster's verdict.
func (m *Manager) placeEnabler(ctx context.Context, policy string, demand api.Resources, replicas int, includeCloud bool) (*api.EnablerPlacement, string, error) {
	m.mu.Lock()
	cls := make([]*kcluster, 0, len(m.clusters))
	for _, c := range m.clusters {
		cls = append(cls, c)
	}
	m.mu.Unlock()
	sort.Slice(cls, func(i, j int) bool { return cls[i].rec.Name < cls[j].rec.Name })
	in := make([]FitCluster, 0, len(cls))
	for _, c := range cls {
		c.mu.Lock()
		st := c.status
		c.mu.Unlock()
		fc := FitCluster{ID: c.rec.ID, Name: c.rec.Name, Cloud: c.rec.Cloud}
		switch st.Status {
		case api.KubeEnabled, api.KubeDegraded:
			vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			v, err := c.view(vctx)
			cancel()
			if err != nil {
				fc.NotReady = err.Error()
				break
			}
			fc.Free, fc.NetRxBytesPS = v.schedulableFree(), v.netRx()
		default:
			fc.NotReady = "status " + st.Status + ": " + st.Reason
		}
		in = append(in, fc)
	}
	pl, err := PlaceReplicas(ctx, policy, demand, replicas, includeCloud, in)
	if err != nil {
		return pl, "", err
	}
	return pl, pl.Winner, nil
}

// enablers lists stored enablers that keep returns true for, by name.
func (m *Manager) enablers(keep func(*enablerRecord) bool) ([]enablerRecord, error) {
	var recs []enablerRecord
	err := m.cfg.Store.View(func(tx store.Tx) error {
		var err error
		recs, err = store.ListAll[enablerRecord](tx, bucketEnablers)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	out := recs[:0]
	for i := range recs {
		if keep == nil || keep(&recs[i]) {
			rec, err := m.opened(recs[i])
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Enablers lists the enablers; of one cluster (by name or id) when cluster
// is set. Their values are shown only to whom v may see them.
func (m *Manager) Enablers(cluster string, v Viewer) ([]api.Enabler, error) {
	recs, err := m.enablers(func(e *enablerRecord) bool {
		return cluster == "" || e.ClusterName == cluster || e.ClusterID == cluster
	})
	if err != nil {
		return nil, err
	}
	out := make([]api.Enabler, len(recs))
	for i, r := range recs {
		out[i] = v.view(r.Enabler)
	}
	return out, nil
}

func (m *Manager) enabler(idOrName string) (enablerRecord, *kcluster, error) {
	recs, err := m.enablers(func(e *enablerRecord) bool { return e.ID == idOrName || e.Name == idOrName })
	if err != nil {
		return enablerRecord{}, nil, err
	}
	if len(recs) == 0 {
		return enablerRecord{}, nil, fmt.Errorf("%w: enabler %s", ErrNotFound, idOrName)
	}
	c, err := m.cluster(recs[0].ClusterID)
	if err != nil {
		return recs[0], nil, fmt.Errorf("%w: enabler %s: its cluster is no longer registered", ErrConflict, recs[0].Name)
	}
	return recs[0], c, nil
}

// Enabler returns one enabler by id or name, as v may see it.
func (m *Manager) Enabler(idOrName string, v Viewer) (api.Enabler, error) {
	rec, _, err := m.enabler(idOrName)
	if errors.Is(err, ErrConflict) {
		return v.view(rec.Enabler), nil
	}
	return v.view(rec.Enabler), err
}

// UpgradeEnabler upgrades the release to a new chart version and/or new
// values (the old ones are kept when none are given), atomically: a failed
// upgrade rolls back. It runs in the background like an install.
func (m *Manager) UpgradeEnabler(ctx context.Context, idOrName string, up api.EnablerUpgrade) (api.Enabler, error) {
	rec, c, err := m.enabler(idOrName)
	if err != nil {
		return api.Enabler{}, err
	}
	if rec.Status != api.EnablerDeployed {
		return api.Enabler{}, fmt.Errorf("%w: enabler %s is %s; only a DEPLOYED enabler can be upgraded", ErrConflict, rec.Name, rec.Status)
	}
	timeout, err := timeoutOf(up.Timeout)
	if err != nil {
		return api.Enabler{}, err
	}
	repo, err := m.repo(rec.RepoID)
	if err != nil {
		return api.Enabler{}, fmt.Errorf("enabler %s: %w", rec.Name, err)
	}
	acc, err := m.repoAccess(repo)
	if err != nil {
		return api.Enabler{}, err
	}
	version := up.Version
	if version == "" {
		version = rec.Version
	}
	ch, err := fetchChart(ctx, m.cfg.HTTPClient, m.indexes, acc, rec.Chart, version)
	if err != nil {
		return api.Enabler{}, err
	}
	values := rec.Values
	if up.Values != nil {
		values = up.Values
	}
	if _, _, err := ChartDemand(ch, rec.Name, values, m.kubeVersion()); err != nil {
		return api.Enabler{}, err
	}
	prev := rec
	rec.Status, rec.Message = api.EnablerInstalling, ""
	m.saveEnabler(rec)
	m.background(rec.ID, func(ctx context.Context) {
		log := m.log.With("enabler", rec.Name, "cluster", c.rec.Name)
		err := func() error {
			cfg, err := c.helmConfig(rec.Namespace, log)
			if err != nil {
				return err
			}
			u := action.NewUpgrade(cfg)
			u.Namespace, u.Atomic, u.Wait, u.Timeout = rec.Namespace, true, true, timeout
			rel, err := u.RunWithContext(ctx, rec.Name, ch, values)
			if err != nil {
				return err
			}
			rec.Revision, rec.Version, rec.Values = rel.Version, ch.Metadata.Version, values
			return nil
		}()
		if err != nil {
			prev.Message = "upgrade failed (rolled back): " + err.Error()
			log.Warn("enabler upgrade failed", "err", err.Error())
			m.saveEnabler(prev)
			return
		}
		rec.Status = api.EnablerDeployed
		m.saveEnabler(rec)
	})
	return rec.Enabler, nil
}

// TerminateEnabler uninstalls the release and keeps the record (and the
// release's PersistentVolumeClaims, see DeleteEnablerVolumes). It waits for
// the uninstall.
func (m *Manager) TerminateEnabler(ctx context.Context, idOrName string) (api.Enabler, error) {
	rec, c, err := m.enabler(idOrName)
	if err != nil {
		return api.Enabler{}, err
	}
	if rec.Status == api.EnablerInstalling {
		return api.Enabler{}, fmt.Errorf("%w: enabler %s is being installed or upgraded; wait for it", ErrConflict, rec.Name)
	}
	if err := m.uninstall(ctx, rec, c); err != nil {
		return api.Enabler{}, err
	}
	rec.Status, rec.Message, rec.Revision = api.EnablerTerminated, "", 0
	m.saveEnabler(rec)
	return rec.Enabler, nil
}

func (m *Manager) uninstall(ctx context.Context, rec enablerRecord, c *kcluster) error {
	cfg, err := c.helmConfig(rec.Namespace, m.log.With("enabler", rec.Name))
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.Wait, un.Timeout, un.IgnoreNotFound = true, 2*time.Minute, true
	if _, err := un.Run(rec.Name); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("%w: uninstall %s from %s: %v", ErrUnavailable, rec.Name, c.rec.Name, err)
	}
	return nil
}

// DeleteEnabler uninstalls the release if needed, deletes the enabler's
// namespace (and so whatever is left in it, claims included) and forgets
// the enabler.
func (m *Manager) DeleteEnabler(ctx context.Context, idOrName string) error {
	rec, c, err := m.enabler(idOrName)
	if err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	if c != nil {
		if rec.Status == api.EnablerInstalling {
			return fmt.Errorf("%w: enabler %s is being installed or upgraded; wait for it", ErrConflict, rec.Name)
		}
		if rec.Status != api.EnablerTerminated {
			if err := m.uninstall(ctx, rec, c); err != nil {
				return err
			}
		}
		m.dropNamespace(ctx, c, rec.Namespace)
	}
	return m.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucketEnablers, rec.ID) })
}

// DeleteEnablerVolumes deletes the PersistentVolumeClaims left in a
// terminated (or failed) enabler's namespace and the PersistentVolumes
// bound to them, and returns the claims' names.
func (m *Manager) DeleteEnablerVolumes(ctx context.Context, idOrName string) ([]string, error) {
	rec, c, err := m.enabler(idOrName)
	if err != nil {
		return nil, err
	}
	if rec.Status == api.EnablerDeployed || rec.Status == api.EnablerInstalling {
		return nil, fmt.Errorf("%w: enabler %s is %s: terminate it before deleting its volumes", ErrConflict, rec.Name, rec.Status)
	}
	pvcs, err := c.cs.CoreV1().PersistentVolumeClaims(rec.Namespace).List(ctx, listAll)
	if err != nil {
		return nil, fmt.Errorf("%w: list claims of %s: %v", ErrUnavailable, rec.Name, err)
	}
	out := []string{}
	for _, pvc := range pvcs.Items {
		if err := c.cs.CoreV1().PersistentVolumeClaims(rec.Namespace).Delete(ctx, pvc.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return out, fmt.Errorf("%w: delete claim %s: %v", ErrUnavailable, pvc.Name, err)
		}
		if pv := pvc.Spec.VolumeName; pv != "" {
			if err := c.cs.CoreV1().PersistentVolumes().Delete(ctx, pv, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return out, fmt.Errorf("%w: delete volume %s: %v", ErrUnavailable, pv, err)
			}
		}
		out = append(out, pvc.Name)
	}
	return out, nil
}
