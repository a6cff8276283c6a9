// Package cluster is the orchestrator of one site. It admits workers, places
// the instances the root assigns to this cluster on its nodes, moves them off
// nodes that stop reporting, and reports the site's aggregate and instance
// states to the root. It keeps its state on disk and goes on running its
// instances while the root is unreachable.
package cluster
