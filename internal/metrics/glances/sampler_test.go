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
