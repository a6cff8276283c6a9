// Package pki is Hedge's certificate authority and the TLS settings built on
// it. The root creates a CA (ECDSA P-256) in its data directory on first
// start and signs the serving certificates of the root and of every cluster;
// lower tiers pin the CA by the SHA-256 of its public key (as kubeadm's
// --discovery-token-ca-cert-hash does), store it, and verify every later
// connection against it. See docs/adr/013-tls-everywhere.md.
package pki
