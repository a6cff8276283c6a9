package glances

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a Sampler measures the host when not told
// otherwise; Glances' own default refresh is 2 s too.
const DefaultInterval = 2 * time.Second

// ErrNoSample is returned by Latest before the first sample has been taken.
var ErrNoSample = errors.New("no sample taken yet")

// Source measures the host. Figures computed over time (cpu percentages,
// network deltas) are measured since the Source's previous call, so a Source
// is stateful and is called by one Sampler only. HostSource is the real one;
// tests hand in fakes.
type Source interface {
	Sample(ctx context.Context) (Sample, error)
}

// SamplerOptions configures a Sampler. The zero value samples the real host
// every DefaultInterval.
type SamplerOptions struct {
	// Source measures the host; nil means NewHostSource().
	Source Source
	// Interval between samples; zero means DefaultInterval.
	Interval time.Duration
	// Now stamps samples; nil means time.Now.
	Now func() time.Time
	// Logger receives sampling failures; nil discards them.
	Logger *slog.Logger
}

// Sampler measures the host in one background loop (Run) and keeps the latest
// Sample, so that every reader (the Glances view, the Prometheus collector, the
// worker's heartbeat) is served a copy instead of measuring on its own: the
// cost of sampling is paid once per interval however many readers there are.
type Sampler struct {
	src      Source
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu     sync.RWMutex
	latest Sample
	ok     bool
}

// NewSampler returns a Sampler that has not sampled yet; call Run to start it.
func NewSampler(opts SamplerOptions) *Sampler {
	s := &Sampler{src: opts.Source, interval: opts.Interval, now: opts.Now, log: opts.Logger}
	if s.src == nil {
		s.src = NewHostSource()
	}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Interval is the time between two samples.
func (s *Sampler) Interval() time.Duration { return s.interval }

// Run samples at once, then every interval, until ctx is done; it returns
// ctx's error. A failed sample is logged and the previous one kept, so a
// transient /proc hiccup does not blank the view. Run must not be called twice
// at the same time.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("host sample failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Refresh takes one sample now and makes it the latest. Run calls it; tests
// and one-shot tools may call it directly instead of running the loop.
func (s *Sampler) Refresh(ctx context.Context) error {
	smp, err := s.src.Sample(ctx)
	if err != nil {
		return fmt.Errorf("sample host: %w", err)
	}
	if smp.Time.IsZero() {
		smp.Time = s.now()
	}
	s.mu.Lock()
	s.latest, s.ok = smp, true
	s.mu.Unlock()
	return nil
}

// Latest returns the most recent sample, or ErrNoSample before the first one.
// Slices in the returned Sample are shared with other readers and must not be
// modified.
func (s *Sampler) Latest() (Sample, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.ok {
		return Sample{}, ErrNoSample
	}
	return s.latest, nil
}
