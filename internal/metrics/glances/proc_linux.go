package glances

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/unix"
)

// userHZ is the unit of the cpu times in /proc/<pid>/stat: fixed at 100 for
// user space on every Linux architecture, whatever the kernel's HZ.
const userHZ = 100

// procDetails reads what gopsutil lacks or labels differently from psutil:
// the memory_info fields from statm (gopsutil files statm's data column under
// Dirty) and the children's cpu times from stat.
func procDetails(_ context.Context, procRoot string, p *process.Process) (memory []uint64, childUser, childSystem float64) {
	dir := filepath.Join(procRoot, strconv.Itoa(int(p.Pid)))
	memory = []uint64{}
	if b, err := os.ReadFile(filepath.Join(dir, "statm")); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 7 {
			page := uint64(os.Getpagesize())
			n := make([]uint64, 7)
			for i := range n {
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					return []uint64{}, 0, 0
				}
				n[i] = v * page
			}
			// statm: size resident shared text lib data dt; psutil: rss vms
			// shared text lib data dirty.
			memory = []uint64{n[1], n[0], n[2], n[3], n[4], n[5], n[6]}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
		// The command name may hold spaces and parentheses; fields start
		// after the last ')'. cutime and cstime are fields 16 and 17.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 14 {
				cu, _ := strconv.ParseFloat(f[13], 64)
				cs, _ := strconv.ParseFloat(f[14], 64)
				childUser, childSystem = cu/userHZ, cs/userHZ
			}
		}
	}
	return memory, childUser, childSystem
}

// niceValue turns gopsutil's Linux nice, the raw getpriority(2) result
// (20 - nice, so 1..40), into the nice value ps and psutil show (-20..19).
func niceValue(raw int32) int { return 20 - int(raw) }

// loadAvg reads the load averages from sysinfo(2) at full precision, as
// Python's os.getloadavg (glibc) does, where /proc/loadavg rounds them to two
// decimals.
func loadAvg(_ context.Context) (Load, bool) {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return Load{}, false
	}
	const scale = 1 << 16 // SI_LOAD_SHIFT
	return Load{Min1: float64(si.Loads[0]) / scale, Min5: float64(si.Loads[1]) / scale, Min15: float64(si.Loads[2]) / scale}, true
}
