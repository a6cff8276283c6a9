package prom

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/hedgeorch/hedge/internal/metrics/glances"
)

// fakeHost hands out a fixed sample or error.
type fakeHost struct {
	sample glances.Sample
	err    error
}

func (f fakeHost) Latest() (glances.Sample, error) { return f.sample, f.err }

var sampleTime = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func hostSample() glances.Sample {
	return glances.Sample{
		Time: sampleTime,
		CPU:  glances.CPU{Total: 42.5},
		Core: glances.Core{Phys: 2, Log: 4},
		Mem:  glances.Mem{Total: 8 << 30, Available: 6 << 30},
		Load: glances.Load{Min1: 0.5, Min5: 0.25, Min15: 3},
		FS: []glances.FS{
			{DeviceName: "/dev/vda1", FSType: "ext4", MntPoint: "/", Size: 1000, Used: 300, Free: 600},
			{DeviceName: "/dev/vdb", FSType: "xfs", MntPoint: "/data", Size: 50, Used: 0, Free: 50},
		},
		Network: []glances.Network{
			{InterfaceName: "lo", CumulativeRx: 1000, CumulativeTx: 1001},
			{InterfaceName: "eth0", CumulativeRx: 384407916, CumulativeTx: 972807},
		},
	}
}

// scrape serves reg through Handler and parses what a Prometheus server
// would read.
func scrape(t *testing.T, reg http.Handler) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	srv := httptest.NewServer(reg)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d\n%s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return families, body
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_UNTYPED:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func TestUnitHostMetrics(t *testing.T) {
	families, body := scrape(t, Handler(NewRegistry(WithHost(fakeHost{sample: hostSample()}))))
	tests := []struct {
		name   string
		labels map[string]string
		typ    dto.MetricType
		want   float64
	}{
		{"hedge_host_cpu_percent", nil, dto.MetricType_GAUGE, 42.5},
		{"hedge_host_cpu_cores", nil, dto.MetricType_GAUGE, 4},
		{"hedge_host_memory_bytes", map[string]string{"kind": "total"}, dto.MetricType_GAUGE, 8 << 30},
		{"hedge_host_memory_bytes", map[string]string{"kind": "available"}, dto.MetricType_GAUGE, 6 << 30},
		{"hedge_host_load1", nil, dto.MetricType_GAUGE, 0.5},
		{"hedge_host_load5", nil, dto.MetricType_GAUGE, 0.25},
		{"hedge_host_load15", nil, dto.MetricType_GAUGE, 3},
		{"hedge_host_disk_size_bytes", map[string]string{"mountpoint": "/", "device": "/dev/vda1", "fstype": "ext4"}, dto.MetricType_GAUGE, 1000},
		{"hedge_host_disk_used_bytes", map[string]string{"mountpoint": "/"}, dto.MetricType_GAUGE, 300},
		{"hedge_host_disk_free_bytes", map[string]string{"mountpoint": "/data"}, dto.MetricType_GAUGE, 50},
		{"hedge_host_network_receive_bytes_total", map[string]string{"interface": "eth0"}, dto.MetricType_COUNTER, 384407916},
		{"hedge_host_network_transmit_bytes_total", map[string]string{"interface": "lo"}, dto.MetricType_COUNTER, 1001},
		{"hedge_host_sample_timestamp_seconds", nil, dto.MetricType_GAUGE, float64(sampleTime.Unix())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f := families[tt.name]; f == nil || f.GetType() != tt.typ || f.GetHelp() == "" {
				t.Fatalf("family %s missing, untyped or without help:\n%s", tt.name, body)
			}
			got, ok := value(t, families, tt.name, tt.labels)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
			}
		})
	}
	// The standard collectors every tier exposes, and the handler's own.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "promhttp_metric_handler_requests_total"} {
		if families[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	if runtime.GOOS == "linux" && families["process_resident_memory_bytes"] == nil {
		t.Errorf("process_resident_memory_bytes missing")
	}
}

func TestUnitHostMetricsLint(t *testing.T) {
	_, body := scrape(t, Handler(NewRegistry(WithHost(fakeHost{sample: hostSample()}))))
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if len(p.Metric) > 11 && p.Metric[:11] == "hedge_host_" {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}

func TestUnitHostMetricsWithoutSample(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"not sampled yet", glances.ErrNoSample},
		{"sampling failed", errors.New("read /proc: boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			families, body := scrape(t, Handler(NewRegistry(WithHost(fakeHost{err: tt.err}))))
			for name := range families {
				if len(name) > 11 && name[:11] == "hedge_host_" {
					t.Errorf("%s reported without a sample:\n%s", name, body)
				}
			}
			if families["go_goroutines"] == nil {
				t.Errorf("a host failure hid the other collectors:\n%s", body)
			}
		})
	}
}

// countingSource counts how often the host is measured.
type countingSource struct {
	mu    sync.Mutex
	calls int
}

func (c *countingSource) Sample(context.Context) (glances.Sample, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return hostSample(), nil
}

// TestUnitHostMetricsShareSampler checks that with a glances.Sampler the
// collector reads its latest sample and never measures on its own.
func TestUnitHostMetricsShareSampler(t *testing.T) {
	src := &countingSource{}
	s := glances.NewSampler(glances.SamplerOptions{Source: src})
	if err := s.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := Handler(NewRegistry(WithHost(s)))
	for range 3 {
		families, _ := scrape(t, h)
		if v, ok := value(t, families, "hedge_host_cpu_percent", nil); !ok || v != 42.5 {
			t.Fatalf("hedge_host_cpu_percent = %v, %v", v, ok)
		}
	}
	if src.calls != 1 {
		t.Errorf("source measured %d times for 3 scrapes, want only the sampler's 1", src.calls)
	}
}

// TestHostMetricsReal scrapes a registry that measures this machine itself,
// as root and cluster tiers run it.
func TestHostMetricsReal(t *testing.T) {
	families, body := scrape(t, Handler(NewRegistry()))
	vm, err := mem.VirtualMemoryWithContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := value(t, families, "hedge_host_memory_bytes", map[string]string{"kind": "total"}); !ok || v != float64(vm.Total) {
		t.Errorf("memory total = %v (%v), want %d\n%s", v, ok, vm.Total, body)
	}
	if v, ok := value(t, families, "hedge_host_cpu_cores", nil); !ok || v != float64(runtime.NumCPU()) {
		t.Errorf("cpu cores = %v (%v), want %d", v, ok, runtime.NumCPU())
	}
	if v, ok := value(t, families, "hedge_host_cpu_percent", nil); !ok || v < 0 || v > 100 {
		t.Errorf("cpu percent = %v (%v), want 0..100", v, ok)
	}
	if _, ok := value(t, families, "hedge_host_network_receive_bytes_total", map[string]string{"interface": "lo"}); !ok {
		t.Errorf("no receive counter for lo")
	}
}
