package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// Logs returns the last tailBytes (all when tailBytes <= 0) of the
// container's combined stdout and stderr, from the start of a line when
// possible. The output of an ended instance stays readable until Remove.
func (d *Driver) Logs(ctx context.Context, instanceID string, tailBytes int) ([]byte, error) {
	if err := runtime.CheckID(instanceID); err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w: %w", instanceID, runtime.ErrNotFound, err)
	}
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true}
	if tailBytes > 0 {
		// The daemon counts lines, not bytes; tailBytes bytes hold at most
		// tailBytes lines, so asking for that many is always enough.
		opts.Tail = strconv.Itoa(tailBytes)
	}
	name := d.containerName(instanceID)
	rc, err := d.cli.ContainerLogs(ctx, name, opts)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("logs of instance %s: %w", instanceID, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", instanceID, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	// Containers run without a TTY, so the stream is multiplexed; both
	// streams go to one buffer, in the order the daemon sends them.
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", instanceID, err)
	}
	return tail(buf.Bytes(), tailBytes), nil
}

// tail returns the last n bytes of b (all of it when n <= 0), from the start
// of a line when there is one to start at.
func tail(b []byte, n int) []byte {
	if n <= 0 || n >= len(b) {
		return b
	}
	cut := b[len(b)-n-1:] // one byte more, to know whether the tail starts a line
	if i := bytes.IndexByte(cut, '\n'); i >= 0 && i < len(cut)-1 {
		return cut[i+1:]
	}
	return cut[1:]
}

// Usage asks the daemon for one sample of the container's CPU time and
// memory in use (without the inactive page cache, as `docker stats` counts
// it).
func (d *Driver) Usage(ctx context.Context, instanceID string) (cpuSeconds float64, memoryBytes int64, err error) {
	if err := runtime.CheckID(instanceID); err != nil {
		return 0, 0, fmt.Errorf("usage of instance %s: %w: %w", instanceID, runtime.ErrNotFound, err)
	}
	res, err := d.cli.ContainerStats(ctx, d.containerName(instanceID), client.ContainerStatsOptions{})
	if cerrdefs.IsNotFound(err) {
		return 0, 0, fmt.Errorf("usage of instance %s: %w", instanceID, runtime.ErrNotFound)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("usage of instance %s: %w", instanceID, err)
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&st); err != nil {
		return 0, 0, fmt.Errorf("usage of instance %s: %w", instanceID, err)
	}
	mem := st.MemoryStats.Usage
	for _, k := range []string{"total_inactive_file", "inactive_file"} { // cgroup v1, v2
		if v, ok := st.MemoryStats.Stats[k]; ok && v < mem {
			mem -= v
			break
		}
	}
	return float64(st.CPUStats.CPUUsage.TotalUsage) / 1e9, int64(mem), nil
}
