// Package errdefs is Hedge's one error vocabulary, after containerd's: a few
// kinds (invalid, not found, conflict, ...) that the domain packages' own
// sentinels wrap, and the one mapping from a kind to an HTTP status and a
// message that is safe to show. Every HTTP edge maps errors with HTTP.
package errdefs
