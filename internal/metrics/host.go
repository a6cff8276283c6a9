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

// Host samples the machine. CPU percent and network rates are measured between
// two calls, so the first sample reports them as zero.
type Host struct {
	path string

	mu     sync.Mutex
	lastAt time.Time
	lastRx uint64
	lastTx uint64
}

// NewHost returns a sampler whose disk figures are for the filesystem holding path.
func NewHost(path string) *Host { return &Host{path: path} }

// Sample measures the host now. Figures that cannot be read are left zero.
func (h *Host) Sample(ctx context.Context) api.HostMetrics {
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
		h.mu.Lock()
		now := time.Now()
		if !h.lastAt.IsZero() {
			dt := now.Sub(h.lastAt).Seconds()
			if dt > 0 && io[0].BytesRecv >= h.lastRx && io[0].BytesSent >= h.lastTx {
				m.NetRxBytesPS = float64(io[0].BytesRecv-h.lastRx) / dt
				m.NetTxBytesPS = float64(io[0].BytesSent-h.lastTx) / dt
			}
		}
		h.lastAt, h.lastRx, h.lastTx = now, io[0].BytesRecv, io[0].BytesSent
		h.mu.Unlock()
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
