// Package docker is Hedge's "container" driver on top of a Docker daemon: it
// pulls the service's image, runs one container per instance with the SLA's
// limits, ports and files, and supervises it through the daemon's API (one
// ContainerWait per instance). The daemon keeps the containers running while
// the worker is down; a restarted worker finds them again with Recover, from
// the handle it kept.
//
// Containers are named hedge-<instance>-<owner> and labelled hedge.managed,
// hedge.instance, hedge.service and hedge.owner, where owner is a digest of the
// driver's DataDir: two workers sharing one daemon never touch each other's
// containers. The daemon does not restart them (the worker decides), and their
// logs are json-file, bounded to 2 x 10 MB.
//
// An instance given a place on the instance network (runtime.Spec.Network) is
// attached to a user-defined Docker bridge network, hedge-<bridge>, on that
// network's own bridge, with exactly its address and a resolv.conf naming the
// network's name servers (see network.go and
// docs/adr/004-container-networking.md).
//
// Added files: each entry of a service's added_files (an absolute host path or
// an http(s) URL) is copied into the instance's directory under the driver's
// DataDir and appears read-only in the container as /hedge/files/<basename>.
package docker
