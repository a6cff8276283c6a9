// Package kube drives Kubernetes clusters as one more cluster tier under the
// root: a registered cluster (its kubeconfig kept encrypted in hedge-kube's
// store) links to the root like a Hedge cluster does, its nodes are the
// Kubernetes nodes, and the instances placed on it run as Deployments. It
// also installs Helm charts from registered chart repositories as
// "enablers", placed over the Kubernetes clusters with the ASSIST-IoT Smart
// Orchestrator's policies, and acts on Kubernetes nodes under pressure.
//
// The package links client-go and the Helm library, so the hedge binary
// does not import it: it runs in the hedge-kube program (cmd/hedge-kube,
// Child), which the root starts and talks to over unix sockets
// (internal/kube/kubeproc). See docs/adr/ for the figures.
package kube
