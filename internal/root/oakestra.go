package root

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/placement"
)

// This file gives Hedge's objects the fields, under Oakestra's names, that
// Oakestra's own CLI and dashboard read (docs/oakestra.md), alongside
// Hedge's: _id as {"$oid": id}, services flat, instances with their usage
// history and logs, clusters as Oakestra's root lists them.

// historyLen bounds the usage history kept per instance: at one report
// every few seconds, a few minutes of figures for the dashboard's plots.
const historyLen = 60

// logTail is how much of each instance's output GET /api/service/{id}
// carries in instance_list[n].logs.
const logTail = 16 << 10

// logWait bounds how long the service view waits for instances' logs.
const logWait = 3 * time.Second

// usage is the recent CPU and memory figures of each instance, from the
// clusters' reports; the root keeps them in memory only. It is a ring of
// fixed size in compact fields: the clusters report every second, so with
// 100,000 instances a history of growing slices of float64 pairs was most
// of the root's heap (about 2 KB an instance, and a new slice per report).
type usage struct {
	next, n int                 // where the next sample goes; how many there are
	at      [historyLen]int64   // unix milliseconds
	cpu     [historyLen]float32 // percent of one core
	mem     [historyLen]float32 // MB
}

// recordUsageLocked adds the figures of one report to an instance's
// history, dropping the oldest beyond historyLen.
func (r *Root) recordUsageLocked(id string, now time.Time, cpuCores float64, memMB int64) {
	if r.usage == nil {
		r.usage = map[string]*usage{}
	}
	u := r.usage[id]
	if u == nil {
		u = &usage{}
		r.usage[id] = u
	}
	u.at[u.next], u.cpu[u.next], u.mem[u.next] = now.UnixMilli(), float32(cpuCores*100), float32(memMB)
	u.next = (u.next + 1) % historyLen
	u.n = min(u.n+1, historyLen)
}

// history returns the CPU and memory figures, oldest first.
func (u *usage) history() (cpu, mem []api.Sample) {
	cpu, mem = make([]api.Sample, 0, u.n), make([]api.Sample, 0, u.n)
	for i := range u.n {
		j := (u.next - u.n + i + historyLen) % historyLen
		ts := float64(u.at[j]) / 1000
		cpu = append(cpu, api.Sample{Timestamp: ts, Value: widen(u.cpu[j])})
		mem = append(mem, api.Sample{Timestamp: ts, Value: widen(u.mem[j])})
	}
	return cpu, mem
}

// widen returns the float64 whose shortest decimal form is f's, so that a
// figure stored as 12.3 is shown as 12.3 and not 12.300000190734863.
func widen(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}

// oakApp fills an application's Oakestra id.
func oakApp(a api.Application) api.Application {
	a.OID = api.OID{OID: a.ID}
	return a
}

func oakApps(as []api.Application) []api.Application {
	for i := range as {
		as[i] = oakApp(as[i])
	}
	return as
}

// oakServiceLocked fills a service view's flat Oakestra fields from its spec
// and instances.
func (r *Root) oakServiceLocked(v *api.Service) {
	sp := v.Spec
	o := api.OakestraService{
		OID: api.OID{OID: v.ID}, Name: sp.Name, Namespace: sp.Namespace,
		Virtualization: sp.Virtualization, Code: sp.Code, Cmd: orEmpty(sp.Cmd),
		MemoryMB: sp.MemoryMB, VCPUs: sp.VCPUs, Port: sp.Port, Environment: orEmpty(sp.Environment),
		Status: serviceStatus(v.Instances),
	}
	if sp.Addresses != nil {
		o.RRIP = sp.Addresses.RRIP
	}
	if a := r.apps[v.ApplicationID]; a != nil {
		o.AppNamespace = a.Namespace
	}
	v.OakestraService = o
}

// serviceStatus sums up a service's instances in one state, as Oakestra's
// service status does.
func serviceStatus(insts []api.Instance) string {
	if len(insts) == 0 {
		return api.ServiceCreated
	}
	latest := insts[0]
	for _, in := range insts {
		if in.Status == api.StateRunning {
			return string(api.StateRunning)
		}
		if in.UpdatedAt.After(latest.UpdatedAt) {
			latest = in
		}
	}
	return string(latest.Status)
}

// oakInstanceLocked fills an instance view's Oakestra fields.
func (r *Root) oakInstanceLocked(v *api.Instance) {
	o := api.OakestraInstance{
		StatusDetail: v.Reason, WorkerID: v.NodeID,
		CPUPercent: v.CPU * 100, MemoryUsedMB: v.MemoryMB,
		CPUHistory: []api.Sample{}, MemoryHistory: []api.Sample{},
	}
	if c := r.clusters[v.ClusterID]; c != nil {
		o.ClusterLocation = c.info.Labels[placement.LabelLocation]
	}
	if u := r.usage[v.ID]; u != nil {
		o.CPUHistory, o.MemoryHistory = u.history()
	}
	v.OakestraInstance = o
}

// oakCluster fills a cluster's Oakestra fields.
func oakCluster(c api.Cluster) api.Cluster {
	c.OakestraCluster = api.OakestraCluster{
		OID: api.OID{OID: c.ID}, CandidateName: c.Name, Active: c.State == api.NodeReady,
		Location:      c.Labels[placement.LabelLocation],
		CPUPercentNow: c.CPUPercent, MemPercent: c.MemoryPercent,
		MemoryInMB: c.Capacity.MemoryMB, TotalCPUCores: c.Capacity.VCPUs, VCPUsTotal: c.Capacity.VCPUs,
		Virtualization: orEmpty(c.Runtimes),
	}
	if !c.LastSeen.IsZero() {
		c.LastModified = float64(c.LastSeen.UnixMilli()) / 1000
	}
	return c
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// withLogs fills instance_list[n].logs of a service view with the tail of
// each placed instance's output, fetched from the workers in parallel. An
// instance whose logs cannot be had (not placed yet, its cluster away) gets
// a one-line note instead, so that the service view never fails for it.
func (r *Root) withLogs(ctx context.Context, who Caller, s api.Service) api.Service {
	ctx, cancel := context.WithTimeout(ctx, logWait)
	defer cancel()
	var wg sync.WaitGroup
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.ClusterID == "" {
			continue
		}
		wg.Go(func() {
			b, err := r.Logs(ctx, who, s.ID, in.Number, logTail)
			if err != nil {
				in.Logs = fmt.Sprintf("(logs unavailable: %v)", err)
				return
			}
			in.Logs = string(b)
		})
	}
	wg.Wait()
	return s
}
