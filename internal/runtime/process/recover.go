package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// reasonDown is the Exit.Reason of a task found dead by Recover.
const reasonDown = "exited while the worker was down"

// Recover re-attaches the process that handle (from Start, perhaps by an
// earlier worker) describes. For a process that is gone, or whose PID now
// belongs to another process (its start time differs), it returns
// Task.Exited, with CodeKnown false. Recover starts nothing.
func (d *Driver) Recover(ctx context.Context, instanceID string, h []byte) (runtime.Task, error) {
	var rec handle
	if err := runtime.DecodeHandle(instanceID, h, &rec); err != nil {
		return runtime.Task{}, fmt.Errorf("recover: %w", err)
	}
	t, err := d.attach(instanceID, rec)
	if err != nil {
		return runtime.Task{}, fmt.Errorf("recover instance %s: %w", instanceID, err)
	}
	if t == nil {
		return runtime.Task{InstanceID: instanceID, StartedAt: rec.StartedAt, Handle: h,
			Exited: &runtime.Exit{At: time.Now(), Reason: reasonDown}}, nil
	}
	if err := d.tasks.Add(instanceID, t); err != nil {
		t.close()
		return runtime.Task{}, fmt.Errorf("recover instance %s: %w", instanceID, err)
	}
	return taskOf(t)
}

// attach returns the task of rec, holding a pidfd on its process; nil when
// the process is no longer the recorded, living one.
func (d *Driver) attach(id string, rec handle) (*task, error) {
	t := &task{
		id: id, pid: rec.PID, pgid: rec.PGID, startTicks: rec.StartTicks,
		startedAt: rec.StartedAt, done: make(chan struct{}),
	}
	if rec.PID <= 0 || rec.PGID <= 0 {
		return nil, nil
	}
	if d.pidfds {
		fd, err := unix.PidfdOpen(rec.PID, unix.PIDFD_NONBLOCK)
		if errors.Is(err, unix.ESRCH) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("open pidfd of %d: %w", rec.PID, err)
		}
		t.pidfd = os.NewFile(uintptr(fd), "pidfd")
	}
	// Checked after opening the pidfd: if the PID is still the recorded
	// process now, the pidfd refers to it.
	state, ticks, err := procStat(rec.PID)
	if err != nil || ticks != rec.StartTicks || state == 'Z' || state == 'X' {
		if t.pidfd != nil && err == nil && ticks == rec.StartTicks {
			// The recorded process, ended but not reaped: it is this
			// process's own child (a worker restarted in-process, as in
			// tests). Reap it so it does not linger as a zombie.
			reapPidfd(t.pidfd)
		}
		t.close()
		return nil, nil
	}
	if d.cg.enabled() {
		if _, err := os.Stat(d.cg.dirs(id)[0]); err != nil {
			d.cg.outside.Store(true) // started without its cgroup, or it is gone
		}
	}
	return t, nil
}
