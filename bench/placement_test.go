package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/placement/app"
)

// The placement scenario, in a short run (each case at its minimum number of
// calls), must print every row the README describes, with a value, and its
// figures must say what the README says of them.
func TestPlacementScenarioPrintsItsRows(t *testing.T) {
	figs, err := placementScenario(context.Background(), nil, config{placementTime: time.Millisecond})
	if err != nil {
		t.Fatalf("placement scenario: %v", err)
	}
	var out bytes.Buffer
	writeTable(&out, results{Figures: figs})

	type row struct{ scenario, name string }
	var want []row
	for _, n := range placementSizes {
		for _, f := range []string{"default", "exact"} {
			for _, name := range []string{"placements per second", "per call p50", "per call p99", "nodes evaluated per call"} {
				want = append(want, row{fmt.Sprintf("placement %d nodes", n), f + " " + name})
			}
			if n == 10_000 && f == "default" {
				want = append(want, row{"placement 10000 nodes", "default mean per call (aim 10,000/s)"})
			}
		}
	}
	dag := fmt.Sprintf("placement DAG %dx%d", dagServices, dagRegions)
	want = append(want,
		// 94,068 variables, far beyond DefaultExactLimit: the heuristic runs.
		row{dag, "heuristic per call p50"},
		row{dag, "heuristic per call p99"},
		row{dag, fmt.Sprintf("model variables (exact up to %d)", app.DefaultExactLimit)},
		row{dag, "placements measured"},
	)
	if len(figs) != len(want) {
		t.Errorf("%d figures, want %d", len(figs), len(want))
	}
	for _, r := range want {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(r.scenario) + `\s+` + regexp.QuoteMeta(r.name) + `\s+[0-9][0-9.]*\s`)
		if !re.Match(out.Bytes()) {
			t.Errorf("no row %q / %q with a value in\n%s", r.scenario, r.name, out.String())
		}
	}

	value := func(scenario, name string) float64 {
		for _, f := range figs {
			if f.Scenario == scenario && f.Name == name {
				return f.Value
			}
		}
		return -1
	}
	for _, f := range figs {
		if f.Value <= 0 {
			t.Errorf("%s / %s = %g, want a positive figure", f.Scenario, f.Name, f.Value)
		}
	}
	// Up to DefaultExactUpTo nodes the default framework scans them all;
	// beyond, it samples, and the exact one still scans them all.
	if got := value("placement 1000 nodes", "default nodes evaluated per call"); got != 1000 {
		t.Errorf("default framework evaluated %g of 1000 nodes per call, want all", got)
	}
	for _, n := range placementSizes[1:] {
		s := fmt.Sprintf("placement %d nodes", n)
		if got := value(s, "exact nodes evaluated per call"); got != float64(n) {
			t.Errorf("exact framework evaluated %g of %d nodes per call, want all", got, n)
		}
		if got := value(s, "default nodes evaluated per call"); got >= float64(n)/2 {
			t.Errorf("default framework evaluated %g of %d nodes per call, want a sample", got, n)
		}
	}
	if got := value(dag, "placements measured"); got < placementMinCalls {
		t.Errorf("%g DAG placements measured, want at least %d", got, placementMinCalls)
	}
}

func TestPlacementScenarioNeedsNoHedge(t *testing.T) {
	cfg := config{latencyN: 1, instances: 1, window: time.Second, pollPeriod: time.Millisecond, placementTime: time.Second}
	if err := cfg.validate("placement"); err != nil {
		t.Errorf("-scenario placement rejected: %v", err)
	}
	if err := cfg.validate("placements"); err == nil {
		t.Error("-scenario placements accepted")
	}
	cfg.placementTime = 0
	if err := cfg.validate("placement"); err == nil {
		t.Error("-placement-time 0 accepted")
	}
	if needsHedge("placement") {
		t.Error("-scenario placement builds hedge; it runs in-process")
	}
	if !needsHedge("all") || !needsHedge("latency") {
		t.Error("-scenario all or latency would run without a hedge binary")
	}
}
