// Package pressure keeps edge nodes from running out of resources, the job of
// FRACTAL's edge controller done so that it acts on the node under pressure
// only, picks victims by priority, never touches the monitoring, and does not
// flap.
//
// Each node has a Machine, a state machine driven by metric samples:
// Normal -> Limited (over a threshold for Policy.MinPressure) -> Tainted (still
// over Policy.TaintAfter after limiting) -> Normal again once every resource
// has stayed Policy.Hysteresis points under its threshold for Policy.MinCalm.
// A Controller samples every watched node each cycle, feeds its Machine and
// calls the node's Actuator: Limit on Limited; Taint once, then Evict one
// instance per cycle while Tainted and still over; Restore on the way back to
// Normal. Every transition and action is kept as an Event.
//
// Sources and actuators live here too: GlancesSource reads any
// Glances-compatible endpoint (a real `glances -w` or a Hedge worker's
// exporter), DockerActuator acts on a Docker host through the Engine API, and
// ParseNodesFile reads FRACTAL's nodes.yaml unchanged.
//
// Monitoring is never acted on: actuators skip every instance labelled
// LabelRole=RoleMonitoring (and DockerActuator also every Glances container),
// and every instance labelled LabelPressure=PressureExempt.
package pressure
