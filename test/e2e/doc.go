// Package e2e holds Hedge's end-to-end tests: they build the hedge binary,
// run its tiers as real OS processes on loopback and drive them through the
// REST API, as a user would.
package e2e
