package process

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// task is one supervised instance. It is small on purpose: a worker keeps a
// thousand of them.
type task struct {
	id         string
	pid        int
	pgid       int
	startTicks uint64
	startedAt  time.Time
	// child is true when the worker forked the process itself and can
	// therefore collect its exit status; false for a re-attached process.
	child bool
	// pidfd refers to the process for its whole life (no PID reuse can fool
	// it); waiting on it parks the supervising goroutine in the netpoller
	// without holding an OS thread. nil where the kernel has no pidfds.
	pidfd *os.File

	stopping atomic.Bool
	// mu is held while signalling the process group and while reaping, so
	// that a signal never reaches a PID that has already been reused.
	mu     sync.Mutex
	exited bool
	done   chan struct{}
}

// interruptible reports whether Driver.Close can end the task's goroutine,
// and so whether Close waits for it. Only the fallback wait for a child on a
// kernel without pidfds cannot be interrupted.
func (t *task) interruptible() bool { return t.pidfd != nil || !t.child }

// signal sends sig to the task's process group, unless it is gone already.
func (t *task) signal(sig unix.Signal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.exited {
		_ = unix.Kill(-t.pgid, sig)
	}
}

// supervise is the task's one goroutine: it waits for the process to end,
// reports the exit once and lets Stop return. It returns without reporting
// when the driver is closed first; the process then keeps running, for a
// later driver to re-attach.
func (d *Driver) supervise(t *task) {
	if t.interruptible() {
		defer d.wg.Done()
	}
	ended := false
	if t.pidfd != nil {
		ended = waitPidfd(t.pidfd) == nil
	} else {
		ended = d.waitWithoutPidfd(t)
	}
	if !ended {
		return
	}
	e := t.reap()
	if t.pidfd != nil {
		_ = t.pidfd.Close()
	}
	if t.stopping.Load() {
		e.Reason = "stopped"
	}
	d.mu.Lock()
	if d.tasks[t.id] == t {
		delete(d.tasks, t.id)
	}
	d.mu.Unlock()
	d.report(t.id, e)
	close(t.done)
}

// report hands an exit to OnExit and then records in the task file that it
// was reported, so that Recover does not report it again. Recording after
// OnExit means a crash in between reports it twice rather than never.
func (d *Driver) report(id string, e runtime.Exit) {
	d.onExit(id, e)
	if err := d.markExited(id, e.At); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("record instance exit", "instance", id, "error", err)
	}
}

// waitPidfd parks until the process behind pidfd has ended, or pidfd is
// closed (by Driver.Close).
func waitPidfd(pidfd *os.File) error {
	rc, err := pidfd.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, 0)
			if err == unix.EINTR {
				continue
			}
			return err == nil && n > 0
		}
	})
}

// waitWithoutPidfd is the fallback for kernels without pidfds (before 5.3):
// a child is waited for with waitid (holding a thread), a re-attached process
// is polled in /proc. It reports false when the driver was closed first.
func (d *Driver) waitWithoutPidfd(t *task) bool {
	if t.child {
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, t.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				return true
			}
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return false
		case <-tick.C:
		}
		if !alive(t.pid, t.startTicks) {
			return true
		}
	}
}

// reap collects the ended process. Before that, while the dead leader still
// holds its PID (and so the group ID), the rest of its process group is
// killed: an instance is its whole group, and nothing of it may go on running
// unsupervised.
func (t *task) reap() runtime.Exit {
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = unix.Kill(-t.pgid, unix.SIGKILL)
	t.exited = true
	if !t.child {
		// Not our child, unless the worker that started it is this very
		// process (tests); then reap it so it does not linger as a zombie.
		if t.pidfd != nil {
			reapPidfd(t.pidfd)
		}
		return runtime.Exit{At: time.Now(), Reason: "exited (exit code unknown: re-attached after a worker restart)"}
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(t.pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return runtime.Exit{At: time.Now(), Reason: fmt.Sprintf("exit status lost: %v", err)}
		}
		return exitOf(ws)
	}
}

// reapPidfd collects the ended process behind pidfd if it is a child of this
// process; for any other process it does nothing.
func reapPidfd(pidfd *os.File) {
	rc, err := pidfd.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		var info unix.Siginfo
		_ = unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG, nil)
	})
}

// exitOf turns a wait status into an Exit.
func exitOf(ws unix.WaitStatus) runtime.Exit {
	e := runtime.Exit{At: time.Now(), CodeKnown: true}
	switch {
	case ws.Signaled():
		e.Code = 128 + int(ws.Signal())
		e.Signal = unix.SignalName(ws.Signal())
		e.Reason = "killed by " + e.Signal
	default:
		e.Code = ws.ExitStatus()
		e.Reason = "exited with code " + strconv.Itoa(e.Code)
	}
	return e
}

// procStat reads a process's state letter and start time (field 22 of
// /proc/<pid>/stat, in clock ticks after boot). The start time tells a
// process from a later one that got the same PID.
func procStat(pid int) (state byte, startTicks uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := bytes.Fields(b[i+2:])
	const startField = 22 - 3 // fields here start at field 3, the state
	if len(fields) <= startField || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	startTicks, err = strconv.ParseUint(string(fields[startField]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return fields[0][0], startTicks, nil
}

// alive reports whether pid is still the process that started at startTicks
// and has not ended (a zombie has ended).
func alive(pid int, startTicks uint64) bool {
	state, ticks, err := procStat(pid)
	return err == nil && ticks == startTicks && state != 'Z' && state != 'X'
}

// record is what the driver keeps on disk about a task (task.json) so that a
// restarted worker can find its processes again.
type record struct {
	InstanceID string `json:"instance_id"`
	PID        int    `json:"pid"`
	PGID       int    `json:"pgid"`
	// StartTicks is field 22 of /proc/<pid>/stat: it guards against PID
	// reuse.
	StartTicks uint64    `json:"start_ticks"`
	StartedAt  time.Time `json:"started_at"`
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
