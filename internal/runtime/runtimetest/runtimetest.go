// Package runtimetest holds what the runtime drivers' tests share: a record
// of the exits a driver reports, which a test can wait on.
package runtimetest

import (
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// WaitTimeout is how long Wait waits for an exit before failing the test.
const WaitTimeout = time.Minute

// ExitLog records what a driver's OnExit was told, and lets a test wait for
// it. Pass its OnExit to the driver.
type ExitLog struct {
	mu      sync.Mutex
	exits   map[string][]runtime.Exit
	changed chan struct{}
}

// NewExitLog returns an empty log.
func NewExitLog() *ExitLog {
	return &ExitLog{exits: make(map[string][]runtime.Exit), changed: make(chan struct{})}
}

// OnExit records an exit of instance id.
func (l *ExitLog) OnExit(id string, e runtime.Exit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.exits[id] = append(l.exits[id], e)
	close(l.changed)
	l.changed = make(chan struct{})
}

// All returns every exit reported for id.
func (l *ExitLog) All(id string) []runtime.Exit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]runtime.Exit(nil), l.exits[id]...)
}

// Wait returns the first exit reported for id, failing the test after
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
