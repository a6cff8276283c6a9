// Package metrics measures the host a tier runs on (cpu, memory, disk,
// network) so workers can report it and placement can use it.
package metrics
