package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	pid         int
	startedAt   time.Time

	stopping atomic.Bool
	// exited is set once the task's end is known, while its deletion is
	// still under way.
	exited atomic.Bool
	done   chan struct{}
}

// supervise is the task's one goroutine: it waits (through containerd) for
// the task to end, reports the exit once, deletes the ended task (its shim
// goes away; the container and its log stay until Remove) and lets Stop
// return. It returns without reporting when the driver is closed first; the
// task then keeps running, for a later driver to re-attach.
func (d *Driver) supervise(t *task, exitC <-chan client.ExitStatus) {
	defer d.wg.Done()
	st, gone, ok := d.waitExit(t, exitC)
	if !ok {
		return
	}
	t.exited.Store(true)
	var e runtime.Exit
	if gone {
		e = runtime.Exit{At: time.Now(), Reason: reasonGone}
	} else {
		e = d.exitOf(t.task, st, t.stopping.Load(), "")
	}
	d.report(t.id, e)
	if !gone {
		ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
		if _, err := t.task.Delete(ctx); err != nil && !cerrdefs.IsNotFound(err) && d.ctx.Err() == nil {
			d.log.Warn("delete ended task", "instance", t.id, "error", err)
		}
		cancel()
	}
	// The task stays known until it is deleted, so that a Stop or Remove
	// meanwhile waits for that instead of racing it.
	d.mu.Lock()
	if d.tasks[t.id] == t {
		delete(d.tasks, t.id)
	}
	d.mu.Unlock()
	close(t.done)
}

// waitExit blocks until the task has ended. gone is true when the task (or
// its container) disappeared instead; ok is false when the driver was closed
// first. A broken connection to containerd (a daemon restart) is retried:
// the shim keeps the task, and its exit status, meanwhile.
func (d *Driver) waitExit(t *task, exitC <-chan client.ExitStatus) (st client.ExitStatus, gone, ok bool) {
	for {
		st = <-exitC // the wait always delivers, with an error once d.ctx ends
		if st.Error() == nil {
			return st, false, true
		}
		if d.ctx.Err() != nil {
			return st, false, false
		}
		err := st.Error()
		for {
			if cerrdefs.IsNotFound(err) {
				return st, true, true
			}
			d.log.Warn("waiting for task failed; retrying", "instance", t.id, "error", err)
			select {
			case <-d.ctx.Done():
				return st, false, false
			case <-time.After(time.Second):
			}
			var c client.Container
			if c, err = d.client.LoadContainer(d.ctx, t.containerID); err != nil {
				continue
			}
			var ct client.Task
			if ct, err = c.Task(d.ctx, nil); err != nil {
				continue
			}
			if exitC, err = ct.Wait(d.ctx); err == nil {
				t.task = ct
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

// report hands an exit to OnExit and then records that it was reported, so
// that Recover does not report it again. Recording after OnExit means a
// crash in between reports it twice rather than never.
func (d *Driver) report(id string, e runtime.Exit) {
	d.onExit(id, e)
	if err := d.markExited(id, e.At); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("record instance exit", "instance", id, "error", err)
	}
}

// record is what the driver keeps on disk about a task (task.json): which
// run of the container it is, and whether its exit has been reported.
type record struct {
	InstanceID  string `json:"instance_id"`
	ContainerID string `json:"container_id"`
	// CreatedAt is the container's creation time: container IDs are the
	// same for every run of an instance, creation times are not.
	CreatedAt time.Time `json:"container_created_at"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	// ExitReportedAt is set once OnExit was called for the task.
	ExitReportedAt *time.Time `json:"exit_reported_at,omitempty"`
}

func (d *Driver) recordPath(id string) string {
	return filepath.Join(d.instanceDir(id), "task.json")
}

// saveRecord writes the task file atomically (rename), so that a crash never
// leaves half of one.
func (d *Driver) saveRecord(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.instanceDir(r.InstanceID), 0o755); err != nil {
		return err
	}
	path := d.recordPath(r.InstanceID)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (d *Driver) loadRecord(id string) (record, error) {
	var r record
	b, err := os.ReadFile(d.recordPath(id))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("parse %s: %w", d.recordPath(id), err)
	}
	return r, nil
}

// markExited records that the task's exit has been reported.
func (d *Driver) markExited(id string, at time.Time) error {
	d.recordMu.Lock()
	defer d.recordMu.Unlock()
	r, err := d.loadRecord(id)
	if err != nil {
		return err
	}
	r.ExitReportedAt = &at
	return d.saveRecord(r)
}
