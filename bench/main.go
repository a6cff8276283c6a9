package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

// scenarios in the order `-scenario all` runs them: idle first, on a fresh
// machine, so that the footprint is not measured in the wake of the others.
// inProcess marks a scenario that runs no hedge process: run alone, it needs
// no hedge binary. alone marks one that `all` leaves out (it is long and
// loads the machine): it runs only when named.
var scenarios = []struct {
	name      string
	run       func(context.Context, *lab, config) ([]figure, error)
	inProcess bool
	alone     bool
}{
	{"idle", idle, false, false},
	{"latency", latency, false, false},
	{"throughput", throughput, false, false},
	{"containers", containers, false, false},
	{"placement", placementScenario, true, false},
	{"console", consoleScenario, false, false},
	{"scale", scale, false, true},
}

func run() int {
	if spec := os.Getenv(simHostEnv); spec != "" {
		return simHost(spec)
	}
	var (
		scenario = flag.String("scenario", "all", "what to measure: latency, throughput, idle, containers, placement, console, all (these), or scale")
		n        = flag.Int("n", 100, "latency: instances submitted one after the other")
		inst     = flag.Int("instances", 200, "throughput: instances of the one service")
		hedge    = flag.String("hedge", "", "hedge binary to measure (default: build ./cmd/hedge into a temporary directory)")
		asJSON   = flag.Bool("json", false, "print the results as JSON too, after the table")
		settle   = flag.Duration("settle", 5*time.Second, "wait before measuring a footprint, for start-up work to finish")
		window   = flag.Duration("window", 10*time.Second, "how long CPU use is sampled")
		pollEv   = flag.Duration("poll", 2*time.Millisecond, "latency: how often the service is polled")
		verbose  = flag.Bool("v", false, "log the details of cleanup")
		keep     = flag.Bool("keep", false, "keep the hedge logs and data directories of the run (their path is printed)")
		placeFor = flag.Duration("placement-time", time.Second, "placement: how long each case places, again and again")
		idleWin  = flag.Duration("idle-window", 60*time.Second, "idle: how long each footprint's CPU use is sampled")
		idleN    = flag.String("idle-instances", "200,1000", "idle: the instance counts `hedge up` is measured with, after none")
		clusters = flag.Int("clusters", 10, "scale: hedge cluster processes")
		workers  = flag.Int("workers", 100, "scale: simulated workers per cluster")
		scaleN   = flag.Int("scale-instances", 10000, "scale: instances submitted through the API")
		batch    = flag.Int("scale-batch", 500, "scale: instances per SLA (at most 1000)")
		subs     = flag.Int("scale-submitters", 4, "scale: SLAs submitted at once")
		scaleTO  = flag.Duration("scale-timeout", 5*time.Minute, "scale: how long to wait for nodes READY, and for instances RUNNING")
		scaleHB  = flag.Duration("scale-heartbeat", time.Second, "scale: the simulated workers' heartbeat (hedge worker --heartbeat), below -scale-node-timeout")
		scaleNT  = flag.Duration("scale-node-timeout", 5*time.Second, "scale: every cluster's --node-timeout (a worker silent this long is NOT_READY)")
		store    = flag.String("scale-store", "bolt", "scale: the root's store: bolt (its data dir) or etcd (a one-member etcd the bench starts; Debian's etcd-server)")
		replicas = flag.Int("scale-replicas", 1, "scale: hedge root replicas (more than 1 needs -scale-store etcd)")
		leaseTTL = flag.Duration("scale-lease-ttl", 5*time.Second, "scale: the leading root's etcd lease (hedge root --lease-ttl)")
		failover = flag.Bool("scale-failover", false, "scale: SIGKILL the leading root half-way through the submissions (needs -scale-replicas 2 or more)")
		check    = flag.Bool("check", false, "exit 1 when an idle figure is more than twice the one recorded in bench/idle-recorded.json")
	)
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := config{latencyN: *n, instances: *inst, settle: *settle, window: *window, pollPeriod: *pollEv, placementTime: *placeFor, idleWindow: *idleWin,
		scale: scaleConfig{clusters: *clusters, workers: *workers, instances: *scaleN, batch: *batch, submitters: *subs, poll: 250 * time.Millisecond, timeout: *scaleTO, heartbeat: *scaleHB,
			nodeTimeout: *scaleNT, store: *store, replicas: *replicas, leaseTTL: *leaseTTL, failover: *failover}}
	var err error
	if cfg.idleInstances, err = parseCounts(*idleN); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -idle-instances:", err)
		return 2
	}
	if err := cfg.validate(*scenario); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()

	var l *lab
	l, err = newLab(*hedge, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	l.keep = *keep
	defer l.close() // on early returns; the normal path closes before reporting
	if l.bin == "" && needsHedge(*scenario) {
		log.Info("building hedge")
		if l.bin, err = buildHedge(ctx, l.dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}

	res := results{Machine: machineFacts(l.bin), Started: start}
	for _, s := range scenarios {
		if *scenario != s.name && (*scenario != "all" || s.alone) {
			continue
		}
		log.Info("running scenario", "scenario", s.name)
		figs, err := s.run(ctx, l, cfg)
		for i := range figs {
			if figs[i].Scenario == "" {
				figs[i].Scenario = s.name
			}
		}
		res.Figures = append(res.Figures, figs...)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", s.name, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if killed := l.close(); killed > 0 {
		res.Errors = append(res.Errors, fmt.Sprintf("cleanup: %d processes of the run outlived it and were killed", killed))
	}
	res.Duration = time.Since(start).Seconds()
	judge(res.Figures)
	writeTable(os.Stdout, res)
	regressions, err := compareRecorded(os.Stdout, res.Figures)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		fmt.Fprintln(os.Stdout, "ERROR:", err)
	}
	if *check && len(regressions) > 0 {
		res.Errors = append(res.Errors, fmt.Sprintf("check: %d idle figures more than twice the recorded ones: %s", len(regressions), strings.Join(regressions, "; ")))
		fmt.Fprintln(os.Stdout, "\nFAILED CHECK:", strings.Join(regressions, "; "))
	}
	if *asJSON {
		fmt.Println()
		if err := writeJSON(os.Stdout, res); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	if len(res.Errors) > 0 {
		return 1
	}
	return 0
}

// needsHedge reports whether running scenario (a name or "all") starts hedge
// processes, and so needs the hedge binary.
func needsHedge(scenario string) bool {
	for _, s := range scenarios {
		if (scenario == s.name || (scenario == "all" && !s.alone)) && !s.inProcess {
			return true
		}
	}
	return false
}

func (c config) validate(scenario string) error {
	known := scenario == "all"
	for _, s := range scenarios {
		known = known || scenario == s.name
	}
	switch {
	case !known:
		return fmt.Errorf("-scenario %q: want latency, throughput, idle, containers, placement, console, all or scale", scenario)
	case c.latencyN < 1:
		return fmt.Errorf("-n %d: want at least 1", c.latencyN)
	case c.instances < 1 || c.instances > 1000:
		return fmt.Errorf("-instances %d: want 1 to 1000 (the SLA's limit)", c.instances)
	case (scenario == "all" || scenario == "idle") && c.idleWindow < time.Second:
		return fmt.Errorf("-idle-window %s: want at least 1s, CPU time is counted in 10 ms ticks", c.idleWindow)
	case c.window < time.Second:
		return fmt.Errorf("-window %s: want at least 1s, CPU time is counted in 10 ms ticks", c.window)
	case c.pollPeriod <= 0:
		return fmt.Errorf("-poll %s: want a positive duration", c.pollPeriod)
	case scenario == "scale" && (c.scale.clusters < 1 || c.scale.workers < 1):
		return fmt.Errorf("-clusters %d, -workers %d: want at least 1 of each", c.scale.clusters, c.scale.workers)
	case scenario == "scale" && c.scale.instances < 1:
		return fmt.Errorf("-scale-instances %d: want at least 1", c.scale.instances)
	case scenario == "scale" && (c.scale.batch < 1 || c.scale.batch > 1000):
		return fmt.Errorf("-scale-batch %d: want 1 to 1000 (a service's limit)", c.scale.batch)
	case scenario == "scale" && c.scale.submitters < 1:
		return fmt.Errorf("-scale-submitters %d: want at least 1", c.scale.submitters)
	case scenario == "scale" && c.scale.nodeTimeout <= 0:
		return fmt.Errorf("-scale-node-timeout %v: want a positive duration", c.scale.nodeTimeout)
	case scenario == "scale" && (c.scale.heartbeat <= 0 || c.scale.heartbeat >= c.scale.nodeTimeout):
		return fmt.Errorf("-scale-heartbeat %v: want more than 0 and less than -scale-node-timeout (%v), after which a silent worker is NOT_READY", c.scale.heartbeat, c.scale.nodeTimeout)
	case scenario == "scale" && c.scale.store != "bolt" && c.scale.store != "etcd":
		return fmt.Errorf("-scale-store %q: want bolt or etcd", c.scale.store)
	case scenario == "scale" && c.scale.replicas < 1:
		return fmt.Errorf("-scale-replicas %d: want at least 1", c.scale.replicas)
	case scenario == "scale" && c.scale.replicas > 1 && c.scale.store != "etcd":
		return fmt.Errorf("-scale-replicas %d: replicas share an etcd store; add -scale-store etcd", c.scale.replicas)
	case scenario == "scale" && c.scale.store == "etcd" && c.scale.leaseTTL < time.Second:
		return fmt.Errorf("-scale-lease-ttl %v: want at least 1s (etcd leases are whole seconds)", c.scale.leaseTTL)
	case scenario == "scale" && c.scale.failover && c.scale.replicas < 2:
		return fmt.Errorf("-scale-failover: needs another replica to take over; add -scale-replicas 2 -scale-store etcd")
	case c.placementTime <= 0:
		return fmt.Errorf("-placement-time %s: want a positive duration", c.placementTime)
	}
	return nil
}
