package prom

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hedgeorch/hedge/internal/metrics/glances"
)

// hostCollector turns the latest host sample into hedge_host_* metrics at
// scrape time, so the figures are never older than one sampling interval
// and nothing is kept between scrapes.
type hostCollector struct {
	src HostSampler

	cpuPercent, cpuCores, memory, load1, load5, load15 *prometheus.Desc
	diskSize, diskUsed, diskFree, netRx, netTx         *prometheus.Desc
	sampleTime                                         *prometheus.Desc
}

// NewHostCollector returns a collector of the host figures in src:
//
//	hedge_host_cpu_percent                       busy share of all cpus, %
//	hedge_host_cpu_cores                         logical cpus
//	hedge_host_memory_bytes{kind}                total, available
//	hedge_host_load1, _load5, _load15            load averages
//	hedge_host_disk_{size,used,free}_bytes{...}  per mount point
//	hedge_host_network_{receive,transmit}_bytes_total{interface}
//	hedge_host_sample_timestamp_seconds          when src measured
//
// Before src has a sample the collector reports nothing; when src fails the
// scrape reports the error for this collector and keeps the others.
func NewHostCollector(src HostSampler) prometheus.Collector {
	disk := []string{"mountpoint", "device", "fstype"}
	return &hostCollector{
		src:        src,
		cpuPercent: prometheus.NewDesc("hedge_host_cpu_percent", "Share of cpu time the host spent busy (not idle, not waiting for I/O) over the last sampling interval, in percent.", nil, nil),
		cpuCores:   prometheus.NewDesc("hedge_host_cpu_cores", "Logical cpus of the host.", nil, nil),
		memory:     prometheus.NewDesc("hedge_host_memory_bytes", "Host memory in bytes: total, and available to processes without swapping.", []string{"kind"}, nil),
		load1:      prometheus.NewDesc("hedge_host_load1", "Host load average over 1 minute.", nil, nil),
		load5:      prometheus.NewDesc("hedge_host_load5", "Host load average over 5 minutes.", nil, nil),
		load15:     prometheus.NewDesc("hedge_host_load15", "Host load average over 15 minutes.", nil, nil),
		diskSize:   prometheus.NewDesc("hedge_host_disk_size_bytes", "Size of a mounted filesystem in bytes.", disk, nil),
		diskUsed:   prometheus.NewDesc("hedge_host_disk_used_bytes", "Used bytes of a mounted filesystem.", disk, nil),
		diskFree:   prometheus.NewDesc("hedge_host_disk_free_bytes", "Bytes of a mounted filesystem still free to unprivileged users.", disk, nil),
		netRx:      prometheus.NewDesc("hedge_host_network_receive_bytes_total", "Bytes received by a network interface since boot.", []string{"interface"}, nil),
		netTx:      prometheus.NewDesc("hedge_host_network_transmit_bytes_total", "Bytes sent by a network interface since boot.", []string{"interface"}, nil),
		sampleTime: prometheus.NewDesc("hedge_host_sample_timestamp_seconds", "Unix time at which the host figures were measured.", nil, nil),
	}
}

func (c *hostCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpuPercent, c.cpuCores, c.memory, c.load1, c.load5, c.load15,
		c.diskSize, c.diskUsed, c.diskFree, c.netRx, c.netTx, c.sampleTime} {
		ch <- d
	}
}

// currentSampler is a HostSampler that measures again when its latest sample
// is too old; *glances.Sampler is one.
type currentSampler interface {
	Current(ctx context.Context, procs bool) (glances.Sample, error)
}

// sample is the host sample a scrape reports: a current one when the source
// measures on demand, its latest otherwise.
func (c *hostCollector) sample() (glances.Sample, error) {
	if cs, ok := c.src.(currentSampler); ok {
		// Collect has no context; a host sample is local file reads.
		return cs.Current(context.Background(), false)
	}
	return c.src.Latest()
}

func (c *hostCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.sample()
	if errors.Is(err, glances.ErrNoSample) {
		return // starting up: nothing measured yet is not a failure
	}
	if err != nil {
		// The host could not be read: fail this collector on the scrape
		// rather than report figures that are not there.
		ch <- prometheus.NewInvalidMetric(c.cpuPercent, err)
		return
	}
	emit := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, t, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		emit(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.cpuPercent, s.CPU.Total)
	gauge(c.cpuCores, float64(s.Core.Log))
	gauge(c.memory, float64(s.Mem.Total), "total")
	gauge(c.memory, float64(s.Mem.Available), "available")
	gauge(c.load1, s.Load.Min1)
	gauge(c.load5, s.Load.Min5)
	gauge(c.load15, s.Load.Min15)
	for _, f := range s.FS {
		gauge(c.diskSize, float64(f.Size), f.MntPoint, f.DeviceName, f.FSType)
		gauge(c.diskUsed, float64(f.Used), f.MntPoint, f.DeviceName, f.FSType)
		gauge(c.diskFree, float64(f.Free), f.MntPoint, f.DeviceName, f.FSType)
	}
	for _, n := range s.Network {
		emit(c.netRx, prometheus.CounterValue, float64(n.CumulativeRx), n.InterfaceName)
		emit(c.netTx, prometheus.CounterValue, float64(n.CumulativeTx), n.InterfaceName)
	}
	if !s.Time.IsZero() {
		gauge(c.sampleTime, float64(s.Time.UnixNano())/1e9)
	}
}
