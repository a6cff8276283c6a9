// Package prom serves Prometheus /metrics for every Hedge tier: the Go runtime
// and process collectors every Go service exposes, plus the host the tier runs
// on (cpu, memory, load, disks, network) under hedge_host_*. The host figures
// are read from the same glances.Sampler that feeds the Glances view when one
// is given, so a worker measures its machine once per interval for both.
package prom
