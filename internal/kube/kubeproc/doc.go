// Package kubeproc is the protocol between the root and hedge-kube, the
// separate program that drives Kubernetes clusters and Helm enablers so
// that the hedge binary links neither client-go nor Helm. The root starts
// the program (Supervisor), hands it a listening unix socket and a secret,
// and forwards the Kubernetes API paths to it with the caller's identity;
// the program calls the root back over the root's own socket (RootClient).
// This package imports no Kubernetes library: both sides use it.
package kubeproc
