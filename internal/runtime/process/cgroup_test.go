package process

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
)

// requireCgroups skips the test only when the driver really could not use
// cgroups (not root, read-only /sys/fs/cgroup).
func requireCgroups(t *testing.T, d *testDriver) {
	t.Helper()
	if !d.cg.enabled() {
		t.Skipf("cgroups under %s are not writable (need root and a writable cgroup mount): limits cannot be tested here", d.cg.root)
	}
}

func TestCgroupLimitsRoot(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	requireCgroups(t, d)
	spec := runtime.Spec{InstanceID: "limited", Service: api.ServiceSpec{
		Name: "limited", Code: "/bin/sh", Cmd: []string{"-c", "x=$(head -c 2000000 /dev/zero | tr '\\0' a); echo ready; sleep 60"},
		MemoryMB: 64, VCPUs: 0.5,
	}}
	task, err := d.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitLogs(t, d, "limited", "ready")

	const wantMem = 64 << 20
	switch d.cg.version {
	case 1:
		memDir := filepath.Join(d.cg.memoryDir, testCgroupParent, "limited")
		cpuDir := filepath.Join(d.cg.cpuDir, testCgroupParent, "limited")
		if got := mustReadInt(t, filepath.Join(memDir, "memory.limit_in_bytes")); got != wantMem {
			t.Errorf("memory.limit_in_bytes = %d, want %d", got, wantMem)
		}
		period := mustReadInt(t, filepath.Join(cpuDir, "cpu.cfs_period_us"))
		if got := mustReadInt(t, filepath.Join(cpuDir, "cpu.cfs_quota_us")); got != period/2 {
			t.Errorf("cpu.cfs_quota_us = %d, want half of the period %d", got, period)
		}
		for _, ctrl := range []string{"memory", "cpu", "cpuacct"} {
			want := "/" + testCgroupParent + "/limited"
			if got := procCgroup(t, programPID(t, task.PID), ctrl); got != want {
				t.Errorf("process is in %s cgroup %q, want %q", ctrl, got, want)
			}
		}
	case 2:
		dir := d.cg.dirs("limited")[0]
		if got := strings.TrimSpace(mustRead(t, filepath.Join(dir, "memory.max"))); got != strconv.Itoa(wantMem) {
			t.Errorf("memory.max = %s, want %d", got, wantMem)
		}
		if got := strings.TrimSpace(mustRead(t, filepath.Join(dir, "cpu.max"))); got != "50000 100000" {
			t.Errorf("cpu.max = %q, want %q", got, "50000 100000")
		}
		if got, want := procCgroup(t, programPID(t, task.PID), ""), "/"+testCgroupParent+"/limited"; got != want {
			t.Errorf("process is in cgroup %q, want %q", got, want)
		}
	}

	// The program was just moved into the cgroup (v1), and what it used
	// before stays charged where it was: read until it has used some here.
	var cpu float64
	var mem int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, m, err := d.Usage(context.Background(), "limited")
		if err != nil {
			t.Fatalf("Usage: %v", err)
		}
		cpu, mem = c, m
		if (mem > 0 && cpu > 0) || time.Now().After(deadline) {
			break
		}
	}
	if mem <= 0 || mem > wantMem || cpu <= 0 {
		t.Errorf("Usage = %v s, %d bytes; want some CPU and 0 < memory <= the limit", cpu, mem)
	}

	dirs := d.cg.dirs("limited")
	if err := d.Remove(context.Background(), "limited"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s after Remove: %v, want it gone", dir, err)
		}
	}
}

func TestMemoryLimitEnforcedRoot(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	requireCgroups(t, d)
	// Holding 64 MB in a shell variable under a 16 MB limit gets the
	// process OOM-killed.
	spec := runtime.Spec{InstanceID: "hog", Service: api.ServiceSpec{
		Name: "hog", Code: "/bin/sh", Cmd: []string{"-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived"},
		MemoryMB: 16,
	}}
	if _, err := d.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	e := exits.Wait(t, "hog")
	out, _ := d.Logs(context.Background(), "hog", 0)
	if strings.Contains(string(out), "survived") || e.Signal != "SIGKILL" {
		t.Errorf("a shell holding 64 MB under a 16 MB limit: exit %+v, output %q; want it OOM-killed", e, out)
	}
}

// TestCgroupV2PlacementRoot runs the cgroup v2 path against a v2 hierarchy
// that has no controllers (the "unified" mount of a hybrid v1 machine): the
// child must start inside its cgroup (clone3 with CLONE_INTO_CGROUP) even
// though limits cannot be written there.
func TestCgroupV2PlacementRoot(t *testing.T) {
	const unified = "/sys/fs/cgroup/unified"
	if _, err := os.Stat(filepath.Join(unified, "cgroup.controllers")); err != nil {
		t.Skipf("no cgroup v2 hierarchy at %s", unified)
	}
	d, _ := newTestDriver(t, Options{cgroupRoot: unified})
	requireCgroups(t, d)
	if d.cg.version != 2 {
		t.Fatalf("cgroup version = %d under %s, want 2", d.cg.version, unified)
	}
	spec := sleepSpec("v2")
	spec.Service.MemoryMB = 32
	task, err := d.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got, want := procCgroup(t, programPID(t, task.PID), ""), "/"+testCgroupParent+"/v2"; got != want {
		t.Errorf("process is in cgroup v2 %q, want %q", got, want)
	}
	dir := d.cg.dirs("v2")[0]
	if err := d.Remove(context.Background(), "v2"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s after Remove: %v, want it gone", dir, err)
	}
}

func TestCgroupsUnwritable(t *testing.T) {
	// A root that is not a cgroup mount at all: the driver warns and runs
	// instances without limits instead of failing.
	d, _ := newTestDriver(t, Options{cgroupRoot: t.TempDir()})
	if d.cg.enabled() {
		t.Fatalf("cgroups enabled on an empty directory")
	}
	spec := sleepSpec("free")
	spec.Service.MemoryMB, spec.Service.VCPUs = 16, 1
	if _, err := d.Start(context.Background(), spec); err != nil {
		t.Fatalf("Start without cgroups: %v", err)
	}
	if _, _, err := d.Usage(context.Background(), "free"); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("Usage without cgroups = %v, want ErrUnavailable", err)
	}
	if err := d.Stop(context.Background(), "free", time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestCPUQuota(t *testing.T) {
	tests := []struct {
		name   string
		vcpus  float64
		period int64
		want   int64
	}{
		{name: "half", vcpus: 0.5, period: 100000, want: 50000},
		{name: "two", vcpus: 2, period: 100000, want: 200000},
		{name: "tiny is floored", vcpus: 0.001, period: 100000, want: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpuQuota(tt.vcpus, tt.period); got != tt.want {
				t.Errorf("cpuQuota(%v, %d) = %d, want %d", tt.vcpus, tt.period, got, tt.want)
			}
		})
	}
}

func TestStatField(t *testing.T) {
	const stat = "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n"
	if got, err := statField(stat, "usage_usec"); err != nil || got != 1234 {
		t.Errorf("statField = %d, %v", got, err)
	}
	if _, err := statField(stat, "nr_periods"); err == nil {
		t.Errorf("statField of a missing key: no error")
	}
}

// procCgroup returns the cgroup of pid in the v1 hierarchy holding
// controller, or in the v2 hierarchy when controller is "".
func procCgroup(t *testing.T, pid int, controller string) string {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if controller == "" && parts[0] == "0" && parts[1] == "" {
			return parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if controller != "" && c == controller {
				return parts[2]
			}
		}
	}
	return ""
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustReadInt(t *testing.T, path string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(mustRead(t, path)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUsageOfAnIdleInstanceStaysTrue(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	requireCgroups(t, d)
	// Busy for a moment, then idle: the figures read while it idles (taken
	// from the last read while no instance runs) must be its real ones.
	spec := shSpec("idler", `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo idle; exec sleep 60`)
	if _, err := d.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitLogs(t, d, "idler", "idle")
	first, _, err := d.Usage(context.Background(), "idler")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // past a round of the parent's figure
	for i := range 3 {
		cpu, mem, err := d.Usage(context.Background(), "idler")
		if err != nil {
			t.Fatal(err)
		}
		real, err := d.cg.cpu("idler")
		if err != nil {
			t.Fatal(err)
		}
		if cpu <= 0 || cpu < first || cpu != real || mem <= 0 {
			t.Errorf("Usage %d = %v s, %d bytes; want the cgroup's %v s (first read %v s) and some memory", i, cpu, mem, real, first)
		}
	}
}
