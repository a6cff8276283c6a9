package process

import (
	"context"
	"encoding/json"
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
	if err := runtime.CheckID(instanceID); err != nil {
		return runtime.Task{}, fmt.Errorf("recover instance: %w", err)
	}
	var rec handle
	if err := json.Unmarshal(h, &rec); err != nil {
		return runtime.Task{}, fmt.Errorf("recover instance %s: handle: %w", instanceID, err)
	}
	t, err := d.attach(instanceID, rec)
	if err != nil {
		return runtime.Task{}, fmt.Errorf("recover instance %s: %w", instanceID, err)
	}
	if t == nil {
		return runtime.Task{InstanceID: instanceID, StartedAt: rec.StartedAt, Handle: h,
			Exited: &runtime.Exit{At: time.Now(), Reason: reasonDown}}, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		t.close()
		return runtime.Task{}, fmt.Errorf("recover instance %s: %w", instanceID, errClosed)
	case d.tasks[instanceID] != nil:
		t.close()
		return runtime.Task{}, fmt.Errorf("recover instance %s: already running", instanceID)
	}
	d.tasks[instanceID] = t
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
	return t, nil
}
