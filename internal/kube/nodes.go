package kube

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hedgeorch/hedge/api"
)

var listAll = metav1.ListOptions{}

// AnnotationNetRx on a node carries its network receive rate in bytes per
// second, as Hedge's metrics (or the operator's exporter) last measured it;
// the most-traffic policy ranks clusters by the sum over their nodes.
const AnnotationNetRx = "hedge.io/net-rx-bytes-per-s"

// clusterView is a cluster's nodes and what the pods bound to each request.
type clusterView struct {
	nodes []*corev1.Node
	// requested sums the requests of every pod bound to the node that has
	// not finished; hedge only those of Hedge's own pods.
	requested map[string]api.Resources
	hedge     map[string]api.Resources
	pods      map[string]int
}

// view lists the cluster's nodes and pods from its API server.
func (c *kcluster) view(ctx context.Context) (*clusterView, error) {
	nl, err := c.cs.CoreV1().Nodes().List(ctx, listAll)
	if err != nil {
		return nil, fmt.Errorf("%w: list nodes of %s: %v", ErrUnavailable, c.rec.Name, err)
	}
	pl, err := c.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})
	if err != nil {
		return nil, fmt.Errorf("%w: list pods of %s: %v", ErrUnavailable, c.rec.Name, err)
	}
	nodes := make([]*corev1.Node, len(nl.Items))
	for i := range nl.Items {
		nodes[i] = &nl.Items[i]
	}
	pods := make([]*corev1.Pod, len(pl.Items))
	for i := range pl.Items {
		pods[i] = &pl.Items[i]
	}
	return buildView(nodes, pods), nil
}

func buildView(nodes []*corev1.Node, pods []*corev1.Pod) *clusterView {
	v := &clusterView{requested: map[string]api.Resources{}, hedge: map[string]api.Resources{}, pods: map[string]int{}}
	v.nodes = append(v.nodes, nodes...)
	sort.Slice(v.nodes, func(i, j int) bool { return v.nodes[i].Name < v.nodes[j].Name })
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		r := podRequests(p)
		v.requested[p.Spec.NodeName] = v.requested[p.Spec.NodeName].Add(r)
		v.pods[p.Spec.NodeName]++
		if p.Labels[labelServiceID] != "" {
			v.hedge[p.Spec.NodeName] = v.hedge[p.Spec.NodeName].Add(r)
		}
	}
	return v
}

// podRequests is what the scheduler counts for a pod: the sum of its
// containers' requests, or the largest init container's if larger, plus
// the pod overhead.
func podRequests(p *corev1.Pod) api.Resources {
	var sum api.Resources
	for _, c := range p.Spec.Containers {
		sum = sum.Add(requestOf(c.Resources))
	}
	for _, c := range p.Spec.InitContainers {
		r := requestOf(c.Resources)
		sum.VCPUs, sum.MemoryMB = max(sum.VCPUs, r.VCPUs), max(sum.MemoryMB, r.MemoryMB)
	}
	if p.Spec.Overhead != nil {
		sum = sum.Add(toResources(p.Spec.Overhead))
	}
	return sum
}

func requestOf(r corev1.ResourceRequirements) api.Resources {
	req := r.Requests
	if req == nil {
		req = r.Limits // the API server defaults requests to limits
	}
	out := toResources(req)
	if _, ok := req[corev1.ResourceCPU]; !ok {
		out.VCPUs = toResources(r.Limits).VCPUs
	}
	if _, ok := req[corev1.ResourceMemory]; !ok {
		out.MemoryMB = toResources(r.Limits).MemoryMB
	}
	return out
}

// toResources converts cpu and memory quantities: cores and MB (MiB).
func toResources(l corev1.ResourceList) api.Resources {
	var out api.Resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		out.VCPUs = float64(q.MilliValue()) / 1000
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		out.MemoryMB = q.Value() / (1 << 20)
	}
	return out
}

// toQuantities is the inverse of toResources, for pod specs.
func toQuantities(r api.Resources) corev1.ResourceList {
	l := corev1.ResourceList{}
	if r.VCPUs > 0 {
		l[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(r.VCPUs*1000+0.5), resource.DecimalSI)
	}
	if r.MemoryMB > 0 {
		l[corev1.ResourceMemory] = *resource.NewQuantity(r.MemoryMB<<20, resource.BinarySI)
	}
	return l
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// schedulable reports whether new pods without tolerations can land on n.
func schedulable(n *corev1.Node) bool {
	if !nodeReady(n) || n.Spec.Unschedulable {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	return true
}

// free is allocatable minus what n's pods request.
func (v *clusterView) free(n *corev1.Node) api.Resources {
	return toResources(n.Status.Allocatable).Sub(v.requested[n.Name])
}

// schedulableFree lists the free resources of every schedulable node, the
// input of the max_replicas computation.
func (v *clusterView) schedulableFree() []api.Resources {
	var out []api.Resources
	for _, n := range v.nodes {
		if schedulable(n) {
			out = append(out, v.free(n))
		}
	}
	return out
}

// netRx sums the receive rates the ready nodes' annotations report.
func (v *clusterView) netRx() float64 {
	var sum float64
	for _, n := range v.nodes {
		if nodeReady(n) {
			sum += nodeNetRx(n)
		}
	}
	return sum
}

func nodeNetRx(n *corev1.Node) float64 {
	f, err := strconv.ParseFloat(n.Annotations[AnnotationNetRx], 64)
	if err != nil || f < 0 {
		return 0
	}
	return f
}

func (v *clusterView) kubeNodes() []api.KubeNode {
	out := make([]api.KubeNode, 0, len(v.nodes))
	for _, n := range v.nodes {
		kn := api.KubeNode{
			Name: n.Name, Ready: nodeReady(n), Unschedulable: n.Spec.Unschedulable, Labels: n.Labels,
			Capacity: toResources(n.Status.Capacity), Allocatable: toResources(n.Status.Allocatable),
			Requested: v.requested[n.Name], Pods: v.pods[n.Name],
		}
		for _, t := range n.Spec.Taints {
			kn.Taints = append(kn.Taints, api.KubeTaint{Key: t.Key, Value: t.Value, Effect: string(t.Effect)})
		}
		out = append(out, kn)
	}
	return out
}
