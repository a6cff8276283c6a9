// Package store keeps a tier's state on local disk. Every tier (root, cluster,
// worker) writes its records through the small Store interface, so the backend
// can change (bbolt today, etcd for a replicated root later) without touching
// the tiers. Values are JSON, grouped in buckets, read and written inside
// transactions; NewMemory gives the same semantics in memory for unit tests.
package store
