//go:build !linux

package glances

import (
	"context"

	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/process"
)

// procDetails is rss and vms, in bytes, where psutil's extra Linux fields
// and the children's cpu times are not available.
func procDetails(ctx context.Context, _ string, p *process.Process) (memory []uint64, childUser, childSystem float64) {
	m, err := p.MemoryInfoWithContext(ctx)
	if err != nil {
		return []uint64{}, 0, 0
	}
	return []uint64{m.RSS, m.VMS}, 0, 0
}

// niceValue is gopsutil's nice as is outside Linux.
func niceValue(raw int32) int { return int(raw) }

// loadAvg is gopsutil's load average.
func loadAvg(ctx context.Context) (Load, bool) {
	la, err := load.AvgWithContext(ctx)
	if err != nil {
		return Load{}, false
	}
	return Load{Min1: la.Load1, Min5: la.Load5, Min15: la.Load15}, true
}
