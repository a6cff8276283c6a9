package auth

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

// fakeClock is a settable time source shared by a Service and its test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	svc   *Service
	st    store.Store
	clock *fakeClock
	logs  *syncBuffer
}

// newFixture returns a Service on a memory store with a fake clock and
// captured logs.
func newFixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{st: store.NewMemory(), clock: newFakeClock(), logs: &syncBuffer{}}
	t.Cleanup(func() { _ = f.st.Close() })
	var err error
	f.svc, err = NewService(f.st, Options{
		Clock:  f.clock.Now,
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return f
}

func (f fixture) mustCreateUser(t *testing.T, name, pw string, roles ...string) {
	t.Helper()
	if err := f.svc.CreateUser(name, pw, roles); err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
}

func (f fixture) mustLogin(t *testing.T, name, pw string) TokenPair {
	t.Helper()
	pair, err := f.svc.Login(name, pw)
	if err != nil {
		t.Fatalf("Login(%s): %v", name, err)
	}
	return pair
}
