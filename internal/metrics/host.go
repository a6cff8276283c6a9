package metrics

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"

	"github.com/hedgeorch/hedge/api"
)

// DefaultMaxAge is how long Host.Sample serves the figures it measured before
// measuring again: heartbeats come every second, but totals that change
// slowly need not be read that often.
const DefaultMaxAge = 5 * time.Second

// Host samples the machine's totals for the worker's heartbeats: a few small
// /proc reads and one statfs, never the process table. CPU percent and
// network rates are measured between two measurements, so the first sample
// reports them as zero.
type Host struct {
	path   string
	maxAge time.Duration
	now    func() time.Time

	mu       sync.Mutex
	cached   api.HostMetrics
	cachedAt time.Time
	lastAt   time.Time
	lastRx   uint64
	lastTx   uint64
}

// NewHost returns a sampler whose disk figures are for the filesystem holding
// path, measuring at most once per DefaultMaxAge.
func NewHost(path string) *Host {
	return &Host{path: path, maxAge: DefaultMaxAge, now: time.Now}
}

// Sample returns the host's figures, measured now or at most DefaultMaxAge
// ago. Figures that cannot be read are left zero.
func (h *Host) Sample(ctx context.Context) api.HostMetrics {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if !h.cachedAt.IsZero() && now.Sub(h.cachedAt) < h.maxAge {
		return h.cached
	}
	h.cached, h.cachedAt = h.measure(ctx, now), now
	return h.cached
}

// measure reads the host now; h.mu is held.
func (h *Host) measure(ctx context.Context, now time.Time) api.HostMetrics {
	m := api.HostMetrics{Cores: runtime.NumCPU()}
	if p, err := cpu.PercentWithContext(ctx, 0, false); err == nil && len(p) == 1 {
		m.CPUPercent = p[0]
	}
	if v, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		m.MemoryTotalMB = int64(v.Total >> 20)
		m.MemoryFreeMB = int64(v.Available >> 20)
		m.MemoryPercent = v.UsedPercent
	}
	if l, err := load.AvgWithContext(ctx); err == nil {
		m.Load1 = l.Load1
	}
	if d, err := disk.UsageWithContext(ctx, h.path); err == nil {
		m.DiskTotalMB = int64(d.Total >> 20)
		m.DiskFreeMB = int64(d.Free >> 20)
	}
	if io, err := net.IOCountersWithContext(ctx, false); err == nil && len(io) == 1 {
		if !h.lastAt.IsZero() {
			dt := now.Sub(h.lastAt).Seconds()
			if dt > 0 && io[0].BytesRecv >= h.lastRx && io[0].BytesSent >= h.lastTx {
				m.NetRxBytesPS = float64(io[0].BytesRecv-h.lastRx) / dt
				m.NetTxBytesPS = float64(io[0].BytesSent-h.lastTx) / dt
			}
		}
		h.lastAt, h.lastRx, h.lastTx = now, io[0].BytesRecv, io[0].BytesSent
	}
	return m
}

// Capacity is what the host offers to instances: all its cores and memory.
func Capacity(ctx context.Context) api.Resources {
	r := api.Resources{VCPUs: float64(runtime.NumCPU())}
	if v, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		r.MemoryMB = int64(v.Total >> 20)
	}
	return r
}
