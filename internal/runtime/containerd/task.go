package containerd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/v2/client"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// Exit reasons beyond "exited with code N".
const (
	reasonStopped = "stopped"
	reasonOOM     = "out of memory"
	reasonGone    = "container removed outside hedge"
	// reasonDown is appended to the reason of an exit that Recover finds.
	reasonDown = "while the worker was down"
)

// task is one supervised container task.
type task struct {
	id          string
	containerID string
	task        client.Task
	createdAt   time.Time
	pid         int
	startedAt   time.Time
	// exitC delivers the task's exit status (the wait is set up before the
	// task starts, so that an instance that ends at once is not missed).
	exitC <-chan client.ExitStatus

	stopping atomic.Bool
	// exited is set once the task's end is known, while its deletion is
	// still under way.
	exited atomic.Bool
	done   chan struct{}
}

// Wait waits (through containerd) for the task to end, tells how it ended
// and deletes the ended task (its shim goes away; the container and its log
// stay until Remove). When ctx ends or the driver is closed first, the task
// runs on and Wait returns an error.
func (d *Driver) Wait(ctx context.Context, instanceID string) (runtime.Exit, error) {
	t, _ := d.tasks.Get(instanceID)
	if t == nil {
		return runtime.Exit{}, fmt.Errorf("wait for instance %s: %w", instanceID, runtime.ErrNotFound)
	}
	ctx, cancel := context.WithCancel(d.withNamespace(ctx))
	defer cancel()
	defer context.AfterFunc(d.ctx, cancel)()
	st, gone, err := d.waitExit(ctx, t)
	if err != nil {
		return runtime.Exit{}, fmt.Errorf("wait for instance %s: %w", instanceID, err)
	}
	t.exited.Store(true)
	e := runtime.Exit{At: time.Now(), Reason: reasonGone}
	if !gone {
		e = d.exitOf(t.task, st, t.stopping.Load(), "")
		dctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
		if _, err := t.task.Delete(dctx); err != nil && !cerrdefs.IsNotFound(err) && d.ctx.Err() == nil {
			d.log.Warn("delete ended task", "instance", t.id, "error", err)
		}
		cancel()
	}
	d.tasks.Delete(instanceID, t)
	close(t.done)
	return e, nil
}

// waitExit blocks until the task has ended. gone is true when the task (or
// its container) disappeared instead. A broken connection to containerd (a
// daemon restart) is retried until ctx ends: the shim keeps the task, and its
// exit status, meanwhile.
func (d *Driver) waitExit(ctx context.Context, t *task) (st client.ExitStatus, gone bool, err error) {
	for {
		select {
		case st = <-t.exitC: // delivers, with an error once d.ctx ends
		case <-ctx.Done():
			return st, false, ctx.Err()
		}
		if st.Error() == nil {
			return st, false, nil
		}
		if d.ctx.Err() != nil {
			return st, false, runtime.ErrClosed
		}
		err := st.Error()
		for {
			if cerrdefs.IsNotFound(err) {
				return st, true, nil
			}
			d.log.Warn("waiting for task failed; retrying", "instance", t.id, "error", err)
			select {
			case <-ctx.Done():
				return st, false, ctx.Err()
			case <-time.After(time.Second):
			}
			var c client.Container
			if c, err = d.client.LoadContainer(ctx, t.containerID); err != nil {
				continue
			}
			var ct client.Task
			if ct, err = c.Task(ctx, nil); err != nil {
				continue
			}
			var exitC <-chan client.ExitStatus
			if exitC, err = ct.Wait(d.ctx); err == nil {
				t.task, t.exitC = ct, exitC
				break
			}
		}
	}
}

// exitOf tells how an ended task ended; suffix is appended to the reason
// ("while the worker was down"). It must run before the task is deleted,
// while its cgroup still tells whether it ran out of memory.
func (d *Driver) exitOf(ct client.Task, st client.ExitStatus, stopping bool, suffix string) runtime.Exit {
	code := int(st.ExitCode())
	e := runtime.Exit{Code: code, CodeKnown: true, At: st.ExitTime()}
	if e.At.IsZero() || e.At.Year() < 2000 {
		e.At = time.Now()
	}
	// The shim reports a task killed by a signal as 128+signal, the way a
	// shell does.
	if code > 128 && code < 128+65 {
		e.Signal = unix.SignalName(unix.Signal(code - 128))
	}
	switch {
	case e.Signal == "SIGKILL" && !stopping && d.oomKilled(ct):
		e.Reason = reasonOOM
	case stopping:
		e.Reason = reasonStopped
	case e.Signal != "":
		e.Reason = "killed by " + e.Signal
	default:
		e.Reason = "exited with code " + strconv.Itoa(code)
	}
	if suffix != "" {
		e.Reason += " " + suffix
	}
	return e
}

// oomKilled reports whether the kernel's OOM killer struck in the task's
// cgroup. Every run has a fresh cgroup, so any OOM kill counted is this
// run's.
func (d *Driver) oomKilled(ct client.Task) bool {
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	v, err := metrics(ctx, ct)
	if err != nil {
		return false
	}
	switch m := v.(type) {
	case *v1stats.Metrics:
		return m.MemoryOomControl != nil && m.MemoryOomControl.OomKill > 0
	case *v2stats.Metrics:
		return m.MemoryEvents != nil && m.MemoryEvents.OomKill > 0
	}
	return false
}

// metrics returns the task's cgroup statistics: *v1stats.Metrics or
// *v2stats.Metrics.
func metrics(ctx context.Context, ct client.Task) (any, error) {
	m, err := ct.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	if m.Data == nil {
		return nil, errors.New("no metrics")
	}
	return typeurl.UnmarshalAny(m.Data)
}

// handle is the containerd driver's runtime.Task.Handle: which run of the
// instance's container the task is.
type handle struct {
	ContainerID string `json:"container_id"`
	// CreatedAt is the container's creation time: container IDs are the
	// same for every run of an instance, creation times are not.
	CreatedAt time.Time `json:"container_created_at"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
}

// taskOf describes t for the worker.
func taskOf(t *task) (runtime.Task, error) {
	h, err := runtime.EncodeHandle(handle{ContainerID: t.containerID, CreatedAt: t.createdAt, PID: t.pid, StartedAt: t.startedAt})
	if err != nil {
		return runtime.Task{}, err
	}
	return runtime.Task{InstanceID: t.id, PID: t.pid, StartedAt: t.startedAt, Handle: h}, nil
}

// Done is closed once Wait has collected the task.
func (t *task) Done() <-chan struct{} { return t.done }
