package metrics

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestHostSampleCachesReal measures this machine: the figures are real, a
// second heartbeat within DefaultMaxAge is served the same figures without
// reading the host again, and one after it gets a new measurement with
// rates over the time between the two.
func TestHostSampleCachesReal(t *testing.T) {
	clock := time.Now()
	h := NewHost(t.TempDir())
	h.now = func() time.Time { return clock }

	first := h.Sample(t.Context())
	if first.Cores != runtime.NumCPU() || first.MemoryTotalMB <= 0 || first.DiskTotalMB <= 0 {
		t.Fatalf("first sample = %+v, want cores %d and memory and disk totals", first, runtime.NumCPU())
	}
	measuredAt := h.cachedAt

	clock = clock.Add(DefaultMaxAge - time.Millisecond)
	if got := h.Sample(t.Context()); got != first || !h.cachedAt.Equal(measuredAt) {
		t.Errorf("sample within DefaultMaxAge measured again: %+v, want the cached %+v", got, first)
	}

	clock = clock.Add(time.Millisecond)
	time.Sleep(20 * time.Millisecond) // let the kernel's counters move
	h.Sample(t.Context())
	if !h.cachedAt.Equal(clock) || !h.lastAt.Equal(clock) {
		t.Errorf("sample after DefaultMaxAge served the cache (measured at %v, want %v)", h.cachedAt, clock)
	}
}

// BenchmarkHostSample is what one heartbeat costs the worker when the cached
// figures have expired: the host totals read afresh.
func BenchmarkHostSample(b *testing.B) {
	h := NewHost(b.TempDir())
	h.maxAge = 0
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.Sample(ctx)
	}
}

// BenchmarkHostSampleCached is what a heartbeat costs within DefaultMaxAge.
func BenchmarkHostSampleCached(b *testing.B) {
	h := NewHost(b.TempDir())
	ctx := context.Background()
	h.Sample(ctx)
	b.ReportAllocs()
	for b.Loop() {
		h.Sample(ctx)
	}
}
