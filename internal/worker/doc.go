// Package worker is the agent on every machine that runs workloads. It keeps
// the set of instances its cluster assigned (persisted, so it keeps running
// them while the cluster is unreachable), starts and supervises them through
// runtime drivers, restarts failed ones with backoff, and reports their state
// and the host's metrics upward.
package worker
