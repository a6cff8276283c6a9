package kube_test

import (
	"context"
	"math"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/metrics/glances"
)

// nodeMonitor is the Glances of one fake node: Hedge's own Glances view,
// the exporter every Hedge worker serves, over figures the test sets. A
// KWOK node has no hardware of its own to measure; everything from this
// HTTP API up (the Glances client, the pressure controller, the actuator,
// the API server) is the real path.
type nodeMonitor struct {
	cpu atomic.Uint64 // float64 bits: cpu total in %
	url string
}

func (m *nodeMonitor) setCPU(v float64) { m.cpu.Store(math.Float64bits(v)) }

// Sample implements glances.Source.
func (m *nodeMonitor) Sample(context.Context) (glances.Sample, error) {
	cpu := math.Float64frombits(m.cpu.Load())
	return glances.Sample{
		Time: time.Now(), BootTime: time.Now().Add(-time.Hour),
		CPU:  glances.CPU{Total: cpu, User: cpu, Idle: 100 - cpu, CPUCore: 4},
		Mem:  glances.Mem{Total: 8 << 30, Available: 6 << 30, Percent: 25, Used: 2 << 30, Free: 6 << 30},
		Load: glances.Load{Min1: 0.2, Min5: 0.2, Min15: 0.2, CPUCore: 4},
	}, nil
}

var (
	monitorsMu sync.Mutex
	monitors   = map[string]*nodeMonitor{} // by node name
)

// startMonitor serves a calm node's Glances API until the test ends.
func startMonitor(t *testing.T, node string) *nodeMonitor {
	t.Helper()
	m := &nodeMonitor{}
	m.setCPU(10)
	s := glances.NewSampler(glances.SamplerOptions{Source: m, Interval: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	srv := httptest.NewServer(glances.NewHandler(glances.Options{Sampler: s}))
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	m.url = srv.URL
	monitorsMu.Lock()
	monitors[node] = m
	monitorsMu.Unlock()
	return m
}

func monitor(node string) *nodeMonitor {
	monitorsMu.Lock()
	defer monitorsMu.Unlock()
	return monitors[node]
}
