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
// lets a test end a task (exit) and make starts fail, and ends a task's Wait
// as a real driver does: when the task ends, also when it is stopped.
type fakeDriver struct {
	name string

	mu        sync.Mutex
	nextPID   int
	live      map[string]int // instance -> pid
	ends      map[string]chan runtime.Exit
	starts    []string
	startedAt map[string][]time.Time
	stops     []string
	removes   []string
	calls     []string // "start i1", "stop i1", "remove i1", in order
	failStart map[string]error
	// exitInStart makes the task end as soon as it has started, as a
	// process that ends at once can.
	exitInStart map[string]runtime.Exit
	// recovered are the tasks Recover finds running.
	recovered []runtime.Task
	// exitedMeanwhile are reported by Recover as ended while the worker
	// was down.
	exitedMeanwhile []string
	logs            map[string][]byte
	logCalls        []string
	// networks is the Spec.Network of each instance's last start.
	networks map[string]*runtime.Network
}

var _ runtime.Driver = (*fakeDriver)(nil)

func newFakeDriver(name string) *fakeDriver {
	return &fakeDriver{
		name: name, nextPID: 1000, live: map[string]int{}, ends: map[string]chan runtime.Exit{}, startedAt: map[string][]time.Time{},
		failStart: map[string]error{}, exitInStart: map[string]runtime.Exit{}, logs: map[string][]byte{},
		networks: map[string]*runtime.Network{},
	}
}

func (d *fakeDriver) Name() string { return d.name }

func (d *fakeDriver) Start(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	id := spec.InstanceID
	d.mu.Lock()
	defer d.mu.Unlock()
	d.starts = append(d.starts, id)
	d.calls = append(d.calls, "start "+id)
	d.startedAt[id] = append(d.startedAt[id], time.Now())
	d.networks[id] = spec.Network
	if err := d.failStart[id]; err != nil {
		return runtime.Task{}, err
	}
	if _, ok := d.live[id]; ok {
		return runtime.Task{}, fmt.Errorf("start instance %s: already running", id)
	}
	d.nextPID++
	pid := d.nextPID
	d.live[id] = pid
	end := make(chan runtime.Exit, 1)
	d.ends[id] = end
	if e, exitNow := d.exitInStart[id]; exitNow {
		delete(d.live, id)
		end <- e
	}
	return runtime.Task{InstanceID: id, PID: pid, StartedAt: time.Now(), Handle: []byte(fmt.Sprintf(`{"pid":%d}`, pid))}, nil
}

func (d *fakeDriver) Wait(ctx context.Context, id string) (runtime.Exit, error) {
	d.mu.Lock()
	end := d.ends[id]
	d.mu.Unlock()
	if end == nil {
		return runtime.Exit{}, fmt.Errorf("wait for %s: %w", id, runtime.ErrNotFound)
	}
	select {
	case e := <-end:
		d.mu.Lock()
		if d.ends[id] == end {
			delete(d.ends, id)
		}
		d.mu.Unlock()
		return e, nil
	case <-ctx.Done():
		return runtime.Exit{}, ctx.Err()
	}
}

// endLocked ends the live task id with e; it reports whether there was one.
func (d *fakeDriver) endLocked(id string, e runtime.Exit) bool {
	if _, alive := d.live[id]; !alive {
		return false
	}
	delete(d.live, id)
	d.ends[id] <- e
	return true
}

func (d *fakeDriver) Stop(ctx context.Context, id string, grace time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stops = append(d.stops, id)
	d.calls = append(d.calls, "stop "+id)
	d.endLocked(id, runtime.Exit{Code: 143, CodeKnown: true, Signal: "SIGTERM", At: time.Now(), Reason: "stopped"})
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

func (d *fakeDriver) Recover(ctx context.Context, id string, handle []byte) (runtime.Task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "recover "+id)
	if slices.Contains(d.exitedMeanwhile, id) {
		return runtime.Task{InstanceID: id, Handle: handle, Exited: &runtime.Exit{At: time.Now(), Reason: "exited while the worker was down"}}, nil
	}
	for _, t := range d.recovered {
		if t.InstanceID == id {
			d.live[id] = t.PID
			d.ends[id] = make(chan runtime.Exit, 1)
			t.Handle = handle
			return t, nil
		}
	}
	return runtime.Task{}, fmt.Errorf("recover %s: %w", id, runtime.ErrNotFound)
}

// exit ends a live task as if its process had exited, and returns once w
// has acted on it (the instance no longer runs with that task's pid).
func (d *fakeDriver) exit(t *testing.T, w *Worker, id string, e runtime.Exit) {
	t.Helper()
	d.mu.Lock()
	pid := d.live[id]
	ended := d.endLocked(id, e)
	d.mu.Unlock()
	if !ended {
		t.Fatalf("exit %s: no live task", id)
	}
	waitUntil(t, "the worker to act on the exit of "+id, func() bool {
		st, ok := status(w, id)
		return !ok || st.State != api.StateRunning || st.PID != pid
	})
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
	// net is the instance network, if any.
	net NetPlane
	// attachWait bounds the wait for an address (default: the worker's).
	attachWait time.Duration
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
		Capacity: &api.Resources{VCPUs: 4, MemoryMB: 4096}, Net: o.net,
	})
	if o.attachWait > 0 {
		w.attachWait = o.attachWait
	}
	for _, dd := range append([]*fakeDriver{d}, o.more...) {
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
