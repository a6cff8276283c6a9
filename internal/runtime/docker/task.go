package docker

import (
	"context"
	"errors"
	"fmt"
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

// Wait waits (through the daemon) for the container to stop running and
// tells how it ended. When ctx ends or the driver is closed first, the
// container runs on and Wait returns an error.
func (d *Driver) Wait(ctx context.Context, instanceID string) (runtime.Exit, error) {
	t, _ := d.tasks.Get(instanceID)
	if t == nil {
		return runtime.Exit{}, fmt.Errorf("wait for instance %s: %w", instanceID, runtime.ErrNotFound)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(d.ctx, cancel)()
	gone, err := d.waitExit(ctx, t)
	if err != nil {
		return runtime.Exit{}, fmt.Errorf("wait for instance %s: %w", instanceID, err)
	}
	e := runtime.Exit{At: time.Now(), Reason: reasonGone}
	if !gone {
		e = d.exitOf(t.containerID, t.stopping.Load(), "")
	}
	d.tasks.Delete(instanceID, t)
	close(t.done)
	return e, nil
}

// waitExit blocks until the container is no longer running. gone is true
// when the container disappeared instead. A broken connection to the daemon
// (a daemon restart) is retried until ctx ends.
func (d *Driver) waitExit(ctx context.Context, t *task) (gone bool, err error) {
	for {
		res := d.cli.ContainerWait(ctx, t.containerID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		// No case on ctx here: the client's goroutine must be able to
		// deliver whichever of its two results comes, or it would leak.
		// Cancelling ctx makes it deliver an error.
		select {
		case <-res.Result:
			return false, nil
		case err = <-res.Error:
		}
		switch {
		case ctx.Err() != nil:
			return false, ctx.Err()
		case cerrdefs.IsNotFound(err):
			return true, nil
		}
		d.log.Warn("waiting for container failed; retrying", "instance", t.id, "error", err)
		select {
		case <-ctx.Done():
			return false, ctx.Err()
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

// handle is the docker driver's runtime.Task.Handle.
type handle struct {
	ContainerID string    `json:"container_id"`
	StartedAt   time.Time `json:"started_at"`
}

// taskOf describes t for the worker.
func taskOf(t *task) (runtime.Task, error) {
	h, err := runtime.EncodeHandle(handle{ContainerID: t.containerID, StartedAt: t.startedAt})
	if err != nil {
		return runtime.Task{}, err
	}
	return runtime.Task{InstanceID: t.id, PID: t.pid, StartedAt: t.startedAt, Handle: h}, nil
}

// Done is closed once Wait has collected the task.
func (t *task) Done() <-chan struct{} { return t.done }
