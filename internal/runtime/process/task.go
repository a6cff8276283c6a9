package process

import (
	"bytes"
	"context"
	"fmt"
	"os"
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
	// sandboxed is true when the process is the sandbox's init (ADR 012),
	// which records how the instance's program ended.
	sandboxed bool
	// pidfd refers to the process for its whole life (no PID reuse can fool
	// it); waiting on it parks the supervising goroutine in the netpoller
	// without holding an OS thread. nil where the kernel has no pidfds.
	pidfd *os.File

	// usageMu guards the last usage read (see Driver.Usage).
	usageMu     sync.Mutex
	cpuSeconds  float64
	memoryBytes int64
	memoryAge   int

	stopping atomic.Bool
	// mu is held while signalling the process group and while reaping, so
	// that a signal never reaches a PID that has already been reused.
	mu     sync.Mutex
	exited bool
	done   chan struct{}
}

// signal sends sig to the task's process group, unless it is gone already.
func (t *task) signal(sig unix.Signal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.exited {
		_ = unix.Kill(-t.pgid, sig)
	}
}

// Wait parks until the task's process has ended, reaps it (with the rest of
// its process group) and returns how it ended. A task that Recover found
// XX ends or the driver is closed first, the
// process goes on running and Wait returns an error.
func (d *Driver) Wait(ctx context.Context, instanceID string) (runtime.Exit, error) {
	t, _ := d.tasks.Get(instanceID)
	if t == nil {
		return runtime.Exit{}, fmt.Errorf("wait for instance %s: %w", instanceID, runtime.ErrNotFound)
	}
	if err := d.waitEnd(ctx, t); err != nil {
		return runtime.Exit{}, fmt.Errorf("wait for instance %s: %w", instanceID, err)
	}
	e := t.reap()
	if t.sandboxed && e.CodeKnown && e.Signal == "" {
		if sig := d.sandboxSignal(instanceID, e.Code); sig != 0 {
			e.Signal = unix.SignalName(sig)
			e.Reason = "killed by " + e.Signal
		}
	}
	t.close()
	if t.stopping.Load() {
		e.Reason = "stopped"
	}
	d.tasks.Delete(instanceID, t)
	close(t.done)
	return e, nil
}

// waitEnd returns nil once the task's process has ended, or an error when
// ctx ends or the driver is closed first.
func (d *Driver) waitEnd(ctx context.Context, t *task) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopClose := context.AfterFunc(d.ctx, cancel)
	defer stopClose()
	if t.pidfd == nil {
		return d.waitWithoutPidfd(ctx, t)
	}
	// A deadline in the past wakes the read parked in the netpoller.
	_ = t.pidfd.SetReadDeadline(time.Time{})
	stopWake := context.AfterFunc(ctx, func() { _ = t.pidfd.SetReadDeadline(time.Unix(1, 0)) })
	defer stopWake()
	if err := waitPidfd(t.pidfd); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	return nil
}

// waitWithoutPidfd is the fallback for kernels without pidfds (before 5.3):
// a child is waited for with waitid (holding a thread), a re-attached process
// is polled in /proc. It returns an error when ctx ends first.
func (d *Driver) waitWithoutPidfd(ctx context.Context, t *task) error {
	if t.child {
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, t.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				return nil
			}
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if !alive(t.pid, t.startTicks) {
			return nil
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

// handle is the process driver's runtime.Task.Handle: what finds the
// process again after a worker restart.
type handle struct {
	PID  int `json:"pid"`
	PGID int `json:"pgid"`
	// StartTicks is field 22 of /proc/<pid>/stat: it guards against PID
	// reuse.
	StartTicks uint64    `json:"start_ticks"`
	StartedAt  time.Time `json:"started_at"`
}

// taskOf describes t for the worker.
func taskOf(t *task) (runtime.Task, error) {
	h, err := runtime.EncodeHandle(handle{PID: t.pid, PGID: t.pgid, StartTicks: t.startTicks, StartedAt: t.startedAt})
	if err != nil {
		return runtime.Task{}, err
	}
	return runtime.Task{InstanceID: t.id, PID: t.pid, StartedAt: t.startedAt, Handle: h}, nil
}

// close releases the task's pidfd, if it holds one. Closing it again does
// nothing.
func (t *task) close() {
	if t.pidfd != nil {
		_ = t.pidfd.Close()
	}
}

// waitPidfd parks until the process behind pidfd has ended, or its read
// deadline passes, or pidfd is closed.
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

// Done is closed once Wait has collected the task.
func (t *task) Done() <-chan struct{} { return t.done }
