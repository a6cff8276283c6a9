package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// idle measures what Hedge costs when nothing happens: `hedge up` with
// nothing deployed, then with cfg.idleInstances idle instances (the
// instances of one SLA after another, so 200 then 1000 in all), then root,
// cluster and worker as separate processes with nothing deployed. Each
// footprint is sampled over cfg.idleWindow after cfg.settle.
func idle(ctx context.Context, l *lab, cfg config) ([]figure, error) {
	figs, err := idleUp(ctx, l, cfg)
	if err != nil {
		return figs, fmt.Errorf("up: %w", err)
	}
	d, err := l.deploy(ctx, "tiers", "idle-tiers")
	if err != nil {
		return figs, fmt.Errorf("tiers: %w", err)
	}
	defer d.stop()
	us, err := settleAndSample(ctx, d, cfg)
	if err != nil {
		return figs, fmt.Errorf("tiers: %w", err)
	}
	for i, s := range d.tiers {
		rss := figure{Scenario: "idle tiers", Name: s.name + " idle RSS", Value: mb(us[i].RSSKB), Unit: "MB"}
		cpu := figure{Scenario: "idle tiers", Name: s.name + " idle CPU", Value: us[i].CPUPercent, Unit: "% core"}
		if s.name == "worker" {
			rss.Max = targetWorkerIdleMB
		}
		figs = append(figs, rss, cpu)
	}
	return figs, nil
}

// idleUp measures `hedge up` with nothing deployed, then with each count of
// idle instances in turn.
func idleUp(ctx context.Context, l *lab, cfg config) (figs []figure, err error) {
	d, err := l.deploy(ctx, "up", "idle-up")
	if err != nil {
		return nil, err
	}
	defer d.stop()
	var apps, instances []string
	defer func() { err = errors.Join(err, l.deleteApps(d, apps, instances, nil)) }()

	us, err := settleAndSample(ctx, d, cfg)
	if err != nil {
		return nil, err
	}
	figs = append(figs,
		figure{Scenario: "idle up", Name: "up idle RSS", Value: mb(us[0].RSSKB), Unit: "MB", Max: targetUpIdleMB},
		figure{Scenario: "idle up", Name: "up idle CPU", Value: us[0].CPUPercent, Unit: "% core", Max: targetUpIdlePercent})

	running := 0
	for i, n := range cfg.idleInstances {
		if n <= running {
			continue
		}
		res, err := d.client.SubmitSLA(ctx, sleepSLA(fmt.Sprintf("idle%d", i), l.marker, n-running), "application/json")
		if err != nil {
			return figs, fmt.Errorf("submit SLA of %d instances: %w", n-running, err)
		}
		apps = append(apps, res.Applications[0].ID)
		svc, err := waitRunning(ctx, d.client, res.Services[0].ID, n-running, 100*time.Millisecond, 5*time.Minute)
		for _, in := range svc.Instances {
			instances = append(instances, in.ID)
		}
		if err != nil {
			return figs, err
		}
		running = n
		us, err := settleAndSample(ctx, d, cfg)
		if err != nil {
			return figs, err
		}
		scenario := fmt.Sprintf("idle up %d", n)
		figs = append(figs,
			figure{Scenario: scenario, Name: fmt.Sprintf("up RSS with %d idle", n), Value: mb(us[0].RSSKB), Unit: "MB"},
			figure{Scenario: scenario, Name: fmt.Sprintf("up CPU with %d idle", n), Value: us[0].CPUPercent, Unit: "% core"})
	}
	return figs, nil
}

func settleAndSample(ctx context.Context, d *deployment, cfg config) ([]usage, error) {
	if err := sleep(ctx, cfg.settle); err != nil {
		return nil, err
	}
	return sampleUsage(ctx, d.pids(), cfg.idleWindow)
}

// parseCounts reads a comma-separated list of instance counts, 1 to 1000
// each (an SLA's limit on the total), in increasing order.
func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 1000 || len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("%q: want increasing counts from 1 to 1000, e.g. 200,1000", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// recordedJSON is bench/idle-recorded.json: the idle figures recorded on the
// reference machine, keyed "<scenario>/<figure>", in the figure's unit.
//
//go:embed idle-recorded.json
var recordedJSON []byte

// recorded is the parsed recordedJSON.
type recorded struct {
	Machine string             `json:"machine"`
	Commit  string             `json:"commit"`
	Figures map[string]float64 `json:"figures"`
}

// Slack that keeps a figure near zero from failing the check on noise: a
// figure regresses only past twice the recorded value plus this.
const (
	slackCPUPercent = 0.1 // % of a core: 10 ticks over 100 s
	slackMB         = 5
)

// compareRecorded prints the measured idle figures beside the recorded ones
// and returns those that are more than twice the recorded figure (plus the
// slack). Figures without a record are printed and not judged.
func compareRecorded(w io.Writer, figs []figure) ([]string, error) {
	var rec recorded
	if err := json.Unmarshal(recordedJSON, &rec); err != nil {
		return nil, fmt.Errorf("bench/idle-recorded.json: %w", err)
	}
	var regressions []string
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := false
	for _, f := range figs {
		if !strings.HasPrefix(f.Scenario, "idle") {
			continue
		}
		if !header {
			fmt.Fprintf(tw, "\nIDLE FIGURE\t  MEASURED\t  RECORDED\tUNIT\tVERDICT (fails past 2x recorded + slack)\n")
			header = true
		}
		key := f.Scenario + "/" + f.Name
		want, ok := rec.Figures[key]
		if !ok {
			fmt.Fprintf(tw, "%s\t%10s\t%10s\t%s\tnot recorded\n", key, formatValue(f.Value), "-", f.Unit)
			continue
		}
		slack := float64(slackMB)
		if f.Unit == "% core" {
			slack = slackCPUPercent
		}
		verdict := "ok"
		if f.Value > 2*want+slack {
			verdict = "REGRESSED"
			regressions = append(regressions, fmt.Sprintf("%s %s %s (recorded %s)", key, formatValue(f.Value), f.Unit, formatValue(want)))
		}
		fmt.Fprintf(tw, "%s\t%10s\t%10s\t%s\t%s\n", key, formatValue(f.Value), formatValue(want), f.Unit, verdict)
	}
	if header && rec.Commit != "" {
		fmt.Fprintf(tw, "(recorded at %s on %s)\n", rec.Commit, rec.Machine)
	}
	return regressions, tw.Flush()
}
