package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat. Linux exports
// USER_HZ = 100 to user space on every architecture Hedge targets, whatever
// the kernel's internal HZ.
const userHZ = 100

// rssKB returns the resident set size of pid (VmRSS), in KiB.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	return parseVmRSS(b)
}

// parseVmRSS finds the VmRSS line of a /proc/<pid>/status file.
func parseVmRSS(status []byte) (int64, error) {
	for line := range strings.Lines(string(status)) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want \"<n> kB\"", strings.TrimSpace(line))
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, errors.New("no VmRSS line: the process is a zombie or a kernel thread")
}

// cpuTicks returns the CPU time pid used so far (utime + stime of all its
// threads), in USER_HZ ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return parseCPUTicks(b)
}

// parseCPUTicks reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat
// line. The command name (field 2) may hold spaces and parentheses, so the
// fields are counted from its closing parenthesis.
func parseCPUTicks(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat line without a command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line has %d fields after the command name, want at least 13", len(f))
	}
	utime, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return utime + stime, nil
}

// rssOf returns the VmRSS of every pid, in KiB.
func rssOf(pids []int) ([]int64, error) {
	out := make([]int64, len(pids))
	for i, pid := range pids {
		kb, err := rssKB(pid)
		if err != nil {
			return nil, err
		}
		out[i] = kb
	}
	return out, nil
}

// usage is what one process cost over a sampling window.
type usage struct {
	RSSKB      int64   // VmRSS at the end of the window
	CPUPercent float64 // of one core, averaged over the window
}

// sampleUsage measures the CPU used by every pid over the same window of
// length d, then reads their RSS. Sampling all processes together means the
// tiers of a deployment are measured under the same conditions.
func sampleUsage(ctx context.Context, pids []int, d time.Duration) ([]usage, error) {
	before := make([]int64, len(pids))
	for i, pid := range pids {
		t, err := cpuTicks(pid)
		if err != nil {
			return nil, err
		}
		before[i] = t
	}
	start := time.Now()
	if err := sleep(ctx, d); err != nil {
		return nil, err
	}
	wall := time.Since(start).Seconds()
	out := make([]usage, len(pids))
	for i, pid := range pids {
		after, err := cpuTicks(pid)
		if err != nil {
			return nil, err
		}
		rss, err := rssKB(pid)
		if err != nil {
			return nil, err
		}
		out[i] = usage{RSSKB: rss, CPUPercent: float64(after-before[i]) / userHZ / wall * 100}
	}
	return out, nil
}

// strayProcesses lists the live processes that belong to this run: those
// whose environment holds marker (every instance the bench submits carries
// it) or whose working directory is under dir (instances run in a work
// directory inside their worker's data dir). Zombies are skipped: they hold
// no resources and vanish when their parent reaps them.
func strayProcesses(marker, dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if isZombie(pid) {
			continue
		}
		if ours(pid, marker, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func ours(pid int, marker, dir string) bool {
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && dir != "" {
		if cwd == dir || strings.HasPrefix(cwd, dir+string(filepath.Separator)) {
			return true
		}
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for v := range bytes.SplitSeq(env, []byte{0}) {
		if string(v) == marker {
			return true
		}
	}
	return false
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone already
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// leftoverCgroups lists the cgroup directories of the given instances that
// still exist under any hierarchy: a deleted instance should leave none.
func leftoverCgroups(instanceIDs []string) []string {
	var out []string
	for _, pattern := range []string{"/sys/fs/cgroup/hedge", "/sys/fs/cgroup/*/hedge"} {
		parents, _ := filepath.Glob(pattern)
		for _, p := range parents {
			for _, id := range instanceIDs {
				if _, err := os.Stat(filepath.Join(p, id)); err == nil {
					out = append(out, filepath.Join(p, id))
				}
			}
		}
	}
	return out
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
