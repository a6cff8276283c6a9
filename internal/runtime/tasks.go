package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// ErrClosed is wrapped by a driver's calls made after its Close.
var ErrClosed = errors.New("driver closed")

// errRunning is returned by Tasks.Add for an instance that has a task.
var errRunning = errors.New("already running")

// Tasks is a driver's table of the tasks it can wait on and signal, by
// instance ID: what a driver value holds in memory between Start (or
// Recover) and the end of Wait. Which instances exist, and whether an exit
// was acted on, is the worker's to keep (see Driver); this is only the
// driver's lookup. The zero Tasks is empty and open; it is safe for
// concurrent use.
type Tasks[T Waited] struct {
	mu     sync.Mutex
	m      map[string]T
	closed bool
	// closing is closed by Close (made when first needed).
	closing chan struct{}
}

// Waited is a driver's task as Tasks holds it: Done is closed once the
// task's Wait has collected it.
type Waited interface {
	comparable
	Done() <-chan struct{}
}

// Get returns the task of id, if there is one.
func (s *Tasks[T]) Get(id string) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[id]
	return t, ok
}

// Lookup returns the task of id, or an error wrapping ErrNotFound.
func (s *Tasks[T]) Lookup(id string) (T, error) {
	t, ok := s.Get(id)
	if !ok {
		return t, fmt.Errorf("instance %s has no task: %w", id, ErrNotFound)
	}
	return t, nil
}

// Free reports, with an error, whether a Start of id may go ahead: not for
// an ID that CheckID refuses, nor after Close (ErrClosed), nor when id has a
// task ("already running"). Drivers check it before the work of a start.
func (s *Tasks[T]) Free(id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.freeLocked(id)
}

func (s *Tasks[T]) freeLocked(id string) error {
	switch _, ok := s.m[id]; {
	case s.closed:
		return ErrClosed
	case ok:
		return errRunning
	}
	return nil
}

// Add records the task of id. It fails as Free does.
func (s *Tasks[T]) Add(id string, t T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.freeLocked(id); err != nil {
		return err
	}
	if s.m == nil {
		s.m = make(map[string]T)
	}
	s.m[id] = t
	return nil
}

// Delete forgets the task of id if it is still t.
func (s *Tasks[T]) Delete(id string, t T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.m[id]; ok && cur == t {
		delete(s.m, id)
	}
}

// IDs lists the instances that have a task.
func (s *Tasks[T]) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.m))
	for id := range s.m {
		ids = append(ids, id)
	}
	return ids
}

// Close makes later Adds fail and returns the tasks there are, or ok false
// when it was closed already.
func (s *Tasks[T]) Close() (tasks []T, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	s.closed = true
	if s.closing != nil {
		close(s.closing)
	}
	for _, t := range s.m {
		tasks = append(tasks, t)
	}
	return tasks, true
}

// Ended waits up to within (for ever when within < 0) for t's Wait to have
// collected it, and reports whether it has. It fails when ctx ends or the
// table is closed first.
func (s *Tasks[T]) Ended(ctx context.Context, t T, within time.Duration) (bool, error) {
	var timeout <-chan time.Time
	if within >= 0 {
		timer := time.NewTimer(within)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-t.Done():
		return true, nil
	case <-timeout:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.closingC():
		return false, ErrClosed
	}
}

func (s *Tasks[T]) closingC() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing == nil {
		s.closing = make(chan struct{})
		if s.closed {
			close(s.closing)
		}
	}
	return s.closing
}

// Closed reports whether Close was called.
func (s *Tasks[T]) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// EncodeHandle makes a Task.Handle of a driver's handle struct.
func EncodeHandle(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode task handle: %w", err)
	}
	return b, nil
}

// DecodeHandle checks the instance ID given to Recover and decodes its
// handle (from EncodeHandle) into v.
func DecodeHandle(instanceID string, handle []byte, v any) error {
	if err := CheckID(instanceID); err != nil {
		return err
	}
	if err := json.Unmarshal(handle, v); err != nil {
		return fmt.Errorf("instance %s: task handle: %w", instanceID, err)
	}
	return nil
}

// OpError is nil for a nil err, and otherwise err with what was done to which
// instance ("stop instance x: ..."), the context drivers give their errors.
func OpError(op, instanceID string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s instance %s: %w", op, instanceID, err)
}

// StartTask is the frame of a driver's Start: it checks that tasks is free
// for the instance, runs start, and describes the task start added.
func StartTask[T Waited](ctx context.Context, tasks *Tasks[T], spec Spec, start func(context.Context, Spec) (T, error), describe func(T) (Task, error)) (Task, error) {
	if err := tasks.Free(spec.InstanceID); err != nil {
		return Task{}, OpError("start", spec.InstanceID, err)
	}
	t, err := start(ctx, spec)
	if err != nil {
		return Task{}, OpError("start", spec.InstanceID, err)
	}
	return describe(t)
}

// Running returns the task of id. Without one it returns the zero T and
// what known says: nil for an instance the driver knows (it has left
// something behind), ErrNotFound for one it does not, or why it cannot
// tell. An ID that CheckID refuses is not found.
func (s *Tasks[T]) Running(id string, known func() error) (T, error) {
	var zero T
	if err := CheckID(id); err != nil {
		return zero, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if t, ok := s.Get(id); ok {
		return t, nil
	}
	return zero, known()
}

// Release is the start of a driver's Remove: false for an ID that CheckID
// refuses (such an instance cannot exist), and a task still running is
// stopped at once (with stop, the driver's Stop) first.
func (s *Tasks[T]) Release(ctx context.Context, id string, stop func(context.Context, string, time.Duration) error) (bool, error) {
	if CheckID(id) != nil {
		return false, nil
	}
	if _, ok := s.Get(id); ok {
		if err := stop(ctx, id, 0); err != nil {
			return false, OpError("remove", id, err)
		}
	}
	return true, nil
}

// DataDir checks a driver's data directory option and makes it absolute.
func DataDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("data dir is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return abs, nil
}
