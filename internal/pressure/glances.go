package pressure

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/hedgeorch/hedge/internal/metrics/glances"
)

// GlancesSource samples a node through a Glances-compatible REST API: a real
// `glances -w` (FRACTAL's metrics exporter) or a Hedge worker's Glances view.
// It reads cpu (total), mem (percent), load (min1, cpucore) and fs (the
// fullest file system's percent). A server without the load or fs plugin
// yields NaN there, which the Machine leaves unjudged; cpu and mem are
// required.
type GlancesSource struct {
	Client *glances.Client
	// MountPoints limits the disk figure to these file systems; empty means
	// every one the server lists except read-only images (squashfs, ISO),
	// which are always full.
	MountPoints []string
}

var _ Source = GlancesSource{}

// alwaysFull are file system types that are full by construction.
var alwaysFull = []string{"squashfs", "iso9660", "udf"}

// Sample reads the node's figures; node only names it in errors.
func (g GlancesSource) Sample(ctx context.Context, node string) (Sample, error) {
	if g.Client == nil {
		return Sample{}, fmt.Errorf("sample %s: glances source has no client", node)
	}
	cpu, err := g.Client.CPU(ctx)
	if err != nil {
		return Sample{}, fmt.Errorf("sample %s: %w", node, err)
	}
	mem, err := g.Client.Mem(ctx)
	if err != nil {
		return Sample{}, fmt.Errorf("sample %s: %w", node, err)
	}
	s := Sample{CPUPercent: cpu.Total, MemoryPercent: mem.Percent, Cores: cpu.CPUCore, Load1: math.NaN(), DiskPercent: math.NaN()}

	load, err := g.Client.Load(ctx)
	switch {
	case errors.Is(err, glances.ErrNotFound):
	case err != nil:
		return Sample{}, fmt.Errorf("sample %s: %w", node, err)
	default:
		s.Load1 = load.Min1
		if load.CPUCore > 0 {
			s.Cores = load.CPUCore
		}
	}

	fs, err := g.Client.FS(ctx)
	switch {
	case errors.Is(err, glances.ErrNotFound):
	case err != nil:
		return Sample{}, fmt.Errorf("sample %s: %w", node, err)
	default:
		for _, f := range fs {
			if slices.Contains(alwaysFull, f.FSType) || len(g.MountPoints) > 0 && !slices.Contains(g.MountPoints, f.MntPoint) {
				continue
			}
			if math.IsNaN(s.DiskPercent) || f.Percent > s.DiskPercent {
				s.DiskPercent = f.Percent
			}
		}
	}
	return s, nil
}
