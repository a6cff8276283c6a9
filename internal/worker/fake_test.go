package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/store"
)

// fakeDriver is a runtime.Driver that runs nothing. It records every call,
// lets a test end a task (exit) and make starts fail, and calls the worker's
// OnExit as a real driver does: when a task ends, also when it is stopped.
type fakeDriver struct {
	name string

	mu        sync.Mutex
	onExit    runtime.ExitFunc
	nextPID   int
	live      map[string]int // instance -> pid
	starts    []string
	startedAt map[string][]time.Time
	stops     []string
	removes   []string
	calls     []string // "start i1", "stop i1", "remove i1", in order
	failStart map[string]error
	// exitInStart makes Start report the task's exit before it returns, as
	// a process that ends at once can.
	exitInStart map[string]runtime.Exit
	recovered   []runtime.Task
	// exitedMeanwhile are reported from Recover, as ended while the worker
	// was down.
	exitedMeanwhile []string
	logs            map[string][]byte
	logCalls        []string
}

var _ runtime.Driver = (*fakeDriver)(nil)

func newFakeDriver(name string) *fakeDriver {
	return &fakeDriver{
		name: name, nextPID: 1000, live: map[string]int{}, startedAt: map[string][]time.Time{},
		failStart: map[string]error{}, exitInStart: map[string]runtime.Exit{}, logs: map[string][]byte{},
	}
}

func (d *fakeDriver) Name() string { return d.name }

func (d *fakeDriver) setExitFunc(f runtime.ExitFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onExit = f
}

func (d *fakeDriver) Start(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	id := spec.InstanceID
	d.mu.Lock()
	d.starts = append(d.starts, id)
	d.calls = append(d.calls, "start "+id)
	d.startedAt[id] = append(d.startedAt[id], time.Now())
	if err := d.failStart[id]; err != nil {
		d.mu.Unlock()
		return runtime.Task{}, err
	}
	if _, ok := d.live[id]; ok {
		d.mu.Unlock()
		return runtime.Task{}, fmt.Errorf("start instance %s: already running", id)
	}
	d.nextPID++
	pid := d.nextPID
	d.live[id] = pid
	e, exitNow := d.exitInStart[id]
	onExit := d.onExit
	if exitNow {
		delete(d.live, id)
	}
	d.mu.Unlock()
	if exitNow {
		onExit(id, e)
	}
	return runtime.Task{InstanceID: id, PID: pid, StartedAt: time.Now()}, nil
}

func (d *fakeDriver) Stop(ctx context.Context, id string, grace time.Duration) error {
	d.mu.Lock()
	d.stops = append(d.stops, id)
	d.calls = append(d.calls, "stop "+id)
	_, alive := d.live[id]
	delete(d.live, id)
	onExit := d.onExit
	d.mu.Unlock()
	if alive {
		onExit(id, runtime.Exit{Code: 143, CodeKnown: true, Signal: "SIGTERM", At: time.Now(), Reason: "stopped"})
	}
	return nil
}

func (d *fakeDriver) Remove(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removes = append(d.removes, id)
	d.calls = append(d.calls, "remove "+id)
	return nil
}

func (d *fakeDriver) Logs(ctx context.Context, id string, tail int) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.logCalls = append(d.logCalls, fmt.Sprintf("%s tail=%d", id, tail))
	b, ok := d.logs[id]
	if !ok {
		return nil, fmt.Errorf("logs of %s: %w", id, runtime.ErrNotFound)
	}
	return b, nil
}

func (d *fakeDriver) Recover(ctx context.Context) ([]runtime.Task, error) {
	d.mu.Lock()
	tasks := slices.Clone(d.recovered)
	for _, t := range tasks {
		d.live[t.InstanceID] = t.PID
	}
	ended := slices.Clone(d.exitedMeanwhile)
	onExit := d.onExit
	d.mu.Unlock()
	for _, id := range ended {
		onExit(id, runtime.Exit{At: time.Now(), Reason: "exited while the worker was down"})
	}
	return tasks, nil
}

// exit ends a live task as if its process had exited.
func (d *fakeDriver) exit(t *testing.T, id string, e runtime.Exit) {
	t.Helper()
	d.mu.Lock()
	_, alive := d.live[id]
	delete(d.live, id)
	onExit := d.onExit
	d.mu.Unlock()
	if !alive {
		t.Fatalf("exit %s: no live task", id)
	}
	onExit(id, e)
}

func (d *fakeDriver) startCount(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, s := range d.starts {
		if s == id {
			n++
		}
	}
	return n
}

func (d *fakeDriver) callLog() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

func (d *fakeDriver) isLive(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.live[id]
	return ok
}

// --- worker harness ---

const waitFor = 5 * time.Second

type workerOptions struct {
	store      store.Store
	maxBackoff time.Duration
	// more drivers besides the one under test.
	more []*fakeDriver
}

// startWorker starts a worker with driver d; it is stopped (its context
// cancelled and its background work waited for) when the test ends, or
// earlier with the returned stop.
func startWorker(t *testing.T, d *fakeDriver, o workerOptions) (*Worker, func()) {
	t.Helper()
	if o.store == nil {
		o.store = store.NewMemory()
	}
	if o.maxBackoff == 0 {
		o.maxBackoff = 10 * time.Millisecond
	}
	w := New(Config{
		Name: "n1", Store: o.store, MaxBackoff: o.maxBackoff, StopGrace: time.Second,
		Capacity: &api.Resources{VCPUs: 4, MemoryMB: 4096},
	})
	for _, dd := range append([]*fakeDriver{d}, o.more...) {
		dd.setExitFunc(w.OnExit)
		w.AddDriver(dd)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := w.Start(ctx); err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			w.Wait()
		})
	}
	t.Cleanup(stop)
	return w, stop
}

// apply hands the worker a desired set. The worker does not look at the
// revision (the link does), so it is left at 0.
func apply(t *testing.T, w *Worker, items ...link.Assignment) {
	t.Helper()
	if items == nil {
		items = []link.Assignment{}
	}
	if err := w.Apply(context.Background(), &link.Assignments{Items: items}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// assignment is a process instance of a long-running service.
func assignment(id string, gen uint64, edits ...func(*api.ServiceSpec)) link.Assignment {
	a := link.Assignment{
		InstanceID: id, ServiceID: "svc", AppName: "shop", Generation: gen,
		Spec: api.ServiceSpec{Name: "web", Namespace: "test", Virtualization: "process", Code: "/bin/true", MemoryMB: 64, VCPUs: 0.5},
	}
	for _, e := range edits {
		e(&a.Spec)
	}
	return a
}

func oneShot(s *api.ServiceSpec) { s.OneShot = true }

func policy(p string) func(*api.ServiceSpec) {
	return func(s *api.ServiceSpec) { s.RestartPolicy = p }
}

// status returns an instance as the worker reports it.
func status(w *Worker, id string) (link.InstanceStatus, bool) {
	for _, st := range w.Snapshot(context.Background()).Instances {
		if st.InstanceID == id {
			return st, true
		}
	}
	return link.InstanceStatus{}, false
}

// waitUntil polls cond until it holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// eventually polls cond for at most d and reports whether it came to hold.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// waitState waits until an instance is reported in state and returns it.
func waitState(t *testing.T, w *Worker, id string, state api.InstanceState) link.InstanceStatus {
	t.Helper()
	var st link.InstanceStatus
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		var ok bool
		if st, ok = status(w, id); ok && st.State == state {
			return st
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s never became %s; last %+v", id, state, st)
	return st
}

var errPull = errors.New("pull docker.io/library/nope: not found")
