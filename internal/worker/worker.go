package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/metrics"
	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/store"
)

const (
	bucketState = "worker"
	keyDesired  = "desired"
	// bucketEnded keeps instances that ended for good (completed one_shot,
	// restart policy never), so a worker restart does not run them again.
	bucketEnded = "ended"
	// bucketTasks keeps a taskRecord for every instance a driver may be
	// running: the worker's account of which instances exist.
	bucketTasks = "tasks"
)

// taskRecord is what the worker persists about an instance it handed to a
// driver. It is written before Start (without a handle: a start under way)
// and again with the driver's handle once Start returns, and deleted once the
// task's exit has been acted on, so each exit is acted on once; after a
// restart, a record with a handle is recovered, one without is swept.
type taskRecord struct {
	Virtualization string `json:"virtualization"`
	Generation     uint64 `json:"generation"`
	Handle         []byte `json:"handle,omitempty"`
}

// ended is what the worker persists of an instance that ended for good.
type ended struct {
	Generation uint64            `json:"generation"`
	State      api.InstanceState `json:"state"`
	Reason     string            `json:"reason"`
	ExitCode   *int              `json:"exit_code,omitempty"`
}

// Config configures a Worker.
type Config struct {
	Name   string
	Labels map[string]string
	// Store keeps the desired set across restarts.
	Store store.Store
	// Host samples the machine's metrics.
	Host   *metrics.Host
	Logger *slog.Logger
	// StopGrace is how long an instance gets between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// MaxBackoff caps the delay between restarts of a failing instance.
	MaxBackoff time.Duration
	// Capacity overrides the measured capacity offered to instances.
	Capacity *api.Resources
	// TaskFileDirs are the data directories where drivers of releases
	// before ADR 007 kept their task records (instances/<id>/task.json);
	// Start moves those records into Store (see migrateTaskFiles).
	TaskFileDirs []TaskFileDir
	// Net, when set, is the instance network (internal/overlay): the worker
	// gives it every network map its cluster publishes and takes from it
	// the address of each container and unikernel instance. Nil: instances
	// use their drivers' own networks.
	Net NetPlane
}

// NetPlane is the worker's side of the instance network
// (docs/adr/016-service-networking.md), implemented by internal/overlay.
type NetPlane interface {
	// Apply programs the worker's tables from the whole map; it is called
	// with each new revision and must be idempotent.
	Apply(ctx context.Context, m *netmap.Map) error
	// Attach returns the address of an instance on the instance network,
	// the same one each time for the same instance until Detach. It fails
	// with an error wrapping errdefs.ErrUnavailable while the worker has no
	// subnet yet.
	Attach(instanceID string) (*runtime.Network, error)
	// Detach releases the instance's address.
	Detach(instanceID string)
	// Tunnel is the worker's tunnel end, for its node report; nil until
	// the plane is up.
	Tunnel() *netmap.TunnelInfo
}

// TaskFileDir is a driver data directory of an earlier release and the
// virtualization its driver served.
type TaskFileDir struct {
	Virtualization string
	Dir            string
}

// Worker runs the instances its cluster assigns. It implements link.Peer.
type Worker struct {
	cfg      Config
	log      *slog.Logger
	drivers  map[string]runtime.Driver
	capacity api.Resources
	changed  chan struct{}
	sem      chan struct{}

	// ctx is the worker's lifetime; background starts and stops use it.
	ctx context.Context
	wg  sync.WaitGroup

	mu        sync.Mutex
	instances map[string]*instance
	// desired is the last desired set, reconciled again whenever a stop
	// completes (a new generation of an instance waits for the old one).
	desired []link.Assignment

	// attachWait is how long a start waits for an address on the
	// instance network while the worker has no subnet (network.go).
	attachWait time.Duration

	// reported is set by Snapshot: usage figures are wanted.
	reported atomic.Bool

	metricsMu sync.Mutex
	metricsAt time.Time
	metrics   api.HostMetrics
}

// instance is the worker's view of one assigned (or recovered) instance.
type instance struct {
	a        link.Assignment
	desired  bool
	state    api.InstanceState
	reason   string
	exitCode *int
	restarts int
	pid      int
	started  *time.Time
	// ip is the instance's address on the instance network, if it has one.
	ip string

	running  bool // the driver has a live task
	done     bool // ended and, by its restart policy, stays ended
	starting bool
	stopping bool
	retry    *time.Timer

	// Usage from the instance's cgroup: cpu seconds at usageAt, the cpu
	// rate (cores) since the previous sample, and memory.
	cpuSeconds float64
	usageAt    time.Time
	cpuRate    float64
	memoryMB   int64
}

var _ link.Peer = (*Worker)(nil)

// New returns a worker. Add drivers with AddDriver, then call Start.
func New(cfg Config) *Worker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	return &Worker{
		cfg:        cfg,
		log:        cfg.Logger,
		drivers:    map[string]runtime.Driver{},
		changed:    make(chan struct{}, 1),
		sem:        make(chan struct{}, 8),
		instances:  map[string]*instance{},
		attachWait: defaultAttachWait,
	}
}

// AddDriver makes a runtime available; its Name is the virtualization it serves.
func (w *Worker) AddDriver(d runtime.Driver) { w.drivers[d.Name()] = d }

// Runtimes lists the virtualizations this worker can run.
func (w *Worker) Runtimes() []string {
	out := make([]string, 0, len(w.drivers))
	for n := range w.drivers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Start recovers the instances that survived a previous run of the worker,
// then reconciles toward the persisted desired set. Background work stops
// when ctx ends; Wait waits for it.
func (w *Worker) Start(ctx context.Context) error {
	w.ctx = ctx
	w.capacity = metrics.Capacity(ctx)
	if w.cfg.Capacity != nil {
		w.capacity = *w.cfg.Capacity
	}
	var desired []link.Assignment
	done := map[string]ended{}
	err := w.cfg.Store.View(func(tx store.Tx) error {
		err := tx.Get(bucketState, keyDesired, &desired)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.List(bucketEnded, func(key string, raw []byte) error {
			var e ended
			if err := json.Unmarshal(raw, &e); err != nil {
				return err
			}
			done[key] = e
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load desired set: %w", err)
	}
	w.mu.Lock()
	for _, a := range desired {
		in := &instance{a: a, desired: true, state: api.StateStarting}
		if e, ok := done[a.InstanceID]; ok && e.Generation == a.Generation {
			in.done, in.state, in.reason, in.exitCode = true, e.State, e.Reason, e.ExitCode
		}
		w.instances[a.InstanceID] = in
	}
	w.mu.Unlock()
	w.migrateTaskFiles(desired)
	if err := w.recover(ctx); err != nil {
		return err
	}
	w.reconcile(desired)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.usageLoop(ctx)
	}()
	return nil
}

// usageLoop samples instances' usage in the background, so that a slow
// probe (Docker's stats take about a second each) never delays a heartbeat.
// It is the one timer for every instance, and it samples only when reports
// have been taken since the last sample: figures nobody reads are not read.
func (w *Worker) usageLoop(ctx context.Context) {
	beat := link.NewBeat(usageInterval)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			beat.Next()
		}
		if w.reported.Swap(false) {
			w.sampleUsage(ctx)
		}
	}
}

// Wait blocks until background starts and stops have finished.
func (w *Worker) Wait() { w.wg.Wait() }

// Apply implements link.Peer: persist the desired set, then converge to it.
func (w *Worker) Apply(ctx context.Context, a *link.Assignments) error {
	err := w.cfg.Store.Update(func(tx store.Tx) error {
		return tx.Put(bucketState, keyDesired, a.Items)
	})
	if err != nil {
		return fmt.Errorf("persist desired set: %w", err)
	}
	w.reconcile(a.Items)
	return nil
}

// Revoked implements link.Revoker: the cluster deleted this node and moved
// its instances to other nodes, so the worker stops them all (an empty
// desired set, persisted, so a restart does not start them again).
func (w *Worker) Revoked(ctx context.Context) {
	if err := w.Apply(ctx, &link.Assignments{Items: []link.Assignment{}}); err != nil {
		w.log.Error("stop instances after the credential was revoked", "err", err)
	}
}

// reconcile starts what is desired and not running and stops what runs and is
// not desired.
func (w *Worker) reconcile(items []link.Assignment) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reconcileLocked(items)
}

// reconcileLocked is reconcile with w.mu held. Callers that reconcile again
// toward the current desired set must read w.desired under the same hold:
// a copy read earlier may be older than a set applied meanwhile, and would
// start again instances that set removed.
func (w *Worker) reconcileLocked(items []link.Assignment) {
	want := make(map[string]link.Assignment, len(items))
	for _, a := range items {
		want[a.InstanceID] = a
	}
	w.desired = items
	for id, in := range w.instances {
		a, ok := want[id]
		if ok && a.Generation == in.a.Generation {
			if !sameLimit(in.a.Limit, a.Limit) && in.running {
				w.updateLimitLocked(id, in, a)
			}
			in.a, in.desired = a, true
			continue
		}
		in.desired = false
		w.stopLocked(id, in)
	}
	for id, a := range want {
		in, ok := w.instances[id]
		if !ok {
			in = &instance{a: a, desired: true, state: api.StateStarting}
			w.instances[id] = in
		}
		if !in.running && !in.starting && !in.stopping && in.retry == nil && !in.done {
			w.startLocked(id, in)
		}
	}
	w.notify()
}

func (w *Worker) startLocked(id string, in *instance) {
	in.starting, in.state, in.reason = true, api.StateStarting, ""
	a := in.a
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.sem <- struct{}{}
		d, task, nw, err := w.startTask(a)
		<-w.sem
		w.mu.Lock()
		defer w.mu.Unlock()
		in.starting = false
		if err != nil {
			w.log.Warn("instance failed to start", "instance", id, "err", err)
			in.state, in.reason = api.StateFailed, err.Error()
			w.scheduleRestartLocked(id, in)
			w.notify()
			return
		}
		started := task.StartedAt
		in.running, in.pid, in.started, in.exitCode, in.ip = true, task.PID, &started, nil, ipOf(nw)
		in.state = api.StateRunning
		w.watchLocked(d, id, in, task.Handle)
		if !in.desired {
			w.stopLocked(id, in)
		}
		w.notify()
	}()
}

func sameLimit(a, b *api.Resources) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// updateLimitLocked applies a tightened limit (or restores the spec's) to a
// running instance, for pressure control.
func (w *Worker) updateLimitLocked(id string, in *instance, a link.Assignment) {
	d, ok := w.drivers[a.Spec.Virtualization].(runtime.Updater)
	if !ok {
		w.log.Warn("runtime cannot change limits of a running instance", "instance", id, "runtime", a.Spec.Virtualization)
		return
	}
	target := a.Spec.Demand()
	if a.Limit != nil {
		target = *a.Limit
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := d.Update(w.ctx, id, target); err != nil {
			w.log.Warn("change instance limits", "instance", id, "err", err)
			return
		}
		w.log.Info("instance limits changed", "instance", id, "vcpus", target.VCPUs, "memory_mb", target.MemoryMB, "limited", a.Limit != nil)
	}()
}

// stopLocked stops an instance that is no longer desired and forgets it once
// its driver has released everything.
func (w *Worker) stopLocked(id string, in *instance) {
	if in.retry != nil {
		in.retry.Stop()
		in.retry = nil
	}
	if in.stopping || in.starting {
		return // a start in flight stops it when it lands
	}
	in.stopping = true
	d := w.drivers[in.a.Spec.Virtualization]
	virt := in.a.Spec.Virtualization
	wasDone := in.done
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if d != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), w.cfg.StopGrace+10*time.Second)
			if err := d.Stop(ctx, id, w.cfg.StopGrace); err != nil {
				w.log.Warn("stop instance", "instance", id, "err", err)
			}
			if err := d.Remove(ctx, id); err != nil {
				w.log.Warn("remove instance", "instance", id, "err", err)
			}
			cancel()
		}
		w.detach(id, virt)
		if wasDone {
			if err := w.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucketEnded, id) }); err != nil {
				w.log.Warn("forget ended instance", "instance", id, "err", err)
			}
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if cur := w.instances[id]; cur == in {
			delete(w.instances, id)
			w.log.Info("instance undeployed", "instance", id)
		}
		// A new generation of this instance may have been waiting for the
		// old one to stop.
		w.reconcileLocked(w.desired)
	}()
}

// OnProgress is the runtime.ProgressFunc the worker's drivers call: the
// message becomes the reason of an instance that is still starting.
func (w *Worker) OnProgress(id, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if in, ok := w.instances[id]; ok && in.starting && in.reason != msg {
		in.reason = msg
		w.notify()
	}
}

// exitedLocked records how an instance ended and restarts it if its policy
// says so.
func (w *Worker) exitedLocked(id string, in *instance, e runtime.Exit) {
	in.running, in.pid = false, 0
	if e.CodeKnown {
		code := e.Code
		in.exitCode = &code
	} else {
		in.exitCode = nil
	}
	code, known := 0, e.CodeKnown
	if known {
		code = e.Code
	}
	switch {
	case in.stopping:
		in.state, in.reason = api.StateUndeployed, ""
	case !in.a.Spec.Restarts(code, known) && known && code == 0:
		in.state, in.reason, in.done = api.StateCompleted, "exited with code 0", true
	default:
		in.state, in.reason = api.StateFailed, exitReason(e)
		w.log.Info("instance exited", "instance", id, "reason", in.reason)
		switch {
		case !in.a.Spec.Restarts(code, known):
			in.done = true
			in.reason += " (restart policy: " + in.a.Spec.RestartPolicy + ")"
		case in.desired:
			w.scheduleRestartLocked(id, in)
		}
	}
	if in.done {
		w.persistEnded(id, ended{Generation: in.a.Generation, State: in.state, Reason: in.reason, ExitCode: in.exitCode})
	}
	w.notify()
}

// persistEnded records an instance that ended for good. It runs under w.mu,
// which is acceptable because it only happens once per instance.
func (w *Worker) persistEnded(id string, e ended) {
	if err := w.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketEnded, id, e) }); err != nil {
		w.log.Warn("persist ended instance", "instance", id, "err", err)
	}
}

func exitReason(e runtime.Exit) string {
	switch {
	case e.Reason != "":
		return e.Reason
	case e.Signal != "":
		return "killed by signal " + e.Signal
	case e.CodeKnown:
		return fmt.Sprintf("exited with code %d", e.Code)
	}
	return "exited"
}

// scheduleRestartLocked restarts a failed instance after an exponential
// backoff: 0.5 s, 1 s, 2 s, ... up to MaxBackoff.
func (w *Worker) scheduleRestartLocked(id string, in *instance) {
	if in.retry != nil || !in.desired || w.ctx.Err() != nil {
		return
	}
	delay := 500 * time.Millisecond << min(in.restarts, 10)
	delay = min(delay, w.cfg.MaxBackoff)
	in.restarts++
	in.retry = time.AfterFunc(delay, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		in.retry = nil
		if w.ctx.Err() != nil || !in.desired || in.running || in.starting || in.stopping {
			return
		}
		if w.instances[id] == in {
			w.startLocked(id, in)
			w.notify()
		}
	})
}

func (w *Worker) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Changed implements link.Peer.
func (w *Worker) Changed() <-chan struct{} { return w.changed }

// Snapshot implements link.Peer: the node and every instance it knows.
func (w *Worker) Snapshot(ctx context.Context) *link.Report {
	w.reported.Store(true)
	rep := &link.Report{Node: &link.NodeReport{
		Name:     w.cfg.Name,
		Arch:     goruntime.GOARCH,
		Runtimes: w.Runtimes(),
		Labels:   w.cfg.Labels,
		Capacity: w.capacity,
		Metrics:  w.hostMetrics(ctx),
		Tunnel:   w.tunnel(),
	}}
	w.mu.Lock()
	rep.Instances = make([]link.InstanceStatus, 0, len(w.instances))
	for id, in := range w.instances {
		rep.Instances = append(rep.Instances, link.InstanceStatus{
			InstanceID: id, Generation: in.a.Generation, State: in.state, Reason: in.reason,
			ExitCode: in.exitCode, Restarts: in.restarts, PID: in.pid, StartedAt: in.started,
			CPU: in.cpuRate, MemoryMB: in.memoryMB, Limited: in.a.Limit != nil,
			IP: in.reportedIP(),
		})
		if in.running {
			rep.Node.Metrics.InstancesCPU += in.cpuRate
			rep.Node.Metrics.InstancesMemoryMB += in.memoryMB
		}
	}
	w.mu.Unlock()
	slices.SortFunc(rep.Instances, func(a, b link.InstanceStatus) int { return compare(a.InstanceID, b.InstanceID) })
	return rep
}

// reportedIP is the instance's address while it runs.
func (in *instance) reportedIP() string {
	if !in.running {
		return ""
	}
	return in.ip
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// usageInterval is how often instances' cgroups are read (while reports are
// taken): often enough for pressure control, rare enough to cost next to
// nothing per instance.
const usageInterval = 3 * time.Second

// sampleUsage reads the cgroup usage of running instances, at most once per
// usageInterval for each.
func (w *Worker) sampleUsage(ctx context.Context) {
	type probe struct {
		id string
		in *instance
		u  runtime.UsageReporter
	}
	now := time.Now()
	var due []probe
	w.mu.Lock()
	for id, in := range w.instances {
		if u, ok := w.drivers[in.a.Spec.Virtualization].(runtime.UsageReporter); ok && in.running && now.Sub(in.usageAt) >= usageInterval {
			due = append(due, probe{id, in, u})
		}
	}
	w.mu.Unlock()
	// A few probes at a time (a slow one must not hold up the rest), from
	// a fixed pool rather than a goroutine per instance.
	probes := make(chan probe)
	var wg sync.WaitGroup
	for range min(4, len(due)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range probes {
				w.probeUsage(ctx, p.id, p.in, p.u)
			}
		}()
	}
	for _, p := range due {
		probes <- p
	}
	close(probes)
	wg.Wait()
}

// probeUsage reads one instance's usage and turns it into a cpu rate.
func (w *Worker) probeUsage(ctx context.Context, id string, in *instance, u runtime.UsageReporter) {
	pctx, cancel := context.WithTimeout(ctx, usageInterval)
	defer cancel()
	cpu, mem, err := u.Usage(pctx, id)
	if err != nil {
		return
	}
	at := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !in.usageAt.IsZero() && cpu >= in.cpuSeconds {
		in.cpuRate = (cpu - in.cpuSeconds) / at.Sub(in.usageAt).Seconds()
	}
	in.cpuSeconds, in.usageAt, in.memoryMB = cpu, at, mem>>20
}

// hostMetrics samples the host at most once a second: reports can be much
// more frequent than that while instances start.
func (w *Worker) hostMetrics(ctx context.Context) api.HostMetrics {
	w.metricsMu.Lock()
	defer w.metricsMu.Unlock()
	if w.cfg.Host != nil && time.Since(w.metricsAt) >= time.Second {
		w.metrics = w.cfg.Host.Sample(ctx)
		w.metricsAt = time.Now()
	}
	return w.metrics
}

// Handle implements link.Peer: it answers relayed requests (logs).
func (w *Worker) Handle(ctx context.Context, r link.Request) link.Response {
	switch r.Kind {
	case link.KindLogs:
		w.mu.Lock()
		in, ok := w.instances[r.InstanceID]
		var virt string
		if ok {
			virt = in.a.Spec.Virtualization
		}
		w.mu.Unlock()
		d := w.drivers[virt]
		if !ok || d == nil {
			return link.Response{Error: "instance " + r.InstanceID + " is not on this worker", NotFound: true}
		}
		b, err := d.Logs(ctx, r.InstanceID, r.Tail)
		if err != nil {
			return link.Response{Error: err.Error()}
		}
		return link.Response{Data: b}
	}
	body, _ := json.Marshal(map[string]string{"kind": r.Kind})
	return link.Response{Error: "unknown request kind", Body: body}
}
