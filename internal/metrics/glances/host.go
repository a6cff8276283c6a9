package glances

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	stdnet "net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
)

// HostSource measures the machine it runs on with gopsutil, computing each
// figure the way Glances 3 (through psutil) does. It remembers the previous
// call's counters to turn them into percentages and deltas: the first call
// reports cpu percentages since boot and zero deltas. Sample measures the
// host; Processes, which costs far more, lists the processes.
type HostSource struct {
	noProcs  bool
	maxProcs int
	procRoot string
	sysRoot  string
	fsHide   []*regexp.Regexp

	mu        sync.Mutex
	prevAt    time.Time
	prevCPU   cpu.TimesStat
	prevPer   []cpu.TimesStat
	prevStats cpuStats
	prevNet   map[string]net.IOCountersStat
	static    *hostStatic

	procsMu     sync.Mutex
	procs       processTracker
	prevProcsAt time.Time
}

// hostStatic is what does not change while the machine runs, read once.
type hostStatic struct {
	system  System
	core    Core
	boot    time.Time
	cpuName string
	cpuHz   float64
	cpuMHz  float64
}

// HostOption configures NewHostSource.
type HostOption func(*HostSource)

// WithoutProcesses leaves the processlist and processcount plugins empty, for
// readers that do not need them: listing processes is most of a sample's cost.
func WithoutProcesses() HostOption {
	return func(h *HostSource) { h.noProcs = true }
}

// DefaultMaxProcesses is how many processes Processes reads at most, unless
// WithMaxProcesses says otherwise: it bounds what one request for the
// process list can cost on a crowded machine.
const DefaultMaxProcesses = 4096

// WithMaxProcesses sets how many processes Processes reads at most, the
// lowest pids first; n <= 0 means DefaultMaxProcesses.
func WithMaxProcesses(n int) HostOption {
	return func(h *HostSource) { h.maxProcs = n }
}

// NewHostSource returns a Source for this machine. Like gopsutil it reads
// HOST_PROC and HOST_SYS, so a containerised worker can be pointed at the
// host's /proc and /sys.
func NewHostSource(opts ...HostOption) *HostSource {
	procRoot := envOr("HOST_PROC", "/proc")
	h := &HostSource{
		procRoot: procRoot,
		sysRoot:  envOr("HOST_SYS", "/sys"),
		// Debian's default glances.conf hides these mount points.
		fsHide: []*regexp.Regexp{regexp.MustCompile(`^/boot.*$`), regexp.MustCompile(`^/snap.*$`)},
		procs:  processTracker{procRoot: procRoot, prev: map[int32]procPrev{}, users: map[uint32]string{}},
	}
	for _, o := range opts {
		o(h)
	}
	if h.maxProcs <= 0 {
		h.maxProcs = DefaultMaxProcesses
	}
	// The cpu percentages of a sample cover the time since the previous
	// one. Take the first reference now, so the first sample covers the
	// time since the source was made rather than since the machine booted
	// (on a machine up for hours, a busy moment then read as idle).
	if all, err := cpu.Times(false); err == nil && len(all) == 1 {
		h.prevCPU = all[0]
	}
	if per, err := cpu.Times(true); err == nil {
		h.prevPer = per
	}
	return h
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

var _ ProcessSource = (*HostSource)(nil)

// Sample measures the host now, without processes. Only the cpu and memory
// figures are required; a plugin whose data cannot be read (no swap, no
// /sys) is left empty, as Glances leaves it.
func (h *HostSource) Sample(ctx context.Context) (Sample, error) {
	h.mu.Lock()
	defer h.mu.Unlock()

	now := time.Now()
	// Glances reports 1 s "since last update" on its first update.
	since := 1.0
	if !h.prevAt.IsZero() {
		since = now.Sub(h.prevAt).Seconds()
	}
	first := h.prevAt.IsZero()

	st, err := h.staticInfo(ctx)
	if err != nil {
		return Sample{}, err
	}
	s := Sample{Time: now, BootTime: st.boot, System: st.system, Core: st.core,
		CPUName: st.cpuName, CPUHz: st.cpuHz, CPUHzCurrent: h.currentHz(st)}

	if err := h.sampleCPU(ctx, &s, since, first); err != nil {
		return Sample{}, err
	}
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return Sample{}, fmt.Errorf("read memory: %w", err)
	}
	s.Mem = memOf(vm)
	if sw, err := mem.SwapMemoryWithContext(ctx); err == nil {
		s.MemSwap = MemSwap{Total: sw.Total, Used: sw.Used, Free: sw.Free,
			Percent: round1(percentOf(sw.Used, sw.Total)), Sin: sw.Sin, Sout: sw.Sout, TimeSinceUpdate: since}
	}
	if la, ok := loadAvg(ctx); ok {
		la.CPUCore = st.core.Log
		s.Load = la
	}
	s.FS = h.sampleFS(ctx)
	s.Network = h.sampleNetwork(ctx, since)

	h.prevAt = now
	return s, nil
}

// Processes lists the processes, busiest first, with cpu percentages since
// the previous call (0 for a process seen for the first time, as in
// Glances). It reads at most the source's maximum number of processes.
func (h *HostSource) Processes(ctx context.Context, memTotal uint64) ([]Process, ProcessCount, error) {
	if h.noProcs {
		return []Process{}, ProcessCount{}, nil
	}
	h.procsMu.Lock()
	defer h.procsMu.Unlock()
	now := time.Now()
	since := 1.0
	if !h.prevProcsAt.IsZero() {
		since = now.Sub(h.prevProcsAt).Seconds()
	}
	procs, count, err := h.procs.sample(ctx, memTotal, since, now, h.maxProcs)
	if err != nil {
		return nil, ProcessCount{}, err
	}
	h.prevProcsAt = now
	return procs, count, nil
}

func (h *HostSource) staticInfo(ctx context.Context) (*hostStatic, error) {
	if h.static != nil {
		return h.static, nil
	}
	st := &hostStatic{}
	logical, err := cpu.CountsWithContext(ctx, true)
	if err != nil || logical < 1 {
		logical = runtime.NumCPU()
	}
	phys, err := cpu.CountsWithContext(ctx, false)
	if err != nil || phys < 1 {
		phys = logical
	}
	st.core = Core{Phys: phys, Log: logical}

	bt, err := host.BootTimeWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read boot time: %w", err)
	}
	st.boot = time.Unix(int64(bt), 0)
	st.system = systemInfo(h.procRoot)

	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		st.cpuName = infos[0].ModelName
		st.cpuMHz = infos[0].Mhz
	}
	// psutil's "max" frequency comes from cpufreq only; without it Glances
	// shows 0.
	if khz, ok := readUint(filepath.Join(h.sysRoot, "devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")); ok {
		st.cpuHz = float64(khz) * 1e3
	}
	h.static = st
	return st, nil
}

// currentHz is the current cpu0 frequency from cpufreq, or what /proc/cpuinfo
// said at start when the machine has no cpufreq (most VMs).
func (h *HostSource) currentHz(st *hostStatic) float64 {
	if khz, ok := readUint(filepath.Join(h.sysRoot, "devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")); ok {
		return float64(khz) * 1e3
	}
	return st.cpuMHz * 1e6
}

func (h *HostSource) sampleCPU(ctx context.Context, s *Sample, since float64, first bool) error {
	all, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return fmt.Errorf("read cpu times: %w", err)
	}
	if len(all) != 1 {
		return fmt.Errorf("read cpu times: got %d aggregate lines, want 1", len(all))
	}
	per, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return fmt.Errorf("read per-cpu times: %w", err)
	}

	s.CPU = cpuPercents(h.prevCPU, all[0])
	s.CPU.TimeSinceUpdate = since
	s.CPU.CPUCore = s.Core.Log
	stats, statsErr := readCPUStats(filepath.Join(h.procRoot, "stat"))
	if !first && statsErr == nil {
		// Glances reports these as events since its previous update.
		s.CPU.CtxSwitches = stats.ctxSwitches - h.prevStats.ctxSwitches
		s.CPU.Interrupts = stats.interrupts - h.prevStats.interrupts
		s.CPU.SoftInterrupts = stats.softInterrupts - h.prevStats.softInterrupts
	}
	if statsErr == nil {
		h.prevStats = stats
	}

	s.PerCPU = make([]PerCPU, len(per))
	for i, t := range per {
		var prev cpu.TimesStat
		if i < len(h.prevPer) {
			prev = h.prevPer[i]
		}
		c := cpuPercents(prev, t)
		s.PerCPU[i] = PerCPU{CPUNumber: i, Total: c.Total, User: c.User, System: c.System, Idle: c.Idle,
			Nice: c.Nice, IOWait: c.IOWait, IRQ: c.IRQ, SoftIRQ: c.SoftIRQ, Steal: c.Steal,
			Guest: c.Guest, GuestNice: c.GuestNice}
	}
	h.prevCPU, h.prevPer = all[0], per
	return nil
}

// cpuPercents is psutil's cpu_times_percent and cpu_percent between two
// readings of the cumulative cpu times: each field's share of the elapsed cpu
// time, where guest time is not counted twice (the kernel already includes it
// in user and nice), and total is the share that was neither idle nor waiting
// for I/O. Percentages are rounded to one decimal as psutil rounds them.
func cpuPercents(prev, cur cpu.TimesStat) CPU {
	d := func(a, b float64) float64 { return max(0, b-a) }
	user, nice, system := d(prev.User, cur.User), d(prev.Nice, cur.Nice), d(prev.System, cur.System)
	idle, iowait := d(prev.Idle, cur.Idle), d(prev.Iowait, cur.Iowait)
	irq, softirq, steal := d(prev.Irq, cur.Irq), d(prev.Softirq, cur.Softirq), d(prev.Steal, cur.Steal)
	guest, guestNice := d(prev.Guest, cur.Guest), d(prev.GuestNice, cur.GuestNice)

	all := user + nice + system + idle + iowait + irq + softirq + steal
	if all <= 0 {
		return CPU{}
	}
	pct := func(x float64) float64 { return min(100, max(0, round1(x/all*100))) }
	return CPU{
		Total: round1((all - idle - iowait) / all * 100),
		User:  pct(user), Nice: pct(nice), System: pct(system), Idle: pct(idle), IOWait: pct(iowait),
		IRQ: pct(irq), SoftIRQ: pct(softirq), Steal: pct(steal), Guest: pct(guest), GuestNice: pct(guestNice),
	}
}

// cpuStats are the kernel's cumulative event counters from /proc/stat.
type cpuStats struct {
	ctxSwitches, interrupts, softInterrupts int64
}

// readCPUStats reads what psutil.cpu_stats reads. gopsutil has no equivalent;
// on systems without /proc it fails and the counters stay zero.
func readCPUStats(path string) (cpuStats, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return cpuStats{}, fmt.Errorf("read %s: %w", path, err)
	}
	var st cpuStats
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024) // the intr line is long
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "ctxt":
			st.ctxSwitches = n
		case "intr":
			st.interrupts = n
		case "softirq":
			st.softInterrupts = n
		}
	}
	if err := sc.Err(); err != nil {
		return cpuStats{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return st, nil
}

func memOf(vm *mem.VirtualMemoryStat) Mem {
	used := vm.Total - min(vm.Available, vm.Total)
	return Mem{
		Total: vm.Total, Available: vm.Available, Percent: round1(percentOf(used, vm.Total)),
		// Glances overrides psutil's used and free with htop's view.
		Used: used, Free: vm.Available,
		Active: vm.Active, Inactive: vm.Inactive, Buffers: vm.Buffers, Cached: vm.Cached, Shared: vm.Shared,
	}
}

func (h *HostSource) sampleFS(ctx context.Context) []FS {
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil {
		return nil
	}
	out := make([]FS, 0, len(parts))
	for _, p := range parts {
		if h.hidden(p.Mountpoint) || h.hidden(p.Device) {
			continue
		}
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil {
			continue // unmounted or ejected since the listing, as Glances skips it
		}
		out = append(out, FS{DeviceName: p.Device, FSType: p.Fstype,
			MntPoint: strings.ReplaceAll(p.Mountpoint, "\u00a0", " "),
			Size:     u.Total, Used: u.Used, Free: u.Free, Percent: round1(percentOf(u.Used, u.Used+u.Free))})
	}
	return out
}

func (h *HostSource) hidden(name string) bool {
	for _, re := range h.fsHide {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

func (h *HostSource) sampleNetwork(ctx context.Context, since float64) []Network {
	counters, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		return nil
	}
	// psutil's isup is IFF_RUNNING (link up, carrier present), which gopsutil
	// does not report; the standard library does. Like Glances, interfaces
	// without flags are skipped.
	ifaces, err := stdnet.Interfaces()
	if err != nil {
		return nil
	}
	running := make(map[string]bool, len(ifaces))
	for _, i := range ifaces {
		running[i.Name] = i.Flags&stdnet.FlagRunning != 0
	}

	out := make([]Network, 0, len(counters))
	next := make(map[string]net.IOCountersStat, len(counters))
	for _, c := range counters {
		up, ok := running[c.Name]
		if !ok {
			continue
		}
		next[c.Name] = c
		n := Network{InterfaceName: c.Name, TimeSinceUpdate: since,
			CumulativeRx: c.BytesRecv, CumulativeTx: c.BytesSent, CumulativeCx: c.BytesRecv + c.BytesSent,
			IsUp: up, Speed: h.linkSpeed(c.Name)}
		if p, ok := h.prevNet[c.Name]; ok && c.BytesRecv >= p.BytesRecv && c.BytesSent >= p.BytesSent {
			n.Rx, n.Tx = c.BytesRecv-p.BytesRecv, c.BytesSent-p.BytesSent
			n.Cx = n.Rx + n.Tx
		}
		out = append(out, n)
	}
	h.prevNet = next
	return out
}

// linkSpeed is the link speed in Glances' unit, Mbps * 1048576, or 0 when the
// interface has none (loopback, virtual links answer EINVAL or -1).
func (h *HostSource) linkSpeed(name string) uint64 {
	mbps, ok := readUint(filepath.Join(h.sysRoot, "class/net", name, "speed"))
	if !ok {
		return 0
	}
	return mbps * 1048576
}

// readUint reads a file holding one unsigned number, as sysfs files do.
func readUint(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// systemInfo fills the system plugin as Glances does on Linux: the distro as
// "NAME VERSION_ID" from os-release, the kernel release as os_version.
func systemInfo(procRoot string) System {
	s := System{OSName: goosName(), Platform: strconv.Itoa(strconv.IntSize) + "bit"}
	s.Hostname, _ = os.Hostname()
	if runtime.GOOS == "linux" {
		s.LinuxDistro = linuxDistro()
		if b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/osrelease")); err == nil {
			s.OSVersion = strings.TrimSpace(string(b))
		}
		s.HRName = s.LinuxDistro + " " + s.Platform
		return s
	}
	if v, err := host.KernelVersion(); err == nil {
		s.OSVersion = v
	}
	s.HRName = s.OSName + " " + s.OSVersion + " " + s.Platform
	return s
}

// goosName is Python's platform.system() for GOOS.
func goosName() string {
	switch runtime.GOOS {
	case "linux":
		return "Linux"
	case "darwin":
		return "Darwin"
	case "windows":
		return "Windows"
	case "freebsd":
		return "FreeBSD"
	case "openbsd":
		return "OpenBSD"
	case "netbsd":
		return "NetBSD"
	default:
		return runtime.GOOS
	}
}

func linuxDistro() string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		kv := parseOSRelease(b)
		return strings.TrimSpace(kv["NAME"] + " " + kv["VERSION_ID"])
	}
	return ""
}

func parseOSRelease(b []byte) map[string]string {
	kv := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, `"'`)
		}
		kv[k] = v
	}
	return kv
}

func percentOf(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole) * 100
}

// round1 rounds to one decimal, ties to even as Python's round does.
func round1(x float64) float64 {
	return math.RoundToEven(x*10) / 10
}
