// Package kube drives Kubernetes clusters as one more cluster tier under the
// root: a registered cluster (its kubeconfig kept encrypted in the root's
// store) links to the root like a Hedge cluster does, its nodes are the
// Kubernetes nodes, and the instances placed on it run as Deployments. It
// also installs Helm charts from registered chart repositories as
// "enablers", placed over the Kubernetes clusters with the ASSIST-IoT Smart
// Orchestrator's policies, and acts on Kubernetes nodes under pressure.
//
// The package links client-go and the Helm library, so the root imports it
// only in builds without the noKube tag.
package kube
