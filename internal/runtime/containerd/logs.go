package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	cerrdefs "github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
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
	b, err := tailFile(d.logPath(instanceID), tailBytes)
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
// the new end after a trim; between two checks a log may grow past the limit
// by whatever its instance writes meanwhile.
func (d *Driver) trimLoop() {
	defer d.wg.Done()
	tick := time.NewTicker(d.logEvery)
	defer tick.Stop()
	var buf []byte
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-tick.C:
		}
		d.mu.Lock()
		ids := make([]string, 0, len(d.tasks))
		for id := range d.tasks {
			ids = append(ids, id)
		}
		d.mu.Unlock()
		for _, id := range ids {
			var err error
			buf, err = trimLog(d.logPath(id), d.logLimit, buf)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				d.log.Debug("trim log", "instance", id, "error", err)
			}
		}
	}
}

// trimLog keeps about the last half of the log at path once it is larger than
// limit. Where the file system can drop the head of a file in place
// (FALLOC_FL_COLLAPSE_RANGE: ext4, xfs) that is done, atomically with respect
// to the shim's writes; elsewhere the tail is copied to the start and the
// file truncated, which loses whatever is written during the copy. buf is
// scratch space, returned for reuse.
func trimLog(path string, limit int64, buf []byte) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() <= limit {
		return buf, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	size, keep := fi.Size(), limit/2
	if collapseHead(f, fi, size-keep) {
		return buf, nil
	}
	return trimByCopy(f, size, keep, buf)
}

// collapseHead drops the first n bytes (rounded down to whole blocks) of f in
// place. It reports false where the file system cannot.
func collapseHead(f *os.File, fi os.FileInfo, n int64) bool {
	block := int64(4096)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blksize > 0 {
		block = int64(st.Blksize)
	}
	n = n / block * block
	if n <= 0 {
		return false
	}
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_COLLAPSE_RANGE, 0, n) == nil
}

// trimByCopy moves the last keep bytes of f (from the first whole line on) to
// its start and truncates it there.
func trimByCopy(f *os.File, size, keep int64, buf []byte) ([]byte, error) {
	if int64(cap(buf)) < keep {
		buf = make([]byte, keep)
	}
	tail := buf[:keep]
	n, err := f.ReadAt(tail, size-keep)
	if err != nil && !errors.Is(err, io.EOF) {
		return buf, err
	}
	tail = tail[:n]
	if i := bytes.IndexByte(tail, '\n'); i >= 0 && i < len(tail)-1 {
		tail = tail[i+1:]
	}
	if _, err := f.WriteAt(tail, 0); err != nil {
		return buf, err
	}
	return buf, f.Truncate(int64(len(tail)))
}

// tailFile returns the last n bytes of the file at path (all of it when n <=
// 0), starting at a line boundary when there is one to start at.
func tailFile(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if n <= 0 || int64(n) >= size {
		return io.ReadAll(f)
	}
	// Read one byte more to know whether the tail starts a line.
	buf := make([]byte, n+1)
	got, err := f.ReadAt(buf, size-int64(n)-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	buf = buf[:got]
	if i := bytes.IndexByte(buf, '\n'); i >= 0 && i < len(buf)-1 {
		return buf[i+1:], nil
	}
	return buf[1:], nil
}
