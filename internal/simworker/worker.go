package simworker

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
)

// Worker is one simulated worker. It implements link.Peer: the cluster
// sees a worker that runs whatever it is assigned, which becomes RUNNING
// StartDelay after it was assigned.
type Worker struct {
	name       string
	capacity   api.Resources
	startDelay time.Duration
	now        func() time.Time
	changed    chan struct{}

	mu        sync.Mutex
	instances map[string]*instance
	closed    bool
}

// instance is what a simulated worker knows of one assigned instance.
type instance struct {
	a       link.Assignment
	state   api.InstanceState
	started *time.Time
	timer   *time.Timer
}

var _ link.Peer = (*Worker)(nil)

// NewWorker returns a simulated worker named name that offers capacity and
// turns an assignment into RUNNING after startDelay.
func NewWorker(name string, capacity api.Resources, startDelay time.Duration) *Worker {
	return &Worker{
		name:       name,
		capacity:   capacity,
		startDelay: startDelay,
		now:        time.Now,
		changed:    make(chan struct{}, 1),
		instances:  map[string]*instance{},
	}
}

// Name is the name the worker joins under.
func (w *Worker) Name() string { return w.name }

// Apply implements link.Peer: new instances (or new generations) start,
// instances no longer assigned are forgotten.
func (w *Worker) Apply(_ context.Context, a *link.Assignments) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	want := make(map[string]bool, len(a.Items))
	for _, it := range a.Items {
		want[it.InstanceID] = true
		in, ok := w.instances[it.InstanceID]
		if ok && in.a.Generation == it.Generation {
			in.a = it // a new limit, say: nothing to simulate
			continue
		}
		if ok {
			in.timer.Stop()
		}
		in = &instance{a: it, state: api.StateStarting}
		w.instances[it.InstanceID] = in
		id, gen := it.InstanceID, it.Generation
		in.timer = time.AfterFunc(w.startDelay, func() { w.run(id, gen) })
	}
	for id, in := range w.instances {
		if !want[id] {
			in.timer.Stop()
			delete(w.instances, id)
		}
	}
	w.notify()
	return nil
}

// run marks generation gen of instance id RUNNING, if it is still assigned.
func (w *Worker) run(id string, gen uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	in, ok := w.instances[id]
	if !ok || in.a.Generation != gen || w.closed {
		return
	}
	t := w.now()
	in.state, in.started = api.StateRunning, &t
	w.notify()
}

func (w *Worker) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Changed implements link.Peer.
func (w *Worker) Changed() <-chan struct{} { return w.changed }

// Snapshot implements link.Peer: the node, with simulated metrics that
// follow what it runs, and every instance.
func (w *Worker) Snapshot(context.Context) *link.Report {
	w.mu.Lock()
	sts := make([]link.InstanceStatus, 0, len(w.instances))
	var used api.Resources
	for id, in := range w.instances {
		sts = append(sts, link.InstanceStatus{
			InstanceID: id, Generation: in.a.Generation, State: in.state, StartedAt: in.started,
		})
		if in.state == api.StateRunning {
			used = used.Add(api.Resources{VCPUs: in.a.Spec.VCPUs, MemoryMB: in.a.Spec.MemoryMB})
		}
	}
	w.mu.Unlock()
	slices.SortFunc(sts, func(a, b link.InstanceStatus) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	memTotal := max(w.capacity.MemoryMB, 1)
	memUsed := min(used.MemoryMB+64, memTotal)
	return &link.Report{
		Node: &link.NodeReport{
			Name:     w.name,
			Arch:     runtime.GOARCH,
			Runtimes: []string{api.VirtContainer, api.VirtProcess},
			Labels:   map[string]string{"hedge.simulated": "true"},
			Capacity: w.capacity,
			Metrics: api.HostMetrics{
				CPUPercent:        min(100, 2+100*used.VCPUs/max(w.capacity.VCPUs, 0.001)),
				Cores:             max(int(w.capacity.VCPUs), 1),
				MemoryTotalMB:     memTotal,
				MemoryFreeMB:      memTotal - memUsed,
				MemoryPercent:     100 * float64(memUsed) / float64(memTotal),
				DiskTotalMB:       32 << 10,
				DiskFreeMB:        16 << 10,
				InstancesCPU:      used.VCPUs,
				InstancesMemoryMB: used.MemoryMB,
			},
		},
		Instances: sts,
	}
}

// Handle implements link.Peer: a simulated worker has no logs to give.
func (w *Worker) Handle(_ context.Context, r link.Request) link.Response {
	return link.Response{Error: fmt.Sprintf("simulated worker %s runs no processes: no %s for instance %s", w.name, r.Kind, r.InstanceID)}
}

// stop cancels the pending simulated starts.
func (w *Worker) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for _, in := range w.instances {
		in.timer.Stop()
	}
}
