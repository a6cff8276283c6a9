package prom

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hedgeorch/hedge/internal/metrics/glances"
)

// HostSampler hands out the latest host sample; *glances.Sampler implements
// it.
type HostSampler interface {
	Latest() (glances.Sample, error)
}

// Option configures NewRegistry.
type Option func(*config)

type config struct {
	host HostSampler
}

// WithHost makes the host collector read s instead of measuring the host
// itself at scrape time. Tiers that run a glances.Sampler pass it here.
func WithHost(s HostSampler) Option {
	return func(c *config) { c.host = s }
}

// NewRegistry returns a registry holding the Go runtime collector, the process
// collector and a host collector (see NewHostCollector). Callers register
// their own metrics on it too.
func NewRegistry(opts ...Option) *prometheus.Registry {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.host == nil {
		c.host = newScrapeSampler()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		NewHostCollector(c.host),
	)
	return reg
}

// Handler serves reg in the Prometheus exposition format. A collector that
// fails does not hide the others' metrics.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg,
		ErrorHandling: promhttp.ContinueOnError,
	}))
}

// scrapeSampler measures the host when scraped, for tiers that run no
// glances.Sampler (root, cluster). It skips the process list, which the
// metrics do not use, and measures at most once per DefaultInterval so that
// several scrapers in a row do not pay for several samples; cpu percent is
// then over the time since the previous measurement.
type scrapeSampler struct {
	mu      sync.Mutex
	sampler *glances.Sampler
	last    time.Time
}

func newScrapeSampler() *scrapeSampler {
	return &scrapeSampler{sampler: glances.NewSampler(glances.SamplerOptions{
		Source: glances.NewHostSource(glances.WithoutProcesses()),
	})}
}

func (s *scrapeSampler) Latest() (glances.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.last) >= glances.DefaultInterval {
		// Collect has no context; a host sample is local file reads.
		if err := s.sampler.Refresh(context.Background()); err != nil {
			return glances.Sample{}, err
		}
		s.last = time.Now()
	}
	return s.sampler.Latest()
}
