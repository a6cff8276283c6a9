package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
)

// Build constructs a driver: connects to its engine, checks it answers.
type Build func(ctx context.Context) (Driver, error)

// Lazy returns a driver for virtualization name, served by engine, that
// calls build on its first use and delegates to what it built from then on.
// A worker that never runs or recovers an instance of that virtualization
// never connects to the engine: an idle worker does not pay for a container
// engine's client (its connections, goroutines and memory). A build that
// fails is tried again at the next use, wrapping ErrUnavailable.
//
// The driver it returns implements UsageReporter and Engine; it implements
// Updater when updates is true (what build returns must then implement it).
func Lazy(name, engine string, updates bool, build Build) Driver {
	l := &lazy{name: name, engine: engine, build: build}
	if updates {
		return lazyUpdater{l}
	}
	return l
}

type lazy struct {
	name, engine string
	build        Build

	mu sync.Mutex
	d  Driver
}

var (
	_ UsageReporter = (*lazy)(nil)
	_ Engine        = (*lazy)(nil)
	_ Updater       = lazyUpdater{}
)

// get returns the built driver, building it first if needed.
func (l *lazy) get(ctx context.Context) (Driver, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.d != nil {
		return l.d, nil
	}
	d, err := l.build(ctx)
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("%s runtime (%s): %w", l.name, l.engine, err)
	}
	l.d = d
	return d, nil
}

// built returns the driver if it was built, without building it.
func (l *lazy) built() Driver {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.d
}

func (l *lazy) Name() string   { return l.name }
func (l *lazy) Engine() string { return l.engine }

func (l *lazy) Start(ctx context.Context, spec Spec) (Task, error) {
	d, err := l.get(ctx)
	if err != nil {
		return Task{}, err
	}
	return d.Start(ctx, spec)
}

func (l *lazy) Wait(ctx context.Context, id string) (Exit, error) {
	d, err := l.get(ctx)
	if err != nil {
		return Exit{}, err
	}
	return d.Wait(ctx, id)
}

func (l *lazy) Stop(ctx context.Context, id string, grace time.Duration) error {
	d, err := l.get(ctx)
	if err != nil {
		return err
	}
	return d.Stop(ctx, id, grace)
}

func (l *lazy) Remove(ctx context.Context, id string) error {
	d, err := l.get(ctx)
	if err != nil {
		return err
	}
	return d.Remove(ctx, id)
}

func (l *lazy) Logs(ctx context.Context, id string, tail int) ([]byte, error) {
	d, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return d.Logs(ctx, id, tail)
}

func (l *lazy) Recover(ctx context.Context, id string, handle []byte) (Task, error) {
	d, err := l.get(ctx)
	if err != nil {
		return Task{}, err
	}
	return d.Recover(ctx, id, handle)
}

// Usage reads an instance's usage. Nothing runs on a driver that was never
// built, so it does not build one.
func (l *lazy) Usage(ctx context.Context, id string) (float64, int64, error) {
	u, ok := l.built().(UsageReporter)
	if !ok {
		return 0, 0, fmt.Errorf("%s runtime (%s): instance %s: %w", l.name, l.engine, id, errdefs.ErrNotFound)
	}
	return u.Usage(ctx, id)
}

// Close closes the driver if it was built and can be closed.
func (l *lazy) Close() error {
	if c, ok := l.built().(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// lazyUpdater is a lazy driver whose engine can change a running instance's
// limits.
type lazyUpdater struct{ *lazy }

func (l lazyUpdater) Update(ctx context.Context, id string, limits api.Resources) error {
	d, err := l.get(ctx)
	if err != nil {
		return err
	}
	u, ok := d.(Updater)
	if !ok {
		return fmt.Errorf("%s runtime (%s): cannot change the limits of a running instance", l.name, l.engine)
	}
	return u.Update(ctx, id, limits)
}
