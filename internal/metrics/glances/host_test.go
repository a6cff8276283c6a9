package glances

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"
)

func TestUnitCPUPercents(t *testing.T) {
	base := cpu.TimesStat{User: 100, Nice: 10, System: 50, Idle: 1000, Iowait: 5, Irq: 1, Softirq: 2, Steal: 0, Guest: 20, GuestNice: 1}
	add := func(d cpu.TimesStat) cpu.TimesStat {
		return cpu.TimesStat{User: base.User + d.User, Nice: base.Nice + d.Nice, System: base.System + d.System,
			Idle: base.Idle + d.Idle, Iowait: base.Iowait + d.Iowait, Irq: base.Irq + d.Irq,
			Softirq: base.Softirq + d.Softirq, Steal: base.Steal + d.Steal, Guest: base.Guest + d.Guest,
			GuestNice: base.GuestNice + d.GuestNice}
	}
	tests := []struct {
		name string
		prev cpu.TimesStat
		cur  cpu.TimesStat
		want CPU
	}{
		{"all idle", base, add(cpu.TimesStat{Idle: 4}), CPU{Total: 0, Idle: 100}},
		{"half user", base, add(cpu.TimesStat{User: 2, Idle: 2}), CPU{Total: 50, User: 50, Idle: 50}},
		{
			"iowait is not busy", base, add(cpu.TimesStat{User: 1, Iowait: 1, Idle: 2}),
			CPU{Total: 25, User: 25, IOWait: 25, Idle: 50},
		},
		{
			// Guest time is already inside user: 2 s of user of which 1 s
			// guest is 2 s busy out of 4, not 3 out of 5.
			"guest not counted twice", base, add(cpu.TimesStat{User: 2, Guest: 1, Idle: 2}),
			CPU{Total: 50, User: 50, Guest: 25, Idle: 50},
		},
		{
			"every field", base, add(cpu.TimesStat{User: 1, Nice: 1, System: 1, Idle: 3, Iowait: 1, Irq: 1, Softirq: 1, Steal: 1}),
			CPU{Total: 60, User: 10, Nice: 10, System: 10, Idle: 30, IOWait: 10, IRQ: 10, SoftIRQ: 10, Steal: 10},
		},
		{"rounds to one decimal", base, add(cpu.TimesStat{User: 1, Idle: 2}), CPU{Total: 33.3, User: 33.3, Idle: 66.7}},
		{"no time passed", base, base, CPU{}},
		{
			// A counter that went backwards (cpu hot-unplugged) counts as 0.
			"counter went back", base, func() cpu.TimesStat { c := add(cpu.TimesStat{User: 1, Idle: 1}); c.System -= 10; return c }(),
			CPU{Total: 50, User: 50, Idle: 50},
		},
		{
			"since boot from zero", cpu.TimesStat{}, cpu.TimesStat{User: 30, System: 10, Idle: 60},
			CPU{Total: 40, User: 30, System: 10, Idle: 60},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpuPercents(tt.prev, tt.cur); got != tt.want {
				t.Errorf("cpuPercents =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestUnitReadCPUStats(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stat")
	content := "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n" +
		"intr 8561 1 2 3 4\nctxt 18220\nbtime 1795433232\nprocesses 40\nsoftirq 2051 0 1 2\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readCPUStats(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := (cpuStats{ctxSwitches: 18220, interrupts: 8561, softInterrupts: 2051}); got != want {
		t.Errorf("readCPUStats = %+v, want %+v", got, want)
	}
	if _, err := readCPUStats(filepath.Join(dir, "missing")); err == nil {
		t.Error("readCPUStats of a missing file succeeded")
	}
}

func TestUnitParseOSRelease(t *testing.T) {
	kv := parseOSRelease([]byte("# comment\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\nODD='single'\n"))
	tests := []struct{ key, want string }{
		{"NAME", "Debian GNU/Linux"}, {"VERSION_ID", "12"}, {"ID", "debian"}, {"ODD", "single"}, {"# comment", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if kv[tt.key] != tt.want {
				t.Errorf("%s = %q, want %q", tt.key, kv[tt.key], tt.want)
			}
		})
	}
}

func TestUnitMemOf(t *testing.T) {
	vm := &mem.VirtualMemoryStat{Total: 1000, Available: 750, Used: 1, Free: 2, Active: 3, Inactive: 4, Buffers: 5, Cached: 6, Shared: 7}
	want := Mem{Total: 1000, Available: 750, Percent: 25, Used: 250, Free: 750, Active: 3, Inactive: 4, Buffers: 5, Cached: 6, Shared: 7}
	if got := memOf(vm); got != want {
		t.Errorf("memOf = %+v, want %+v", got, want)
	}
}

// TestHostSourceReal samples this machine twice and checks the figures
// against what the kernel and gopsutil say directly.
func TestHostSourceReal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("HostSource's cpu stats, statm and os-release checks are Linux-only")
	}
	h := NewHostSource()
	if _, err := h.Sample(t.Context()); err != nil {
		t.Fatalf("first sample: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	s, err := h.Sample(t.Context())
	if err != nil {
		t.Fatalf("second sample: %v", err)
	}

	vm, err := mem.VirtualMemoryWithContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Mem.Total != vm.Total || s.Mem.Free != s.Mem.Available || s.Mem.Used != s.Mem.Total-s.Mem.Available {
		t.Errorf("mem = %+v, want total %d, free = available, used = total - available", s.Mem, vm.Total)
	}
	if s.CPU.CPUCore != runtime.NumCPU() || s.Load.CPUCore != runtime.NumCPU() || len(s.PerCPU) != runtime.NumCPU() {
		t.Errorf("cpucore %d, load cpucore %d, percpu %d; want %d", s.CPU.CPUCore, s.Load.CPUCore, len(s.PerCPU), runtime.NumCPU())
	}
	sum := s.CPU.User + s.CPU.Nice + s.CPU.System + s.CPU.Idle + s.CPU.IOWait + s.CPU.IRQ + s.CPU.SoftIRQ + s.CPU.Steal
	if s.CPU.Total < 0 || s.CPU.Total > 100 || math.Abs(sum-100) > 1 {
		t.Errorf("cpu total %v, fields sum to %v; want 0..100 and 100", s.CPU.Total, sum)
	}
	if s.CPU.TimeSinceUpdate < 0.25 || s.CPU.TimeSinceUpdate > 30 {
		t.Errorf("time_since_update = %v, want about 0.3 s", s.CPU.TimeSinceUpdate)
	}
	if !slices.ContainsFunc(s.Network, func(n Network) bool { return n.InterfaceName == "lo" && n.IsUp }) {
		t.Errorf("network %+v lacks an up lo", s.Network)
	}
	if len(s.FS) == 0 {
		t.Errorf("no filesystem listed")
	}
	if s.System.OSName != "Linux" || s.System.Hostname == "" || s.System.OSVersion == "" {
		t.Errorf("system = %+v", s.System)
	}
	if s.BootTime.IsZero() || s.BootTime.After(time.Now()) {
		t.Errorf("boot time = %v", s.BootTime)
	}

	if s.Processes, s.ProcessCount, err = h.Processes(t.Context(), s.Mem.Total); err != nil {
		t.Fatalf("processes: %v", err)
	}
	me := slices.IndexFunc(s.Processes, func(p Process) bool { return p.PID == os.Getpid() })
	if me < 0 {
		t.Fatalf("processlist (%d entries) lacks the test process %d", len(s.Processes), os.Getpid())
	}
	p := s.Processes[me]
	if len(p.MemoryInfo) != 7 || p.MemoryInfo[0] == 0 || p.MemoryInfo[1] < p.MemoryInfo[0] {
		t.Errorf("own memory_info = %v, want rss > 0 and vms >= rss", p.MemoryInfo)
	}
	if len(p.CPUTimes) != 5 || p.NumThreads < 1 || p.Status == "" || p.Username == "" || len(p.Cmdline) == 0 {
		t.Errorf("own entry = %+v", p)
	}
	if s.ProcessCount.Total != len(s.Processes) {
		t.Errorf("processcount total %d, processlist %d", s.ProcessCount.Total, len(s.Processes))
	}
	if !slices.IsSortedFunc(s.Processes, func(a, b Process) int {
		switch {
		case a.CPUPercent > b.CPUPercent:
			return -1
		case a.CPUPercent < b.CPUPercent:
			return 1
		}
		return 0
	}) {
		t.Errorf("processlist not sorted by cpu_percent, busiest first")
	}

	quiet := NewHostSource(WithoutProcesses())
	q, err := quiet.Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if procs, count, err := quiet.Processes(t.Context(), q.Mem.Total); err != nil || len(procs) != 0 || count.Total != 0 {
		t.Errorf("WithoutProcesses processes: %d, count %d, %v", len(procs), count.Total, err)
	}
	if q.Processes != nil || q.ProcessCount.Total != 0 || q.Mem.Total == 0 {
		t.Errorf("WithoutProcesses sample: %d processes, mem %d", len(q.Processes), q.Mem.Total)
	}
}
