package docker

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

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// Exit reasons beyond "exited with code N".
const (
	reasonStopped = "stopped"
	reasonOOM     = "out of memory"
	reasonGone    = "container removed outside hedge"
)

// task is one supervised container.
type task struct {
	id          string
	containerID string
	pid         int
	startedAt   time.Time

	stopping atomic.Bool
	done     chan struct{}
}

func newTask(id, containerID string, st *container.State) *task {
	pid, at := started(st)
	return &task{id: id, containerID: containerID, pid: pid, startedAt: at, done: make(chan struct{})}
}

// supervise is the task's one goroutine: it waits (through the daemon) for
// the container to stop running, reports the exit once and lets Stop
// return. It returns without reporting when the driver is closed first; the
// container then keeps running, for a later driver to re-attach.
func (d *Driver) supervise(t *task) {
	defer d.wg.Done()
	gone, ok := d.waitExit(t)
	if !ok {
		return
	}
	var e runtime.Exit
	if gone {
		e = runtime.Exit{At: time.Now(), Reason: reasonGone}
	} else {
		e = d.exitOf(t.containerID, t.stopping.Load(), "")
	}
	d.mu.Lock()
	if d.tasks[t.id] == t {
		delete(d.tasks, t.id)
	}
	d.mu.Unlock()
	d.report(t.id, e)
	close(t.done)
}

// waitExit blocks until the container is no longer running. gone is true
// when the container disappeared instead; ok is false when the driver was
// closed first. A broken connection to the daemon (a daemon restart) is
// retried.
func (d *Driver) waitExit(t *task) (gone, ok bool) {
	for {
		res := d.cli.ContainerWait(d.ctx, t.containerID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		// No case on d.ctx here: the client's goroutine must be able to
		// deliver whichever of its two results comes, or it would leak.
		// Cancelling d.ctx makes it deliver an error.
		var err error
		select {
		case <-res.Result:
			return false, true
		case err = <-res.Error:
		}
		switch {
		case d.ctx.Err() != nil:
			return false, false
		case cerrdefs.IsNotFound(err):
			return true, true
		}
		d.log.Warn("waiting for container failed; retrying", "instance", t.id, "error", err)
		select {
		case <-d.ctx.Done():
			return false, false
		case <-time.After(time.Second):
		}
	}
}

// exitOf inspects an ended container and tells how it ended. suffix is
// appended to the reason ("while the worker was down").
func (d *Driver) exitOf(containerID string, stopping bool, suffix string) runtime.Exit {
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	ins, err := d.cli.ContainerInspect(ctx, containerID, client.ContainerInspectOptions{})
	if err != nil || ins.Container.State == nil {
		if err == nil {
			err = errors.New("no state")
		}
		return runtime.Exit{At: time.Now(), Reason: "exit status lost: " + err.Error()}
	}
	st := ins.Container.State
	e := runtime.Exit{Code: st.ExitCode, CodeKnown: true, At: time.Now()}
	if at, err := time.Parse(time.RFC3339Nano, st.FinishedAt); err == nil && at.Year() >= 2000 {
		e.At = at
	}
	// The daemon reports a container killed by a signal as 128+signal, the
	// way a shell does; that is all it says about signals.
	if e.Code > 128 && e.Code < 128+65 {
		e.Signal = unix.SignalName(unix.Signal(e.Code - 128))
	}
	switch {
	case st.OOMKilled:
		e.Reason = reasonOOM
	case stopping:
		e.Reason = reasonStopped
	default:
		e.Reason = "exited with code " + strconv.Itoa(e.Code)
	}
	if suffix != "" {
		e.Reason += " " + suffix
	}
	return e
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
// container runs the instance and whether its exit has been reported.
type record struct {
	InstanceID  string    `json:"instance_id"`
	ContainerID string    `json:"container_id"`
	StartedAt   time.Time `json:"started_at"`
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
