package role

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/metrics/prom"
	"github.com/hedgeorch/hedge/internal/root"
)

// counterCollector exports labelled counters read at scrape time.
type counterCollector struct {
	desc  *prometheus.Desc
	count func() map[string]uint64
}

func (c counterCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c counterCollector) Collect(ch chan<- prometheus.Metric) {
	for label, n := range c.count() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), label)
	}
}

// countCollector exports a labelled count computed at scrape time.
type countCollector struct {
	desc  *prometheus.Desc
	count func() map[string]int
}

func (c countCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c countCollector) Collect(ch chan<- prometheus.Metric) {
	for label, n := range c.count() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), label)
	}
}

// rootMetrics is the root's Prometheus handler: host, process and Go
// metrics, plus instances by state, clusters by state and link requests
// by endpoint.
func rootMetrics(r *root.Root, token string) http.Handler {
	return requireToken(token, prom.Handler(rootRegistry(r)))
}

// rootRegistry holds the metrics rootMetrics serves.
func rootRegistry(r *root.Root) *prometheus.Registry {
	reg := prom.NewRegistry()
	_ = reg.Register(countCollector{
		desc: prometheus.NewDesc("hedge_instances", "Instances known to the root, by state.", []string{"state"}, nil),
		count: func() map[string]int {
			out := map[string]int{}
			for s, n := range r.InstanceCounts() {
				out[string(s)] = n
			}
			return out
		},
	})
	_ = reg.Register(countCollector{
		desc: prometheus.NewDesc("hedge_clusters", "Registered clusters, by state.", []string{"state"}, nil),
		count: func() map[string]int {
			out := map[string]int{string(api.NodeReady): 0, string(api.NodeNotReady): 0}
			for _, c := range r.Clusters(false) {
				out[string(c.State)]++
			}
			return out
		},
	})
	_ = reg.Register(counterCollector{
		desc:  prometheus.NewDesc("hedge_link_requests_total", "Link requests from clusters answered by the root, by endpoint.", []string{"endpoint"}, nil),
		count: r.LinkHandler().Requests,
	})
	return reg
}

// withMetrics serves /metrics next to h.
func withMetrics(h, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.Handle("/", h)
	return mux
}
