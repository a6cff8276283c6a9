package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// reasonDown is the Exit.Reason of a task found dead by Recover.
const reasonDown = "exited while the worker was down"

// Recover finds the tasks a previous worker left (their task.json records),
// re-attaches those still alive and returns them together with the tasks this
// driver already supervises. A task whose process is gone, or whose PID now
// belongs to another process (start time differs), is reported to OnExit
// with CodeKnown false, before Recover returns and on the caller's goroutine.
// Recover starts nothing.
func (d *Driver) Recover(ctx context.Context) ([]runtime.Task, error) {
	entries, err := os.ReadDir(filepath.Join(d.dataDir, "instances"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("recover: %w", err)
	}
	var tasks []runtime.Task
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return tasks, fmt.Errorf("recover: %w", err)
		}
		id := e.Name()
		if !e.IsDir() || checkID(id) != nil {
			continue
		}
		d.mu.Lock()
		t, busy := d.tasks[id], d.starting[id]
		d.mu.Unlock()
		if busy {
			continue
		}
		if t != nil {
			tasks = append(tasks, runtime.Task{InstanceID: id, PID: t.pid, StartedAt: t.startedAt})
			continue
		}
		rec, err := d.loadRecord(id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // never started, or removed meanwhile
		}
		if err != nil {
			d.log.Warn("recover: unreadable task record", "instance", id, "error", err)
			continue
		}
		if rec.ExitReportedAt != nil {
			continue
		}
		t, err = d.attach(rec)
		if err != nil {
			return tasks, fmt.Errorf("recover instance %s: %w", id, err)
		}
		if t == nil {
			d.report(id, runtime.Exit{At: time.Now(), Reason: reasonDown})
			continue
		}
		tasks = append(tasks, runtime.Task{InstanceID: id, PID: t.pid, StartedAt: t.startedAt})
	}
	return tasks, nil
}

// attach starts supervising the process of rec if it is still the same,
// living process; it returns nil when it is not.
func (d *Driver) attach(rec record) (*task, error) {
	t := &task{
		id: rec.InstanceID, pid: rec.PID, pgid: rec.PGID, startTicks: rec.StartTicks,
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
		if t.pidfd != nil {
			if err == nil && ticks == rec.StartTicks {
				// The recorded process, ended but not reaped: it is this
				// process's own child (a worker restarted in-process, as
				// in tests). Reap it so it does not linger as a zombie.
				reapPidfd(t.pidfd)
			}
			_ = t.pidfd.Close()
		}
		return nil, nil
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		if t.pidfd != nil {
			_ = t.pidfd.Close()
		}
		return nil, errClosed
	}
	if d.tasks[t.id] != nil {
		d.mu.Unlock()
		if t.pidfd != nil {
			_ = t.pidfd.Close()
		}
		return nil, errors.New("already supervised")
	}
	d.tasks[t.id] = t
	d.wg.Add(1) // a re-attached task is always interruptible
	d.mu.Unlock()
	go d.supervise(t)
	return t, nil
}
