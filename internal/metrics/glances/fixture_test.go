package glances

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeSource hands out a fixed sample, or an error, and counts its calls.
type fakeSource struct {
	mu     sync.Mutex
	sample Sample
	err    error
	calls  int
}

func (f *fakeSource) Sample(context.Context) (Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.sample, f.err
}

func (f *fakeSource) set(s Sample, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sample, f.err = s, err
}

func (f *fakeSource) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var (
	fixtureBoot = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	fixtureNow  = time.Date(2026, 11, 23, 12, 6, 4, 0, time.UTC)
)

// fixtureSample is a small two-cpu host with two filesystems, two
// interfaces and three processes. Whole floats (3.0, 0.0) are there on
// purpose: they must still be written as floats.
func fixtureSample() Sample {
	alias := "uplink"
	return Sample{
		Time:     fixtureNow.Add(-time.Second),
		BootTime: fixtureBoot,
		CPU: CPU{Total: 42.5, User: 30.0, Nice: 0, System: 10.5, Idle: 57.0, IOWait: 0.5, IRQ: 0, SoftIRQ: 2.0,
			Steal: 0, Guest: 0, GuestNice: 0, TimeSinceUpdate: 2.0012, CPUCore: 2,
			CtxSwitches: 18220, Interrupts: 8561, SoftInterrupts: 2051, Syscalls: 0},
		PerCPU: []PerCPU{
			{CPUNumber: 0, Total: 50.0, User: 40.0, System: 10.0, Idle: 50.0},
			{CPUNumber: 1, Total: 35.0, User: 20.0, System: 11.0, Idle: 64.0, IOWait: 1.0, SoftIRQ: 4.0},
		},
		Mem: Mem{Total: 8589934592, Available: 6442450944, Percent: 25.0, Used: 2147483648, Free: 6442450944,
			Active: 1073741824, Inactive: 2147483648, Buffers: 104857600, Cached: 3221225472, Shared: 9097216},
		MemSwap: MemSwap{Total: 1073741824, Used: 0, Free: 1073741824, Percent: 0, Sin: 0, Sout: 0, TimeSinceUpdate: 2.0012},
		Load:    Load{Min1: 0.5, Min5: 0.25, Min15: 3.0, CPUCore: 2},
		FS: []FS{
			{DeviceName: "/dev/vda1", FSType: "ext4", MntPoint: "/", Size: 107374182400, Used: 32212254720, Free: 69793218560, Percent: 31.6},
			{DeviceName: "/dev/vdb", FSType: "xfs", MntPoint: "/data", Size: 53687091200, Used: 0, Free: 53687091200, Percent: 0},
		},
		Network: []Network{
			{InterfaceName: "lo", TimeSinceUpdate: 2.0012, CumulativeRx: 1000, Rx: 100, CumulativeTx: 1000, Tx: 100,
				CumulativeCx: 2000, Cx: 200, IsUp: true},
			{InterfaceName: "eth0", Alias: &alias, TimeSinceUpdate: 2.0012, CumulativeRx: 384407916, Rx: 1500,
				CumulativeTx: 972807, Tx: 500, CumulativeCx: 385380723, Cx: 2000, IsUp: true, Speed: 1048576000},
		},
		Processes: []Process{
			{Gids: []uint32{0, 0, 0}, MemoryInfo: []uint64{17338368, 49094656, 6467584, 5455872, 0, 41521152, 0},
				NumThreads: 13, CPUPercent: 12.5, Status: "R", CPUTimes: []float64{6.72, 11.58, 0, 0, 0},
				MemoryPercent: 0.2018, Nice: -10, Name: "hedge", Cmdline: []string{"/usr/bin/hedge", "worker"},
				IOCounters: []uint64{4096, 8192, 0, 0, 0}, PID: 42, Username: "root", TimeSinceUpdate: 2.0012},
			{Gids: []uint32{1000, 1000, 1000}, MemoryInfo: []uint64{1048576, 2097152, 0, 0, 0, 0, 0},
				NumThreads: 1, CPUPercent: 0, Status: "S", CPUTimes: []float64{0.01, 0.02, 0, 0, 0},
				MemoryPercent: 0.0122, Nice: 0, Name: "sleep", Cmdline: []string{"sleep", "60"},
				IOCounters: []uint64{0, 0, 0, 0, 0}, PID: 7, Username: "edge", TimeSinceUpdate: 2.0012},
			{Gids: []uint32{0, 0, 0}, MemoryInfo: []uint64{0, 0, 0, 0, 0, 0, 0},
				NumThreads: 1, CPUPercent: 0, Status: "I", CPUTimes: []float64{0, 0.01, 0, 0, 0},
				Name: "kworker/0:1", Cmdline: []string{}, IOCounters: []uint64{0, 0, 0, 0, 0},
				PID: 12, Username: "root", TimeSinceUpdate: 2.0012},
		},
		ProcessCount: ProcessCount{Total: 3, Running: 1, Sleeping: 1, Thread: 15},
		System: System{OSName: "Linux", Hostname: "edge-1", Platform: "64bit", LinuxDistro: "Debian GNU/Linux 12",
			OSVersion: "6.1.0-18-amd64", HRName: "Debian GNU/Linux 12 64bit"},
		Core:         Core{Phys: 2, Log: 2},
		CPUName:      "AMD EPYC",
		CPUHzCurrent: 2096016000,
		CPUHz:        0,
	}
}

// fixtureServer serves the fixture sample through a real Sampler, as a
// worker would, with opts' Token and Version.
func fixtureServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	src := &fakeSource{sample: fixtureSample()}
	s := NewSampler(SamplerOptions{Source: src})
	if err := s.Refresh(t.Context()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	opts.Sampler = s
	opts.Now = func() time.Time { return fixtureNow }
	srv := httptest.NewServer(NewHandler(opts))
	t.Cleanup(srv.Close)
	return srv
}

// get fetches url with an optional request tweak and returns status and body.
func get(t *testing.T, url string, tweak func(*http.Request)) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if tweak != nil {
		tweak(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, buf
}

// httptestRecorder serves one GET of path with h.
func httptestRecorder(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}
