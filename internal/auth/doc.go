// Package auth decides who may talk to Hedge. For people it keeps users with
// roles and argon2id password hashes, and issues and verifies short-lived JWT
// access tokens with longer-lived refresh tokens. For machines it issues join
// tokens (a cluster joining the root, a worker joining a cluster) and, once a
// lower tier has joined, per-node credentials checked on every tier link.
// Secrets are stored only as hashes, and nothing here logs them.
package auth
