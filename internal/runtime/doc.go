// Package runtime is the contract between a worker and the drivers that run its
// service instances (process, containerd, docker, ...). A worker talks to every
// driver through Driver, so that placing an instance on a node does not depend
// on how that node runs it; optional capabilities such as UsageReporter are
// separate interfaces found by type assertion.
package runtime
