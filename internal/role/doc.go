// Package role runs Hedge's tiers as long-lived servers: the root, a cluster,
// a worker, or all three in one process (`hedge up`). It opens their stores,
// links each tier to the one above it and serves their HTTP endpoints; the
// tiers' behaviour lives in packages root, cluster and worker.
package role
