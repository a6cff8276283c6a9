package containerd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/hedgeorch/hedge/internal/runtime/logfile"
)

// Logs returns the last tailBytes (all when tailBytes <= 0) of the
// instance's combined stdout and stderr, from the start of a line when
// possible. The shim writes the task's output straight into the instance's
// log file, so the output of an ended instance, or of one whose worker
// restarted, stays readable until Remove.
func (d *Driver) Logs(ctx context.Context, instanceID string, tailBytes int) ([]byte, error) {
	if _, err := d.running(ctx, instanceID); err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", instanceID, err)
	}
	b, err := logfile.Tail(d.logPath(instanceID), tailBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", instanceID, err)
	}
	return b, nil
}

// Usage reads the task's CPU time and memory in use (without the inactive
// page cache, as `docker stats` counts it) from its cgroup, through the
// shim. An instance that is not running has no usage.
func (d *Driver) Usage(ctx context.Context, instanceID string) (cpuSeconds float64, memoryBytes int64, err error) {
	t, err := d.running(ctx, instanceID)
	if err != nil {
		return 0, 0, fmt.Errorf("usage of instance %s: %w", instanceID, err)
	}
	if t == nil || t.exited.Load() {
		return 0, 0, fmt.Errorf("usage of instance %s: not running", instanceID)
	}
	v, err := metrics(d.withNamespace(ctx), t.task)
	if cerrdefs.IsNotFound(err) {
		return 0, 0, fmt.Errorf("usage of instance %s: not running", instanceID)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("usage of instance %s: %w", instanceID, err)
	}
	switch m := v.(type) {
	case *v1stats.Metrics:
		if m.CPU != nil && m.CPU.Usage != nil {
			cpuSeconds = float64(m.CPU.Usage.Total) / 1e9
		}
		if m.Memory != nil && m.Memory.Usage != nil {
			memoryBytes = int64(m.Memory.Usage.Usage)
			if inactive := int64(m.Memory.TotalInactiveFile); inactive < memoryBytes {
				memoryBytes -= inactive
			}
		}
	case *v2stats.Metrics:
		if m.CPU != nil {
			cpuSeconds = float64(m.CPU.UsageUsec) / 1e6
		}
		if m.Memory != nil {
			memoryBytes = int64(m.Memory.Usage)
			if inactive := int64(m.Memory.InactiveFile); inactive < memoryBytes {
				memoryBytes -= inactive
			}
		}
	default:
		return 0, 0, fmt.Errorf("usage of instance %s: metrics of unknown type %T", instanceID, v)
	}
	return cpuSeconds, memoryBytes, nil
}

// trimLoop is the one goroutine that keeps every supervised instance's log
// bounded. The shim appends to the file (O_APPEND), so it goes on writing at
// the new end after a trim.
func (d *Driver) trimLoop() {
	defer d.wg.Done()
	logfile.Keeper{Limit: d.logLimit, Every: d.logEvery, IDs: d.taskIDs, Path: d.logPath, Log: d.log}.Run(d.ctx.Done())
}

// taskIDs lists the instances the driver supervises.
func (d *Driver) taskIDs() []string {
	return d.tasks.IDs()
}
