package glances

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestUnitSamplerRunStopsWithContext(t *testing.T) {
	defer goleak.VerifyNone(t)

	src := &fakeSource{sample: fixtureSample()}
	s := NewSampler(SamplerOptions{Source: src, Interval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	deadline := time.After(5 * time.Second)
	for src.count() < 3 {
		select {
		case <-deadline:
			t.Fatalf("sampler called the source %d times in 5s, want >= 3", src.count())
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	calls := src.count()
	time.Sleep(20 * time.Millisecond)
	if src.count() != calls {
		t.Errorf("source called after Run returned")
	}
}

func TestUnitSamplerLatest(t *testing.T) {
	stamp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	boom := errors.New("boom")
	first := fixtureSample()
	first.Time = time.Time{} // the sampler stamps unstamped samples
	second := fixtureSample()
	second.CPU.Total = 99

	src := &fakeSource{err: boom}
	s := NewSampler(SamplerOptions{Source: src, Now: func() time.Time { return stamp }})

	if _, err := s.Latest(); !errors.Is(err, ErrNoSample) {
		t.Fatalf("Latest before any sample = %v, want ErrNoSample", err)
	}
	if err := s.Refresh(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("Refresh with a failing source = %v, want it wrapped", err)
	}
	if _, err := s.Latest(); !errors.Is(err, ErrNoSample) {
		t.Fatalf("Latest after a failed first sample = %v, want ErrNoSample", err)
	}

	src.set(first, nil)
	if err := s.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Latest()
	if err != nil || got.CPU.Total != first.CPU.Total || !got.Time.Equal(stamp) {
		t.Fatalf("Latest = %v (time %v), %v; want the first sample stamped %v", got.CPU.Total, got.Time, err, stamp)
	}

	src.set(second, boom)
	if err := s.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh with a failing source succeeded")
	}
	if got, _ := s.Latest(); got.CPU.Total != first.CPU.Total {
		t.Errorf("a failed sample replaced the last good one: total %v", got.CPU.Total)
	}

	src.set(second, nil)
	if err := s.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Latest(); got.CPU.Total != 99 || !got.Time.Equal(second.Time) {
		t.Errorf("Latest = total %v at %v, want the second sample with its own time", got.CPU.Total, got.Time)
	}
}

func TestUnitSamplerDefaults(t *testing.T) {
	s := NewSampler(SamplerOptions{Source: &fakeSource{}})
	if s.Interval() != DefaultInterval {
		t.Errorf("Interval = %v, want %v", s.Interval(), DefaultInterval)
	}
	if _, ok := NewSampler(SamplerOptions{}).src.(*HostSource); !ok {
		t.Errorf("default source is not a HostSource")
	}
}

// fakeProcSource is a ProcessSource that counts host samples and process
// listings apart.
type fakeProcSource struct {
	fakeSource
	listings int
}

func (f *fakeProcSource) Processes(context.Context, uint64) ([]Process, ProcessCount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listings++
	return f.sample.Processes, f.sample.ProcessCount, nil
}

func TestUnitSamplerCurrentOnDemand(t *testing.T) {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	src := &fakeProcSource{fakeSource: fakeSource{sample: fixtureSample()}}
	s := NewSampler(SamplerOptions{Source: src, Now: func() time.Time { return clock }})
	ctx := t.Context()

	if _, err := s.Current(ctx, true); !errors.Is(err, ErrNoSample) {
		t.Fatalf("Current before the sampler started = %v, want ErrNoSample", err)
	}
	if src.count() != 0 || src.listings != 0 {
		t.Fatalf("a sampler nobody started measured: %d samples, %d listings", src.count(), src.listings)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Latest(); len(got.Processes) != 0 || src.listings != 0 {
		t.Fatalf("Refresh listed processes (%d, %d listings); only readers that ask should", len(got.Processes), src.listings)
	}

	steps := []struct {
		name             string
		advance          time.Duration
		procs            bool
		samples, listing int
	}{
		{"host figures within MaxAge are served as they are", time.Second, false, 1, 0},
		{"processes are listed when first asked for", 0, true, 1, 1},
		{"and served again within MaxAge", time.Second - time.Millisecond, true, 1, 1},
		{"a stale sample is measured again", time.Millisecond, false, 2, 1},
		{"stale processes are listed again", DefaultMaxAge, true, 3, 2},
	}
	for _, st := range steps {
		clock = clock.Add(st.advance)
		got, err := s.Current(ctx, st.procs)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if src.count() != st.samples {
			t.Errorf("%s: %d host samples, want %d", st.name, src.count(), st.samples)
		}
		if src.listings != st.listing {
			t.Errorf("%s: %d process listings, want %d", st.name, src.listings, st.listing)
		}
		if st.procs && len(got.Processes) != len(fixtureSample().Processes) {
			t.Errorf("%s: %d processes, want the fixture's %d", st.name, len(got.Processes), len(fixtureSample().Processes))
		}
	}
}

func TestUnitSamplerRunSkipsWhenReadersMeasure(t *testing.T) {
	defer goleak.VerifyNone(t)
	src := &fakeProcSource{fakeSource: fakeSource{sample: fixtureSample()}}
	s := NewSampler(SamplerOptions{Source: src, Interval: 200 * time.Millisecond, MaxAge: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for src.count() < 1 {
		time.Sleep(time.Millisecond)
	}
	// A reader measuring every few ms keeps the baseline fresh: Run adds
	// nothing of its own, so the samples are the reader's.
	var reads int
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); reads++ {
		if _, err := s.Current(ctx, false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if src.listings != 0 {
		t.Errorf("Run listed processes %d times", src.listings)
	}
	if extra := src.count() - 1 - reads; extra > 0 {
		t.Errorf("Run sampled %d times on its own while a reader kept the sample fresh", extra)
	}
}
