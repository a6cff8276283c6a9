package process

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkStart measures one start and stop of /bin/sleep.
func BenchmarkStart(b *testing.B) {
	d, _ := newTestDriver(b, Options{})
	ctx := context.Background()
	i := 0
	for b.Loop() {
		id := "bench-" + strconv.Itoa(i)
		i++
		if _, err := d.Start(ctx, sleepSpec(id)); err != nil {
			b.Fatal(err)
		}
		if err := d.Stop(ctx, id, time.Second); err != nil {
			b.Fatal(err)
		}
		if err := d.Remove(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// density is what running n instances costs the driver.
type density struct {
	perStart      time.Duration
	heapPerInst   float64 // bytes of live heap
	stackPerInst  float64 // bytes of goroutine stacks
	gorPerInst    float64 // goroutines
	threadsPerIns float64 // OS threads
}

// measureDensity starts n sleep instances, measures, and removes them.
func measureDensity(tb testing.TB, d *testDriver, n int) density {
	tb.Helper()
	ctx := context.Background()
	heap0, stack0, gor0, thr0 := liveHeap(), stackInuse(), goruntime.NumGoroutine(), threads(tb)
	began := time.Now()
	for i := range n {
		if _, err := d.Start(ctx, sleepSpec(fmt.Sprintf("dense-%d", i))); err != nil {
			tb.Fatal(err)
		}
	}
	elapsed := time.Since(began)
	heap1, stack1, gor1, thr1 := liveHeap(), stackInuse(), goruntime.NumGoroutine(), threads(tb)
	for i := range n {
		if err := d.Remove(ctx, fmt.Sprintf("dense-%d", i)); err != nil {
			tb.Fatal(err)
		}
	}
	return density{
		perStart:      elapsed / time.Duration(n),
		heapPerInst:   float64(int64(heap1)-int64(heap0)) / float64(n),
		stackPerInst:  float64(int64(stack1)-int64(stack0)) / float64(n),
		gorPerInst:    float64(gor1-gor0) / float64(n),
		threadsPerIns: float64(thr1-thr0) / float64(n),
	}
}

// BenchmarkDensity200 starts 200 sleep instances and reports the time per
// start and what each instance costs the driver.
func BenchmarkDensity200(b *testing.B) {
	d, _ := newTestDriver(b, Options{})
	var m density
	for b.Loop() {
		m = measureDensity(b, d, 200)
	}
	b.ReportMetric(float64(m.perStart.Microseconds())/1000, "ms/start")
	b.ReportMetric(m.heapPerInst, "heap-B/instance")
	b.ReportMetric(m.stackPerInst, "stack-B/instance")
	b.ReportMetric(m.gorPerInst, "goroutines/instance")
	b.ReportMetric(m.threadsPerIns, "threads/instance")
}

// TestDensity200 holds the driver to its density promise: one parked
// goroutine and no OS thread per instance, a few KB of heap each.
func TestDensity200(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 200 processes")
	}
	d, _ := newTestDriver(t, Options{})
	m := measureDensity(t, d, 200)
	t.Logf("200 instances: %v per start; per instance %.0f B heap, %.0f B stack, %.2f goroutines, %.2f threads",
		m.perStart, m.heapPerInst, m.stackPerInst, m.gorPerInst, m.threadsPerIns)
	if m.gorPerInst > 1.01 {
		t.Errorf("%.2f goroutines per instance, want at most 1", m.gorPerInst)
	}
	if m.threadsPerIns > 0.1 {
		t.Errorf("%.2f OS threads per instance, want none (waiting must not hold a thread)", m.threadsPerIns)
	}
	if mem := m.heapPerInst + m.stackPerInst; mem > 32<<10 {
		t.Errorf("%.0f bytes of heap and stack per instance, want under 32 KiB", mem)
	}
	// The time per start is a figure (BenchmarkDensity), not a pass/fail:
	// it says more about the machine's load than about the driver.
}

func liveHeap() uint64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func stackInuse() uint64 {
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.StackInuse
}

// threads is the process's OS thread count.
func threads(tb testing.TB) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("no Threads in /proc/self/status")
	return 0
}
