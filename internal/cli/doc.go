// Package cli is Hedge's command line client: the `hedge` command with the
// subcommands a user runs against a root (login, apply, get, describe, scale,
// delete, logs, token, user, version), in the style of kubectl and nomad.
// It talks to the root only through package api; cmd/hedge adds the server
// subcommands (up, root, cluster, worker) to the command built here.
package cli
