package glances

import "time"

// The structs below are Glances 3 plugins field for field, in Glances' order,
// with its units: percentages in % (0-100, one decimal), sizes in bytes,
// durations in seconds. Counters that Glances reports "since last update" are
// deltas over TimeSinceUpdate seconds, not rates.

// CPU is the cpu plugin: where the machine's time went over the last sampling
// interval, as psutil.cpu_times_percent computes it. Total is the busy share,
// 100 minus idle and iowait.
type CPU struct {
	Total           float64 `json:"total"`
	User            float64 `json:"user"`
	Nice            float64 `json:"nice"`
	System          float64 `json:"system"`
	Idle            float64 `json:"idle"`
	IOWait          float64 `json:"iowait"`
	IRQ             float64 `json:"irq"`
	SoftIRQ         float64 `json:"softirq"`
	Steal           float64 `json:"steal"`
	Guest           float64 `json:"guest"`
	GuestNice       float64 `json:"guest_nice"`
	TimeSinceUpdate float64 `json:"time_since_update"`
	CPUCore         int     `json:"cpucore"`
	CtxSwitches     int64   `json:"ctx_switches"`
	Interrupts      int64   `json:"interrupts"`
	SoftInterrupts  int64   `json:"soft_interrupts"`
	Syscalls        int64   `json:"syscalls"`
}

// PerCPU is one logical CPU in the percpu plugin (and quicklook's percpu).
type PerCPU struct {
	Key       string  `json:"key"`
	CPUNumber int     `json:"cpu_number"`
	Total     float64 `json:"total"`
	User      float64 `json:"user"`
	System    float64 `json:"system"`
	Idle      float64 `json:"idle"`
	Nice      float64 `json:"nice"`
	IOWait    float64 `json:"iowait"`
	IRQ       float64 `json:"irq"`
	SoftIRQ   float64 `json:"softirq"`
	Steal     float64 `json:"steal"`
	Guest     float64 `json:"guest"`
	GuestNice float64 `json:"guest_nice"`
}

// Mem is the mem plugin. Like Glances, Free is what could be given to
// processes now (the kernel's MemAvailable) and Used is Total minus that, so
// Percent is (Total-Available)/Total.
type Mem struct {
	Total     uint64  `json:"total"`
	Available uint64  `json:"available"`
	Percent   float64 `json:"percent"`
	Used      uint64  `json:"used"`
	Free      uint64  `json:"free"`
	Active    uint64  `json:"active"`
	Inactive  uint64  `json:"inactive"`
	Buffers   uint64  `json:"buffers"`
	Cached    uint64  `json:"cached"`
	Shared    uint64  `json:"shared"`
}

// MemSwap is the memswap plugin; Sin and Sout are cumulative bytes.
type MemSwap struct {
	Total           uint64  `json:"total"`
	Used            uint64  `json:"used"`
	Free            uint64  `json:"free"`
	Percent         float64 `json:"percent"`
	Sin             uint64  `json:"sin"`
	Sout            uint64  `json:"sout"`
	TimeSinceUpdate float64 `json:"time_since_update"`
}

// Load is the load plugin: raw load averages, not divided by CPUCore.
type Load struct {
	Min1    float64 `json:"min1"`
	Min5    float64 `json:"min5"`
	Min15   float64 `json:"min15"`
	CPUCore int     `json:"cpucore"`
}

// FS is one mounted filesystem in the fs plugin, keyed by MntPoint. Free is
// what unprivileged users may still write, so Used+Free can be less than Size.
type FS struct {
	DeviceName string  `json:"device_name"`
	FSType     string  `json:"fs_type"`
	MntPoint   string  `json:"mnt_point"`
	Size       uint64  `json:"size"`
	Used       uint64  `json:"used"`
	Free       uint64  `json:"free"`
	Percent    float64 `json:"percent"`
	Key        string  `json:"key"`
}

// Network is one interface in the network plugin, keyed by InterfaceName. Rx,
// Tx and Cx are bytes since the previous sample (divide by TimeSinceUpdate for
// a rate); Speed is in bits per second as Glances reckons it (Mbps * 2^20).
type Network struct {
	InterfaceName   string  `json:"interface_name"`
	Alias           *string `json:"alias"`
	TimeSinceUpdate float64 `json:"time_since_update"`
	CumulativeRx    uint64  `json:"cumulative_rx"`
	Rx              uint64  `json:"rx"`
	CumulativeTx    uint64  `json:"cumulative_tx"`
	Tx              uint64  `json:"tx"`
	CumulativeCx    uint64  `json:"cumulative_cx"`
	Cx              uint64  `json:"cx"`
	IsUp            bool    `json:"is_up"`
	Speed           uint64  `json:"speed"`
	Key             string  `json:"key"`
}

// Process is one entry of the processlist plugin, keyed by PID. The tuples
// are arrays because that is how Glances writes psutil's namedtuples: Gids is
// (real, effective, saved); MemoryInfo is (rss, vms, shared, text, lib, data,
// dirty) in bytes; CPUTimes is (user, system, children_user,
// children_system, iowait) in seconds; IOCounters is (read_bytes,
// write_bytes, previous read_bytes, previous write_bytes, tag), tag 1 when the
// previous figures are there to compute a rate. CPUPercent is of one CPU, so a
// busy multi-threaded process can pass 100.
type Process struct {
	Gids            []uint32  `json:"gids"`
	MemoryInfo      []uint64  `json:"memory_info"`
	NumThreads      int       `json:"num_threads"`
	CPUPercent      float64   `json:"cpu_percent"`
	Status          string    `json:"status"`
	CPUTimes        []float64 `json:"cpu_times"`
	MemoryPercent   float64   `json:"memory_percent"`
	Nice            int       `json:"nice"`
	Name            string    `json:"name"`
	Cmdline         []string  `json:"cmdline"`
	IOCounters      []uint64  `json:"io_counters"`
	PID             int       `json:"pid"`
	Username        string    `json:"username"`
	Key             string    `json:"key"`
	TimeSinceUpdate float64   `json:"time_since_update"`
}

// ProcessCount is the processcount plugin.
type ProcessCount struct {
	Total    int `json:"total"`
	Running  int `json:"running"`
	Sleeping int `json:"sleeping"`
	Thread   int `json:"thread"`
	PIDMax   int `json:"pid_max"`
}

// System is the system plugin.
type System struct {
	OSName      string `json:"os_name"`
	Hostname    string `json:"hostname"`
	Platform    string `json:"platform"`
	LinuxDistro string `json:"linux_distro"`
	OSVersion   string `json:"os_version"`
	HRName      string `json:"hr_name"`
}

// Core is the core plugin: physical and logical CPU counts.
type Core struct {
	Phys int `json:"phys"`
	Log  int `json:"log"`
}

// QuickLook is the quicklook plugin, the one-glance summary. Frequencies are
// in Hz.
type QuickLook struct {
	CPU          float64  `json:"cpu"`
	PerCPU       []PerCPU `json:"percpu"`
	Mem          float64  `json:"mem"`
	Swap         float64  `json:"swap"`
	CPUName      string   `json:"cpu_name"`
	CPUHzCurrent float64  `json:"cpu_hz_current"`
	CPUHz        float64  `json:"cpu_hz"`
}

// Sample is one measurement of the host: everything the plugins are drawn
// from. Sources fill it; the handler never measures anything itself.
type Sample struct {
	// Time is when the sample was taken.
	Time time.Time
	// BootTime lets the uptime plugin count from the request's clock.
	BootTime time.Time

	CPU          CPU
	PerCPU       []PerCPU
	Mem          Mem
	MemSwap      MemSwap
	Load         Load
	FS           []FS
	Network      []Network
	Processes    []Process
	ProcessCount ProcessCount
	System       System
	Core         Core

	// CPUName, CPUHzCurrent and CPUHz feed the quicklook plugin.
	CPUName      string
	CPUHzCurrent float64
	CPUHz        float64
}
