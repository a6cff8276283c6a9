package role

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/metrics/prom"
	"github.com/hedgeorch/hedge/internal/root"
	"github.com/hedgeorch/hedge/internal/store"
)

// exportedMetrics lists the metric names Hedge's tiers serve on /metrics,
// read from the registries they serve: the root's (with its own
// collectors), and the one the cluster and worker serve. promhttp adds its
// handler metrics to every one.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	st := store.NewMemory()
	a, err := auth.NewService(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := root.New(root.Config{Store: st, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, reg := range []*prometheus.Registry{rootRegistry(r), prom.NewRegistry()} {
		ch := make(chan *prometheus.Desc)
		go func() { reg.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fq.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
	}
	// promhttp.InstrumentMetricHandler, which prom.Handler wraps every
	// registry's handler in.
	names["promhttp_metric_handler_requests_total"] = true
	names["promhttp_metric_handler_requests_in_flight"] = true
	return names
}

// metricNames returns the metric names a PromQL expression reads.
func metricNames(expr string) []string {
	for _, re := range []string{
		`"(?:[^"\\]|\\.)*"`, // strings (label values)
		`\{[^}]*\}`,         // label matchers
		`\[[^\]]*\]`,        // ranges
		`\$\{[^}]*\}|\$\w+`, // Grafana variables
		`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`, // label lists
	} {
		expr = regexp.MustCompile(re).ReplaceAllString(expr, " ")
	}
	keywords := map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
	var out []string
	for _, m := range regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`).FindAllStringSubmatch(expr, -1) {
		name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[0]), "("))
		if m[1] != "" || keywords[strings.ToLower(name)] {
			continue // a function or an operator
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNamesOfPromQL(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (state) (hedge_instances{job=~"$job", state!="RUNNING"})`, []string{"hedge_instances"}},
		{`rate(process_cpu_seconds_total{job="x"}[$__rate_interval])`, []string{"process_cpu_seconds_total"}},
		{`1 - a{kind="available"} / ignoring(kind) b{kind="total"} or vector(0)`, []string{"a", "b"}},
		{`time() - hedge_host_sample_timestamp_seconds`, []string{"hedge_host_sample_timestamp_seconds"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%s) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// TestGrafanaDashboardsQueryExportedMetrics loads every dashboard under
// deploy/grafana and checks that each query names only metrics Hedge
// exports.
func TestGrafanaDashboardsQueryExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	for _, want := range []string{"hedge_instances", "hedge_clusters", "hedge_host_cpu_percent", "process_resident_memory_bytes"} {
		if !exported[want] {
			t.Fatalf("the exported set lacks %s; it is %v", want, exported)
		}
	}
	files, err := filepath.Glob("../../deploy/grafana/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("dashboards: %v %v, want root, cluster and worker", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var d struct {
				UID    string `json:"uid"`
				Title  string `json:"title"`
				Panels []struct {
					Title   string `json:"title"`
					Targets []struct {
						Expr string `json:"expr"`
					} `json:"targets"`
				} `json:"panels"`
			}
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatalf("not a dashboard: %v", err)
			}
			if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
				t.Fatalf("dashboard without uid, title or panels")
			}
			for _, p := range d.Panels {
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, q := range p.Targets {
					names := metricNames(q.Expr)
					if len(names) == 0 {
						t.Errorf("panel %q: query %q names no metric", p.Title, q.Expr)
					}
					for _, n := range names {
						base := n
						for _, suf := range []string{"_bucket", "_sum", "_count"} {
							if s, ok := strings.CutSuffix(n, suf); ok && exported[s] {
								base = s
							}
						}
						if !exported[base] {
							t.Errorf("panel %q: %s is not a metric Hedge exports (query %q)", p.Title, n, q.Expr)
						}
					}
				}
			}
		})
	}
}
