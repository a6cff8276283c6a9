package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// fleet is a whole Hedge deployment in a lab: the root, clusters (sites) and
// their workers, each on a host of its own.
type fleet struct {
	t        *testing.T
	lab      *lab
	dir      string
	pw       string
	url      string
	c        *api.Client
	rootHost *host
	root     *proc
	hosts    map[string]*host
	procs    map[string]*proc
}

type fleetOptions struct {
	clusterTimeout string // root --cluster-timeout ("" = default)
	nodeTimeout    string // cluster --node-timeout ("" = default)
	heartbeat      string // worker --heartbeat ("" = default)
	workerArgs     []string
	// sharedMounts: see lab.sharedMounts (container workers need it).
	sharedMounts bool
}

// startFleet starts the root and, for each site, a cluster and its workers.
// Every worker offers 250 MB, room for two instances of the echo SLA.
func startFleet(t *testing.T, sites map[string][]string, o fleetOptions) *fleet {
	t.Helper()
	l := newLab(t)
	l.sharedMounts = o.sharedMounts
	f := &fleet{t: t, lab: l, dir: t.TempDir(), pw: randomPassword(), hosts: map[string]*host{}, procs: map[string]*proc{}}
	f.rootHost = l.addHost("root")
	f.url = "https://" + f.rootHost.addr(10000)
	rootArgs := []string{"root", "--data-dir", filepath.Join(f.dir, "root"), "--api-addr", f.rootHost.addr(10000)}
	if o.clusterTimeout != "" {
		rootArgs = append(rootArgs, "--cluster-timeout", o.clusterTimeout)
	}
	f.root = f.rootHost.start(t, "root", []string{"HEDGE_ADMIN_PASSWORD=" + f.pw}, rootArgs...)
	waitHealthy(t, f.url, filepath.Join(f.dir, "root"))
	f.c = login(t, f.url, f.pw)
	ctx := context.Background()
	ct, err := f.c.CreateToken(ctx, "cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := f.c.CreateToken(ctx, "worker", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(sites))
	for s := range sites {
		names = append(names, s)
	}
	sort.Strings(names)
	nworkers := 0
	for _, site := range names {
		h := l.addHost(site)
		f.hosts[site] = h
		args := []string{"cluster", "--data-dir", filepath.Join(f.dir, site), "--root", f.url, "--join-token", ct.Token,
			"--listen", h.addr(10100), "--name", site}
		if o.nodeTimeout != "" {
			args = append(args, "--node-timeout", o.nodeTimeout)
		}
		f.procs[site] = h.start(t, site, nil, args...)
		for _, w := range sites[site] {
			wh := l.addHost(w)
			f.hosts[w] = wh
			args := []string{"worker", "--data-dir", filepath.Join(f.dir, w), "--cluster", "https://" + h.addr(10100),
				"--join-token", wt.Token, "--name", w, "--memory-mb", "250"}
			if o.heartbeat != "" {
				args = append(args, "--heartbeat", o.heartbeat)
			}
			args = append(args, o.workerArgs...)
			f.procs[w] = wh.start(t, w, nil, args...)
			nworkers++
		}
	}
	eventually(t, 30*time.Second, fmt.Sprintf("%d READY nodes", nworkers), func() (bool, string) {
		ns, err := f.c.ListNodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, n := range ns {
			if n.State == api.NodeReady {
				ready++
			}
		}
		return ready == nworkers, strings.Join(nodeNames(ns), ",")
	})
	return f
}

// deploy submits the echo SLA with n instances and waits until they run.
func (f *fleet) deploy(n int) api.Service {
	f.t.Helper()
	res, err := f.c.SubmitSLA(context.Background(), echoSLA("app", 100), "application/json")
	if err != nil {
		f.t.Fatal(err)
	}
	id := res.Services[0].ID
	if n != 1 {
		if _, err := f.c.Scale(context.Background(), id, n); err != nil {
			f.t.Fatal(err)
		}
	}
	return waitRunning(f.t, f.c, id, n)
}

// instanceProcs counts running echo processes per Hedge instance id.
func instanceProcs(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, pid := range echoProcesses(t) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("HEDGE_INSTANCE_ID=")); ok {
				out[string(v)]++
			}
		}
	}
	return out
}

// converged reports whether every instance of s runs exactly once, on the
// node the API says, and nothing else runs.
func converged(t *testing.T, s api.Service) (bool, string) {
	procs := instanceProcs(t)
	if len(procs) != len(s.Instances) {
		return false, fmt.Sprintf("processes per instance %v, want %d instances", procs, len(s.Instances))
	}
	for _, in := range s.Instances {
		if procs[in.ID] != 1 {
			return false, fmt.Sprintf("processes per instance %v", procs)
		}
	}
	return true, ""
}

// waitConverged waits until s has n RUNNING instances, none on the nodes in
// avoid, each running exactly once; it returns the time that took.
func (f *fleet) waitConverged(id string, n int, avoid ...string) (api.Service, time.Duration) {
	f.t.Helper()
	start := time.Now()
	var s api.Service
	eventually(f.t, 60*time.Second, fmt.Sprintf("%d instances running exactly once, off %v", n, avoid), func() (bool, string) {
		var err error
		s, err = f.c.GetService(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		if len(s.Instances) != n {
			return false, states(s)
		}
		for _, in := range s.Instances {
			if in.Status != api.StateRunning || contains(avoid, in.NodeName) || contains(avoid, in.ClusterName) {
				return false, states(s)
			}
		}
		return converged(f.t, s)
	})
	return s, time.Since(start)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestFailureWorkerDeath: a worker machine dies (worker and instances); with
// the default timings its instances run again on the other worker of the
// cluster.
func TestFailureWorkerDeath(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1", "w2"}}, fleetOptions{})
	s := f.deploy(2)
	victim := s.Instances[0].NodeName
	died := time.Now()
	f.hosts[victim].crash()
	f.waitConverged(s.ID, 2, victim)
	t.Logf("worker death: instances running again on the other worker %.1f s after the crash (defaults: heartbeat 1 s, node timeout 5 s)", time.Since(died).Seconds())
}

// TestFailureWorkerPartition: a worker is cut off; its instances are started
// elsewhere while it keeps running its own (edge autonomy); when it comes back
// it stops the ones that moved, and every instance runs exactly once.
func TestFailureWorkerPartition(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1", "w2"}}, fleetOptions{nodeTimeout: "3s", heartbeat: "500ms"})
	s := f.deploy(2)
	victim := s.Instances[0].NodeName
	cut := time.Now()
	f.hosts[victim].cut()
	_, _ = f.waitRunningOff(s.ID, 2, victim)
	moved := time.Since(cut)
	// The cut-off worker still runs its copies: nothing is stopped because a link is down.
	if procs := instanceProcs(t); len(procs) != 2 || procs[s.Instances[0].ID] != 2 {
		t.Errorf("during the partition: processes per instance %v; want the cut-off copies still running next to the new ones", procs)
	}
	f.hosts[victim].heal()
	healed := time.Now()
	f.waitConverged(s.ID, 2, victim)
	t.Logf("worker partition: moved after %.1f s (node timeout 3 s); converged %.1f s after the link returned", moved.Seconds(), time.Since(healed).Seconds())
}

// waitRunningOff waits until n instances are RUNNING and none on avoid,
// whatever else still runs.
func (f *fleet) waitRunningOff(id string, n int, avoid string) (api.Service, time.Duration) {
	f.t.Helper()
	start := time.Now()
	var s api.Service
	eventually(f.t, 60*time.Second, fmt.Sprintf("%d instances RUNNING off %s", n, avoid), func() (bool, string) {
		s = service(f.t, f.c, id)
		if len(s.Instances) != n {
			return false, states(s)
		}
		for _, in := range s.Instances {
			if in.Status != api.StateRunning || in.NodeName == avoid || in.ClusterName == avoid {
				return false, states(s)
			}
		}
		return true, ""
	})
	return s, time.Since(start)
}

// TestFailureClusterDeath: a whole site (cluster and workers) dies; the root
// places its instances on the other cluster.
func TestFailureClusterDeath(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1"}, "site2": {"w2"}}, fleetOptions{clusterTimeout: "5s"})
	s := f.deploy(2)
	site := s.Instances[0].ClusterName
	died := time.Now()
	f.hosts[site].crash()
	for _, w := range map[string][]string{"site1": {"w1"}, "site2": {"w2"}}[site] {
		f.hosts[w].crash()
	}
	f.waitConverged(s.ID, 2, site)
	t.Logf("cluster death: instances running on the other cluster %.1f s after the site died (cluster timeout 5 s)", time.Since(died).Seconds())
}

// TestFailureClusterPartition: a site is cut off from the root; the root
// moves its instances to the other site; the cut-off site keeps running them
// until the link returns, then stops them.
func TestFailureClusterPartition(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1"}, "site2": {"w2"}}, fleetOptions{clusterTimeout: "5s", nodeTimeout: "3s"})
	s := f.deploy(2)
	site := s.Instances[0].ClusterName
	worker := s.Instances[0].NodeName
	cut := time.Now()
	f.hosts[site].cut()
	f.hosts[worker].cut()
	f.waitRunningOff(s.ID, 2, site)
	moved := time.Since(cut)
	if procs := instanceProcs(t); procs[s.Instances[0].ID] != 2 {
		t.Errorf("during the partition: processes per instance %v; want the cut-off site's copies still running", procs)
	}
	f.hosts[site].heal()
	f.hosts[worker].heal()
	healed := time.Now()
	f.waitConverged(s.ID, 2, site)
	t.Logf("cluster partition: moved after %.1f s (cluster timeout 5 s); converged %.1f s after the link returned", moved.Seconds(), time.Since(healed).Seconds())
}

// TestFailureRootRestartUnderLoad: the root is killed with SIGKILL while
// services are being scaled; after its restart nothing is lost, running
// instances were not restarted, and the system converges.
func TestFailureRootRestartUnderLoad(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1", "w2"}}, fleetOptions{})
	s := f.deploy(2)
	before := map[string]int{}
	for _, in := range s.Instances {
		before[in.ID] = in.PID
	}
	ctx := context.Background()
	if _, err := f.c.Scale(ctx, s.ID, 4); err != nil {
		t.Fatal(err)
	}
	f.root.kill() // at once, while the new instances are being placed and started
	f.root.start()
	waitHealthy(t, f.url, filepath.Join(f.dir, "root"))
	f.c = login(t, f.url, f.pw)
	s, _ = f.waitConverged(s.ID, 4)
	for _, in := range s.Instances {
		if pid, ok := before[in.ID]; ok && pid != in.PID {
			t.Errorf("instance %d restarted needlessly: pid %d before, %d after", in.Number, pid, in.PID)
		}
	}
}

// TestFailureClusterRestart: a cluster is killed with SIGKILL and restarted;
// its workers' instances are not restarted and nothing is lost or doubled.
func TestFailureClusterRestart(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1", "w2"}}, fleetOptions{})
	s := f.deploy(3)
	before := map[string]int{}
	for _, in := range s.Instances {
		before[in.ID] = in.PID
	}
	f.procs["site1"].kill()
	f.procs["site1"].start()
	s, took := f.waitConverged(s.ID, 3)
	for _, in := range s.Instances {
		if before[in.ID] != in.PID {
			t.Errorf("instance %d restarted needlessly: pid %d before, %d after", in.Number, before[in.ID], in.PID)
		}
	}
	t.Logf("cluster SIGKILL and restart: converged %.1f s after the restart, no instance restarted", took.Seconds())
}

// TestFailureDrain: draining a node moves its instances to the other node,
// and a cordoned node gets no new ones until it is uncordoned.
func TestFailureDrain(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1", "w2"}}, fleetOptions{})
	s := f.deploy(2)
	busy := s.Instances[0].NodeName
	other := map[string]string{"w1": "w2", "w2": "w1"}[busy]
	ctx := context.Background()
	if _, err := f.c.ControlNode(ctx, busy, "drain"); err != nil {
		t.Fatal(err)
	}
	s, took := f.waitConverged(s.ID, 2, busy)
	t.Logf("drain: instances running on %s %.1f s after the drain", other, took.Seconds())
	// Still cordoned: a new instance goes to the other node too, even though
	// best fit would pick the emptier drained one.
	if _, err := f.c.Scale(ctx, s.ID, 3); err == nil {
		eventually(t, 30*time.Second, "a third instance", func() (bool, string) {
			s = service(t, f.c, s.ID)
			return len(s.Instances) == 3 && s.Instances[2].Status != api.StateRequested && s.Instances[2].Status != api.StateScheduled, states(s)
		})
		if in := s.Instances[2]; in.NodeName == busy {
			t.Errorf("instance placed on the cordoned node %s", busy)
		}
	} else {
		t.Fatal(err)
	}
	if _, err := f.c.ControlNode(ctx, busy, "uncordon"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, busy+" uncordoned", func() (bool, string) {
		ns, err := f.c.ListNodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, n := range ns {
			if n.Name == busy {
				return !n.Cordoned, fmt.Sprintf("cordoned=%v", n.Cordoned)
			}
		}
		return false, busy + " not listed"
	})
}
