package glances

import (
	"cmp"
	"context"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// processTracker lists processes for the processlist plugin. It keeps each
// process's previous cpu time to compute its cpu percent over the interval,
// and the gopsutil handle so that a process's name and start time are read
// once in its life rather than every sample.
type processTracker struct {
	procRoot string
	prev     map[int32]procPrev
	users    map[uint32]string
}

type procPrev struct {
	proc    *process.Process
	created int64
	cpu     float64 // user+system seconds
	at      time.Time
	io      []uint64 // read, write bytes; nil when unreadable
}

// sample lists the processes, at most limit of them (the lowest pids),
// busiest first as Glances sorts them. A process that exits while being read
// is left out.
func (t *processTracker) sample(ctx context.Context, memTotal uint64, since float64, now time.Time, limit int) ([]Process, ProcessCount, error) {
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		return nil, ProcessCount{}, fmt.Errorf("list pids: %w", err)
	}
	if len(pids) > limit {
		pids = pids[:limit]
	}
	next := make(map[int32]procPrev, len(pids))
	out := make([]Process, 0, len(pids))
	var count ProcessCount
	for _, pid := range pids {
		if ctx.Err() != nil {
			break
		}
		pr, ok := t.one(ctx, pid, memTotal, since, now, next)
		if !ok {
			continue
		}
		out = append(out, pr)
		count.Total++
		count.Thread += pr.NumThreads
		switch pr.Status {
		case "R":
			count.Running++
		case "S":
			count.Sleeping++
		}
	}
	t.prev = next
	slices.SortStableFunc(out, func(a, b Process) int {
		if c := cmp.Compare(b.CPUPercent, a.CPUPercent); c != 0 {
			return c
		}
		if c := cmp.Compare(b.MemoryPercent, a.MemoryPercent); c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
	return out, count, nil
}

func (t *processTracker) one(ctx context.Context, pid int32, memTotal uint64, since float64, now time.Time, next map[int32]procPrev) (Process, bool) {
	prev, known := t.prev[pid]
	p := prev.proc
	if !known {
		p = &process.Process{Pid: pid}
	}
	created, err := p.CreateTimeWithContext(ctx)
	if err != nil {
		return Process{}, false
	}
	if known && created != prev.created { // the pid was reused
		known, p = false, &process.Process{Pid: pid}
		if created, err = p.CreateTimeWithContext(ctx); err != nil {
			return Process{}, false
		}
	}
	times, err := p.TimesWithContext(ctx)
	if err != nil {
		return Process{}, false
	}
	name, err := p.NameWithContext(ctx)
	if err != nil {
		return Process{}, false
	}
	cpuSecs := times.User + times.System
	cur := procPrev{proc: p, created: created, cpu: cpuSecs, at: now}

	memory, childUser, childSystem := procDetails(ctx, t.procRoot, p)
	pr := Process{PID: int(pid), Name: name, TimeSinceUpdate: since, MemoryInfo: memory,
		CPUTimes: []float64{times.User, times.System, childUser, childSystem, times.Iowait}}
	// psutil's Process.cpu_percent: cpu seconds over wall seconds, of one
	// CPU; 0 the first time a process is seen.
	if known {
		if wall := now.Sub(prev.at).Seconds(); wall > 0 {
			pr.CPUPercent = round1(max(0, cpuSecs-prev.cpu) / wall * 100)
		}
	}
	pr.Cmdline, _ = p.CmdlineSliceWithContext(ctx)
	if pr.Cmdline == nil {
		pr.Cmdline = []string{}
	}
	if st, err := p.StatusWithContext(ctx); err == nil && len(st) > 0 {
		pr.Status = statusLetter(st[0])
	}
	if n, err := p.NiceWithContext(ctx); err == nil {
		// gopsutil reports the priority base (20 = nice 0) on Linux.
		pr.Nice = niceValue(n)
	}
	if n, err := p.NumThreadsWithContext(ctx); err == nil {
		pr.NumThreads = int(n)
	}
	if len(pr.MemoryInfo) > 0 && memTotal > 0 {
		pr.MemoryPercent = float64(pr.MemoryInfo[0]) / float64(memTotal) * 100
	}
	if uids, err := p.UidsWithContext(ctx); err == nil && len(uids) > 0 {
		pr.Username = t.username(uids[0])
	}
	pr.Gids = []uint32{}
	if g, err := p.GidsWithContext(ctx); err == nil && len(g) >= 3 {
		pr.Gids = g[:3]
	}
	pr.IOCounters = []uint64{0, 0, 0, 0, 0}
	if io, err := p.IOCountersWithContext(ctx); err == nil {
		cur.io = []uint64{io.ReadBytes, io.WriteBytes}
		pr.IOCounters = []uint64{io.ReadBytes, io.WriteBytes, 0, 0, 0}
		if known && prev.io != nil {
			pr.IOCounters = []uint64{io.ReadBytes, io.WriteBytes, prev.io[0], prev.io[1], 1}
		}
	}
	next[pid] = cur
	return pr, true
}

// username resolves a uid once per tracker; /etc/passwd does not change often
// enough to be read for every process every two seconds.
func (t *processTracker) username(uid uint32) string {
	if n, ok := t.users[uid]; ok {
		return n
	}
	id := strconv.FormatUint(uint64(uid), 10)
	name := id
	if u, err := user.LookupId(id); err == nil {
		name = u.Username
	}
	t.users[uid] = name
	return name
}

// statusLetter turns gopsutil's status word back into the kernel's letter,
// which is what Glances shows.
func statusLetter(s string) string {
	switch s {
	case process.Running:
		return "R"
	case process.Sleep:
		return "S"
	case process.Blocked:
		return "D"
	case process.Idle:
		return "I"
	case process.Zombie:
		return "Z"
	case process.Stop:
		return "T"
	case process.Wait:
		return "W"
	case process.Lock:
		return "L"
	default:
		return "?"
	}
}
