// Package worker is the agent on every machine that runs workloads. It keeps
// the set of instances its cluster assigned (persisted, so it keeps running
// them while the cluster is unreachable), starts and waits on them through
// runtime drivers, restarts failed ones with backoff, and reports their state
// and the host's metrics upward. It owns the bookkeeping of what runs: a
// record with each task's driver handle in its store, so that every exit is
// acted on once and a restarted worker re-attaches (see
// docs/adr/007-worker-owns-task-handles.md).
package worker
