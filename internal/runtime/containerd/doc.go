// Package containerd is Hedge's "container" driver on top of containerd: it
// pulls the service's image (Docker-style references, credentials from a
// Docker config.json), runs one container per instance with the SLA's
// command, environment, limits, ports and files, and supervises its task
// through the daemon (one task wait per instance). It talks to containerd's
// own API in a namespace of its own (default "hedge"), so it works with a
// plain containerd, without Docker or Kubernetes.
//
// Networking: each container gets a network namespace of its own, pinned under
// /run/hedge/netns, on a host bridge set up by the CNI plugins (bridge,
// host-local, portmap, loopback); ports of the SLA's port field are
// published on the worker with portmap. Without the plugins, containers share
// the host's network and a port can only be published as itself. An instance
// given a place on the instance network (runtime.Spec.Network) goes instead on
// that network's bridge with exactly its address (CNI bridge with static
// IPAM, no masquerading), the network's name servers in its resolv.conf, and
// its ports still published with portmap. See
// docs/adr/004-container-networking.md.
//
// Added files: each entry of a service's added_files (an absolute host path or
// an http(s) URL) is copied into the instance's directory under the driver's
// DataDir and appears read-only in the container as /hedge/files/<basename>.
//
// Output goes from the shim straight into instances/<id>/output.log, kept
// bounded by one driver-wide goroutine. Containers carry hedge.* labels and
// tasks outlive the worker (their shims own them), so a restarted worker finds
// them again with Recover, from the handle it kept.
package containerd
