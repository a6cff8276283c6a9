package pressure

import (
	"context"
	"errors"
	"sync"
	"time"
)

// clock is a settable clock for WithNow.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSource returns the sample (or error) it was last given, without a
// time, as a Glances endpoint would.
type fakeSource struct {
	mu    sync.Mutex
	s     Sample
	err   error
	calls int
}

func (f *fakeSource) set(s Sample, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.s, f.err = s, err
}

func (f *fakeSource) Sample(ctx context.Context, node string) (Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.s, f.err
}

func (f *fakeSource) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakeActuator records its calls and evicts from a list of instances, lowest
// priority first as a real actuator would.
type fakeActuator struct {
	mu    sync.Mutex
	calls []string
	nodes []string
	// running is evicted from the front.
	running []string
	// fail makes the next n calls of an action fail.
	fail map[string]int
}

var errActuator = errors.New("daemon said no")

func (f *fakeActuator) call(action, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, action)
	f.nodes = append(f.nodes, node)
	if f.fail[action] > 0 {
		f.fail[action]--
		return errActuator
	}
	return nil
}

func (f *fakeActuator) Limit(ctx context.Context, node string) error {
	return f.call(ActionLimit, node)
}
func (f *fakeActuator) Taint(ctx context.Context, node string) error {
	return f.call(ActionTaint, node)
}
func (f *fakeActuator) Restore(ctx context.Context, node string) error {
	return f.call(ActionRestore, node)
}

func (f *fakeActuator) Evict(ctx context.Context, node string) (string, error) {
	if err := f.call(ActionEvict, node); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.running) == 0 {
		return "", nil
	}
	victim := f.running[0]
	f.running = f.running[1:]
	return victim, nil
}

func (f *fakeActuator) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

var _ Actuator = (*fakeActuator)(nil)
