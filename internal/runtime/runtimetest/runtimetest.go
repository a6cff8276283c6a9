// Package runtimetest holds what the runtime drivers' tests share: a stand-in
// for the worker's part of the driver contract (keep each task's handle, wait
// on each task, record each exit once) and a record of the exits, which a
// test can wait on.
package runtimetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// WaitTimeout is how long Wait waits for an exit before failing the test.
const WaitTimeout = time.Minute

// ExitLog plays the worker for a driver under test. Start and Recover keep
// each task's handle in a directory (as the worker keeps them in its store,
// so that an ExitLog on the same directory after a "restart" finds them),
// wait on the task in a goroutine, record its exit and then drop the handle,
// so that every exit is recorded once.
type ExitLog struct {
	dir string

	mu      sync.Mutex
	exits   map[string][]runtime.Exit
	live    map[string]runtime.Task
	waiting map[string]chan struct{} // closed when the wait on a task is over
	changed chan struct{}
}

// Driver is a driver under test driven as a worker drives it: Start and
// Recover go through an ExitLog, and Stop and Remove return once the exit
// they cause is recorded. A test embeds it next to the concrete driver (one
// level deeper), so that these methods win and the driver's own fields and
// methods remain at hand:
//
//	type testDriver struct {
//		*runtimetest.Driver
//		concrete
//	}
//	type concrete struct{ *Driver }
type Driver struct {
	D     runtime.Driver
	Exits *ExitLog
}

// Start starts spec through the exit log.
func (d *Driver) Start(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	return d.Exits.Start(ctx, d.D, spec)
}

// Recover recovers every handle the exit log keeps.
func (d *Driver) Recover(ctx context.Context) ([]runtime.Task, error) {
	return d.Exits.Recover(ctx, d.D)
}

// Stop stops the instance and returns once its exit is recorded.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	return d.Exits.Stop(ctx, d.D, id, grace)
}

// Remove removes the instance and returns once its exit, if it ran, is
// recorded.
func (d *Driver) Remove(ctx context.Context, id string) error {
	return d.Exits.Remove(ctx, d.D, id)
}

// HandlesDir is where a test keeps the handles of a driver on dataDir, for a
// later driver on the same data dir to recover.
func HandlesDir(dataDir string) string { return filepath.Join(dataDir, "handles") }

// NewExitLog returns an empty log that keeps handles in dir (created if
// need be).
func NewExitLog(dir string) *ExitLog {
	return &ExitLog{
		dir: dir, exits: make(map[string][]runtime.Exit), live: make(map[string]runtime.Task),
		waiting: make(map[string]chan struct{}), changed: make(chan struct{}),
	}
}

// Start starts spec with d, keeps the task's handle and waits on it.
func (l *ExitLog) Start(ctx context.Context, d runtime.Driver, spec runtime.Spec) (runtime.Task, error) {
	t, err := d.Start(ctx, spec)
	if err != nil {
		return t, err
	}
	if err := l.Keep(t); err != nil {
		return t, err
	}
	l.mu.Lock()
	l.live[t.InstanceID] = t
	l.mu.Unlock()
	l.watch(d, t)
	return t, nil
}

// Recover hands every kept handle to d.Recover (skipping the tasks this log
// already waits on) and returns the tasks that run, with those it already
// waits on. Exits Recover returns are recorded.
func (l *ExitLog) Recover(ctx context.Context, d runtime.Driver) ([]runtime.Task, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var tasks []runtime.Task
	for _, e := range entries {
		id := e.Name()
		l.mu.Lock()
		t, ok := l.live[id]
		l.mu.Unlock()
		if ok {
			tasks = append(tasks, t)
			continue
		}
		b, err := os.ReadFile(filepath.Join(l.dir, id))
		if err != nil {
			return tasks, err
		}
		var h []byte
		if err := json.Unmarshal(b, &h); err != nil {
			return tasks, fmt.Errorf("handle of %s: %w", id, err)
		}
		t, err = d.Recover(ctx, id, h)
		if err != nil {
			return tasks, err
		}
		if t.Exited != nil {
			l.record(id, *t.Exited)
			continue
		}
		l.mu.Lock()
		l.live[id] = t
		l.mu.Unlock()
		l.watch(d, t)
		tasks = append(tasks, t)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].InstanceID < tasks[j].InstanceID })
	return tasks, nil
}

// Keep keeps the handle of t, as Start does, for Recover to find.
func (l *ExitLog) Keep(t runtime.Task) error {
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(t.Handle)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.dir, t.InstanceID), b, 0o644)
}

// watch waits on the task in a goroutine, which ends with the task or when
// the driver is closed.
func (l *ExitLog) watch(d runtime.Driver, t runtime.Task) {
	over := make(chan struct{})
	l.mu.Lock()
	l.waiting[t.InstanceID] = over
	l.mu.Unlock()
	go func() {
		defer close(over)
		e, err := d.Wait(context.Background(), t.InstanceID)
		if err != nil {
			return // the driver was closed: the task runs on, for a Recover
		}
		l.record(t.InstanceID, e)
	}()
}

// Stop stops the task with d.Stop and returns once its exit is recorded, as
// a worker acts on the exit of what it stops.
func (l *ExitLog) Stop(ctx context.Context, d runtime.Driver, id string, grace time.Duration) error {
	err := d.Stop(ctx, id, grace)
	l.settle(id)
	return err
}

// Remove removes the instance with d.Remove and returns once the exit of its
// task, if it ran, is recorded.
func (l *ExitLog) Remove(ctx context.Context, d runtime.Driver, id string) error {
	err := d.Remove(ctx, id)
	l.settle(id)
	return err
}

// settle waits until the wait on id's task, if there is one, is over.
func (l *ExitLog) settle(id string) {
	l.mu.Lock()
	over := l.waiting[id]
	l.mu.Unlock()
	if over == nil {
		return
	}
	select {
	case <-over:
	case <-time.After(WaitTimeout):
	}
}

// record records an exit of instance id and forgets its handle.
func (l *ExitLog) record(id string, e runtime.Exit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = os.Remove(filepath.Join(l.dir, id))
	delete(l.live, id)
	l.exits[id] = append(l.exits[id], e)
	close(l.changed)
	l.changed = make(chan struct{})
}

// All returns every exit recorded for id.
func (l *ExitLog) All(id string) []runtime.Exit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]runtime.Exit(nil), l.exits[id]...)
}

// Wait returns the first exit recorded for id, failing the test after
// WaitTimeout.
func (l *ExitLog) Wait(t testing.TB, id string) runtime.Exit {
	t.Helper()
	timeout := time.After(WaitTimeout)
	for {
		l.mu.Lock()
		got, changed := l.exits[id], l.changed
		l.mu.Unlock()
		if len(got) > 0 {
			return got[0]
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no exit reported for %s", id)
		}
	}
}

// Logger is what WaitLogs reads: a driver's Logs.
type Logger interface {
	Logs(ctx context.Context, instanceID string, tailBytes int) ([]byte, error)
}

// WaitLogs waits up to within until the instance's logs contain every one of
// want, and returns them.
func WaitLogs(t testing.TB, d Logger, id string, within time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, err := d.Logs(context.Background(), id, 0)
		if err != nil {
			t.Fatalf("Logs(%s): %v", id, err)
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(string(b), w)
		}
		if ok {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs of %s = %q, want them to contain %q", id, b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Eventually polls cond up to within, failing the test if it never holds.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ProgressLog records what a driver's OnProgress was told.
type ProgressLog struct {
	mu   sync.Mutex
	msgs map[string][]string
	all  []string
}

// OnProgress records msg for instance id.
func (p *ProgressLog) OnProgress(id, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = make(map[string][]string)
	}
	p.msgs[id] = append(p.msgs[id], msg)
	p.all = append(p.all, msg)
}

// Of returns the messages for instance id.
func (p *ProgressLog) Of(id string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.msgs[id]...)
}

// All returns every message, in order.
func (p *ProgressLog) All() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.all...)
}

// RecoverAndRemove plays a restarted worker: it recovers every handle the
// exit log keeps, wants them to be exactly the running instances ids, and
// removes them.
func (d *Driver) RecoverAndRemove(t testing.TB, ids ...string) {
	t.Helper()
	ctx := context.Background()
	tasks, err := d.Recover(ctx)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	var got []string
	for _, task := range tasks {
		got = append(got, task.InstanceID)
	}
	sort.Strings(got)
	want := append([]string(nil), ids...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Recover = %v, want %v", got, want)
	}
	for _, id := range ids {
		if err := d.Remove(ctx, id); err != nil {
			t.Fatalf("Remove %s: %v", id, err)
		}
	}
}
