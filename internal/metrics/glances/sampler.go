package glances

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a running Sampler measures the host on its own
// when nobody asks: often enough that a request after a quiet spell gets cpu
// percentages over at most this long, rarely enough that an idle worker
// costs nothing measurable. Requests measure on demand (see DefaultMaxAge).
const DefaultInterval = 30 * time.Second

// DefaultMaxAge is how old a sample may be when it is served: Glances' own
// refresh period. A request that finds an older one measures the host again,
// so cpu percentages are computed over at least this long.
const DefaultMaxAge = 2 * time.Second

// ErrNoSample is returned before the first sample has been taken.
var ErrNoSample = errors.New("no sample taken yet")

// Source measures the host. Figures computed over time (cpu percentages,
// network deltas) are measured since the Source's previous call, so a Source
// is stateful and is called by one Sampler only. HostSource is the real one;
// tests hand in fakes.
type Source interface {
	Sample(ctx context.Context) (Sample, error)
}

// ProcessSource is a Source that lists processes apart from the host
// figures, so that the process table, by far the dearest part of a sample
// and one that grows with every process on the machine, is read only when a
// client asks for it. HostSource implements it; a Source that does not puts
// its processes in every Sample.
type ProcessSource interface {
	Source
	// Processes lists the machine's processes; memTotal is the host's
	// memory in bytes, for the memory percentages.
	Processes(ctx context.Context, memTotal uint64) ([]Process, ProcessCount, error)
}

// SamplerOptions configures a Sampler. The zero value samples the real host.
type SamplerOptions struct {
	// Source measures the host; nil means NewHostSource().
	Source Source
	// Interval between two samples Run takes on its own; zero means
	// DefaultInterval.
	Interval time.Duration
	// MaxAge is how old a sample Current may serve; zero means
	// DefaultMaxAge.
	MaxAge time.Duration
	// Now stamps samples; nil means time.Now.
	Now func() time.Time
	// Logger receives sampling failures; nil discards them.
	Logger *slog.Logger
}

// Sampler measures the host for every reader (the Glances view, the
// Prometheus collector), so that readers share one measurement instead of
// each measuring on its own. It measures when asked (Current), at most once
// per MaxAge, and lists processes only for readers that want them; Run only
// keeps a slow baseline, so that cpu percentages are never averaged over
// more than Interval, and costs nothing else while nobody asks.
type Sampler struct {
	src      Source
	procSrc  ProcessSource // nil when src lists processes in its samples
	interval time.Duration
	maxAge   time.Duration
	now      func() time.Time
	log      *slog.Logger

	refresh sync.Mutex // held while measuring, so concurrent readers measure once

	mu       sync.RWMutex
	latest   Sample
	ok       bool
	takenAt  time.Time // by s.now, when latest was measured
	procs    []Process
	count    ProcessCount
	procsAt  time.Time
	procsErr error
}

// NewSampler returns a Sampler that has not sampled yet; call Run to start it.
func NewSampler(opts SamplerOptions) *Sampler {
	s := &Sampler{src: opts.Source, interval: opts.Interval, maxAge: opts.MaxAge, now: opts.Now, log: opts.Logger}
	if s.src == nil {
		s.src = NewHostSource()
	}
	s.procSrc, _ = s.src.(ProcessSource)
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	if s.maxAge <= 0 {
		s.maxAge = DefaultMaxAge
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Interval is the longest time between two samples while Run runs.
func (s *Sampler) Interval() time.Duration { return s.interval }

// Run samples at once, then whenever Interval has passed without a sample,
// until ctx is done; it returns ctx's error. It never lists processes. A
// failed sample is logged and the previous one kept, so a transient /proc
// hiccup does not blank the view. Run must not be called twice at the same
// time.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		wait := s.interval
		if age, ok := s.age(); ok && age < s.interval {
			// A reader measured meanwhile: that sample is the baseline.
			wait = s.interval - age
		} else if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("host sample failed", "error", err)
		}
		t.Reset(wait)
	}
}

// age is how long ago the latest sample was taken.
func (s *Sampler) age() (time.Duration, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.now().Sub(s.takenAt), s.ok
}

// Refresh takes one host sample now, without processes, and makes it the
// latest. Run calls it; tests and one-shot tools may call it directly
// instead of running the loop.
func (s *Sampler) Refresh(ctx context.Context) error {
	s.refresh.Lock()
	defer s.refresh.Unlock()
	return s.refreshHost(ctx)
}

func (s *Sampler) refreshHost(ctx context.Context) error {
	smp, err := s.src.Sample(ctx)
	if err != nil {
		return fmt.Errorf("sample host: %w", err)
	}
	now := s.now()
	if smp.Time.IsZero() {
		smp.Time = now
	}
	s.mu.Lock()
	s.latest, s.ok, s.takenAt = smp, true, now
	s.mu.Unlock()
	return nil
}

func (s *Sampler) refreshProcs(ctx context.Context, memTotal uint64) {
	procs, count, err := s.procSrc.Processes(ctx, memTotal)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procsAt, s.procsErr = s.now(), err
	if err == nil {
		s.procs, s.count = procs, count
	}
}

// Latest returns the most recent sample without measuring, or ErrNoSample
// before the first one. It holds the processes of the last reader that asked
// for them. Slices in the returned Sample are shared with other readers and
// must not be modified.
func (s *Sampler) Latest() (Sample, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.ok {
		return Sample{}, ErrNoSample
	}
	return s.withProcs(), nil
}

func (s *Sampler) withProcs() Sample {
	smp := s.latest
	if s.procSrc != nil {
		smp.Processes, smp.ProcessCount = s.procs, s.count
	}
	return smp
}

// Current returns a sample at most MaxAge old, measuring the host again when
// the latest is older; with procs it also lists processes, again at most
// MaxAge old. Before Run or Refresh took a first sample it returns
// ErrNoSample: a Sampler nobody started does not measure. When a new
// measurement fails the previous sample is served. Slices in the returned
// Sample are shared with other readers and must not be modified.
func (s *Sampler) Current(ctx context.Context, procs bool) (Sample, error) {
	if _, ok := s.age(); !ok {
		return Sample{}, ErrNoSample
	}
	s.refresh.Lock()
	now := s.now()
	s.mu.RLock()
	hostStale := now.Sub(s.takenAt) >= s.maxAge
	procsStale := procs && s.procSrc != nil && (s.procsAt.IsZero() || now.Sub(s.procsAt) >= s.maxAge)
	s.mu.RUnlock()
	if hostStale {
		if err := s.refreshHost(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("host sample failed", "error", err)
		}
	}
	if procsStale {
		s.mu.RLock()
		total := s.latest.Mem.Total
		s.mu.RUnlock()
		s.refreshProcs(ctx, total)
	}
	s.refresh.Unlock()

	s.mu.RLock()
	defer s.mu.RUnlock()
	if procs && s.procsErr != nil && s.procs == nil {
		return Sample{}, fmt.Errorf("list processes: %w", s.procsErr)
	}
	return s.withProcs(), nil
}
