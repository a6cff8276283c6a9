package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// Targets from the issues that asked for these figures (issue 17 tightened
// the idle ones: hedge up under 40 MB and 0.3 % of a core, a worker under
// 20 MB).
const (
	targetLatencyP50MS  = 100
	targetWorkerIdleMB  = 20
	targetUpIdleMB      = 40
	targetUpIdlePercent = 0.3
)

// sleepCode is the instance every scenario runs: it costs nothing while
// running and dies at once on SIGTERM, so only Hedge's own cost is measured.
const sleepCode = "/bin/sleep"

// topologies are the two ways of running Hedge that idle and throughput
// measure: `hedge up`, and root, cluster and worker as three processes.
var topologies = []string{"up", "tiers"}

// config is what the scenarios share.
type config struct {
	latencyN   int
	instances  int
	settle     time.Duration
	window     time.Duration
	pollPeriod time.Duration
	// placementTime is how long each case of the placement scenario runs.
	placementTime time.Duration
	// idleWindow is how long the idle scenario samples each footprint.
	idleWindow time.Duration
	// idleInstances are the instance counts the idle scenario measures
	// `hedge up` with, after it measured it with none.
	idleInstances []int
	// scale sizes the scale scenario.
	scale scaleConfig
}

// deploy starts Hedge as `hedge up` (topo "up") or as three tiers ("tiers").
func (l *lab) deploy(ctx context.Context, topo, name string) (*deployment, error) {
	if topo == "tiers" {
		return l.startTiers(ctx, name)
	}
	return l.startUp(ctx, name)
}

// latency measures submit-to-RUNNING on `hedge up`: n times in a row, it
// submits an SLA with one process instance and polls the service until the
// instance is RUNNING.
func latency(ctx context.Context, l *lab, cfg config) (figs []figure, err error) {
	d, err := l.deploy(ctx, "up", "lat")
	if err != nil {
		return nil, err
	}
	defer d.stop()
	var apps, instances []string
	defer func() { err = errors.Join(err, l.deleteApps(d, apps, instances, nil)) }()

	var total, post, fork []time.Duration
	for i := range cfg.latencyN {
		body := sleepSLA(fmt.Sprintf("lat%03d", i), l.marker, 1)
		t0 := time.Now()
		res, err := d.client.SubmitSLA(ctx, body, "application/json")
		if err != nil {
			return nil, fmt.Errorf("submit SLA %d: %w", i, err)
		}
		post = append(post, time.Since(t0))
		apps = append(apps, res.Applications[0].ID)
		svc, err := waitRunning(ctx, d.client, res.Services[0].ID, 1, cfg.pollPeriod, 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w", i, err)
		}
		total = append(total, time.Since(t0))
		in := svc.Instances[0]
		instances = append(instances, in.ID)
		if in.StartedAt != nil {
			fork = append(fork, in.StartedAt.Sub(t0))
		}
	}

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	figs = []figure{
		{Name: "submit->RUNNING p50", Value: ms(percentile(total, 50)), Unit: "ms", Max: targetLatencyP50MS},
		{Name: "submit->RUNNING p90", Value: ms(percentile(total, 90)), Unit: "ms"},
		{Name: "submit->RUNNING p99", Value: ms(percentile(total, 99)), Unit: "ms"},
		{Name: "submit->RUNNING max", Value: ms(slices.Max(total)), Unit: "ms"},
		{Name: "POST answered p50", Value: ms(percentile(post, 50)), Unit: "ms"},
	}
	if len(fork) == len(total) {
		figs = append(figs, figure{Name: "instance forked p50", Value: ms(percentile(fork, 50)), Unit: "ms"})
	}
	figs = append(figs, figure{Name: "instances measured", Value: float64(len(total)), Unit: ""})
	return figs, nil
}

// throughput measures how fast one service scales out, on `hedge up` and on
// three separate tiers.
func throughput(ctx context.Context, l *lab, cfg config) ([]figure, error) {
	var figs []figure
	for _, topo := range topologies {
		f, err := throughputOn(ctx, l, cfg, topo)
		figs = append(figs, f...)
		if err != nil {
			return figs, fmt.Errorf("%s: %w", topo, err)
		}
	}
	return figs, nil
}

// throughputOn submits one SLA asking for cfg.instances instances and waits
// until all are RUNNING. It also measures what the running instances cost
// Hedge (not the instances themselves) in memory and idle CPU, and how fast
// they are deleted.
func throughputOn(ctx context.Context, l *lab, cfg config, topo string) (figs []figure, err error) {
	scenario := "throughput " + topo
	d, err := l.deploy(ctx, topo, "tput-"+topo)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	var apps, instances []string
	defer func() { err = errors.Join(err, l.deleteApps(d, apps, instances, nil)) }()

	if err := sleep(ctx, cfg.settle); err != nil {
		return nil, err
	}
	before, err := rssOf(d.pids())
	if err != nil {
		return nil, err
	}
	n := cfg.instances
	t0 := time.Now()
	res, err := d.client.SubmitSLA(ctx, sleepSLA("tput", l.marker, n), "application/json")
	if err != nil {
		return nil, fmt.Errorf("submit SLA: %w", err)
	}
	apps = append(apps, res.Applications[0].ID)
	svc, err := waitRunning(ctx, d.client, res.Services[0].ID, n, 10*time.Millisecond, 2*time.Minute)
	for _, in := range svc.Instances {
		instances = append(instances, in.ID)
	}
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(t0)

	// Let the reports that follow the last start settle before sampling.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	after, err := sampleUsage(ctx, d.pids(), cfg.window)
	if err != nil {
		return nil, err
	}
	figs = []figure{
		{Scenario: scenario, Name: fmt.Sprintf("time to %d RUNNING", n), Value: elapsed.Seconds(), Unit: "s"},
		{Scenario: scenario, Name: "instances started per second", Value: float64(n) / elapsed.Seconds(), Unit: "/s"},
	}
	for i, s := range d.tiers {
		figs = append(figs,
			figure{Scenario: scenario, Name: s.name + " RSS before", Value: mb(before[i]), Unit: "MB"},
			figure{Scenario: scenario, Name: fmt.Sprintf("%s RSS with %d running", s.name, n), Value: mb(after[i].RSSKB), Unit: "MB"})
		// The processes that serve the API hashed a password with argon2
		// (19 MiB) at start and at login: until their next GC that garbage
		// dwarfs the cost of the instances, so a difference would mislead.
		if !s.hashesPasswords() {
			figs = append(figs, figure{Scenario: scenario, Name: s.name + " RSS per instance",
				Value: float64(after[i].RSSKB-before[i]) / float64(n), Unit: "KB"})
		}
		figs = append(figs,
			figure{Scenario: scenario, Name: fmt.Sprintf("%s idle CPU with %d running", s.name, n), Value: after[i].CPUPercent, Unit: "% core"},
			figure{Scenario: scenario, Name: s.name + " idle CPU per instance", Value: after[i].CPUPercent / float64(n), Unit: "% core"},
		)
	}

	// Delete here rather than in the deferred cleanup, to time it.
	var took time.Duration
	toDelete := apps
	apps = nil
	if err := l.deleteApps(d, toDelete, instances, &took); err != nil {
		return figs, err
	}
	instances = nil
	figs = append(figs, figure{Scenario: scenario, Name: fmt.Sprintf("time to delete %d", n), Value: took.Seconds(), Unit: "s"})
	return figs, nil
}

// waitRunning polls a service every period until it has n instances, all
// RUNNING, and returns what the last poll saw.
func waitRunning(ctx context.Context, c *api.Client, id string, n int, period, timeout time.Duration) (api.Service, error) {
	var svc api.Service
	err := poll(ctx, timeout, period, func() (bool, error) {
		var err error
		if svc, err = c.GetService(ctx, id); err != nil {
			return false, fmt.Errorf("get service %s: %w", id, err)
		}
		if len(svc.Instances) != n {
			return false, nil
		}
		for _, in := range svc.Instances {
			if in.Status != api.StateRunning {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return svc, fmt.Errorf("wait for %d RUNNING instances (last: %s): %w", n, states(svc), err)
	}
	return svc, nil
}

// deleteApps deletes the bench's applications through the API while Hedge is
// still running (instances outlive a stopped worker), then waits until none
// of their processes and cgroups is left. It runs in its own context so that
// an interrupted run still cleans up. took, when not nil, receives the time
// from the first DELETE until the last process was gone.
func (l *lab) deleteApps(d *deployment, apps, instances []string, took *time.Duration) error {
	if len(apps) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	var errs []error
	for _, id := range apps {
		if err := d.client.DeleteApplication(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("delete application %s: %w", id, err))
		}
	}
	var left []int
	err := poll(ctx, 45*time.Second, 10*time.Millisecond, func() (bool, error) {
		left = strayProcesses(l.marker, "")
		return len(left) == 0, nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("%d instance processes still running after their application was deleted %v: %w", len(left), left, err))
	}
	if took != nil {
		*took = time.Since(t0)
	}
	// The worker removes an instance's cgroup just after its process ended.
	var cgs []string
	t1 := time.Now()
	_ = poll(ctx, 5*time.Second, 20*time.Millisecond, func() (bool, error) {
		cgs = leftoverCgroups(instances)
		return len(cgs) == 0, nil
	})
	l.log.Debug("instance cgroups removed", "after_processes", time.Since(t1), "left", len(cgs))
	if len(cgs) > 0 {
		errs = append(errs, fmt.Errorf("%d cgroup directories of deleted instances left behind, e.g. %s", len(cgs), cgs[0]))
		for _, dir := range cgs {
			_ = os.Remove(dir) // empty by now: their processes are gone
		}
	}
	return errors.Join(errs...)
}

// sleepSLA is an SLA with one process service of n instances of sleepCode,
// each carrying marker in its environment.
func sleepSLA(app, marker string, n int) []byte {
	ms := map[string]any{
		"microserviceID":         "",
		"microservice_name":      "sleeper",
		"microservice_namespace": "bench",
		"virtualization":         api.VirtProcess,
		"code":                   sleepCode,
		"cmd":                    []string{"3600"},
		"environment":            []string{marker},
		"memory":                 4,
		"vcpus":                  0.001,
		"instances":              n,
	}
	sla := map[string]any{
		"sla_version": "v2.0",
		"customerID":  "Admin",
		"applications": []any{map[string]any{
			"applicationID":         "",
			"application_name":      app,
			"application_namespace": "bench",
			"application_desc":      "hedge bench",
			"microservices":         []any{ms},
		}},
	}
	b, _ := json.Marshal(sla) // maps of strings and numbers always encode
	return b
}

func states(s api.Service) string {
	count := map[api.InstanceState]int{}
	for _, in := range s.Instances {
		count[in.Status]++
	}
	return fmt.Sprint(count)
}

// percentile returns the nearest-rank p-th percentile of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(float64(len(s))*p/100)) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func mb(kb int64) float64 { return float64(kb) / 1024 }
