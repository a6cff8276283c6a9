package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/hedgeorch/hedge/internal/pressure"
)

// Names the pressure actuator puts on Kubernetes objects.
const (
	// TaintPressure is the NoSchedule taint of a node under pressure.
	TaintPressure = "hedge.io/pressure"
	// AnnotationPressureReplicas on a Deployment keeps the replica count to
	// bring back on Restore; AnnotationPressureNode names the node whose
	// pressure scaled it down.
	AnnotationPressureReplicas = "hedge.io/pressure-replicas"
	AnnotationPressureNode     = "hedge.io/pressure-node"
	// annotationDeletionCost makes the ReplicaSet controller remove the
	// marked pod first when its Deployment is scaled down.
	annotationDeletionCost = "controller.kubernetes.io/pod-deletion-cost"
	markedForRemoval       = "-2147483648"
)

// KubeActuator acts on one node of a Kubernetes cluster under pressure:
// Taint (and Limit) put a NoSchedule taint on it, Evict removes one of the
// pods running there (lowest priority first) by scaling its Deployment down
// by exactly that pod, or by evicting a pod no Deployment owns, and Restore
// lifts the taint and scales those Deployments back. Pods on other nodes are
// never touched: FRACTAL scaled whole deployments cluster-wide.
type KubeActuator struct {
	cs  kubernetes.Interface
	log *slog.Logger
}

var _ pressure.Actuator = (*KubeActuator)(nil)

// NewActuator returns an actuator for the cluster cs talks to.
func NewActuator(cs kubernetes.Interface, log *slog.Logger) *KubeActuator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &KubeActuator{cs: cs, log: log}
}

// Actuator returns the pressure actuator of a registered cluster.
func (m *Manager) Actuator(idOrName string) (*KubeActuator, error) {
	c, err := m.cluster(idOrName)
	if err != nil {
		return nil, err
	}
	return NewActuator(c.cs, m.log.With("cluster", c.rec.Name)), nil
}

// Limit implements pressure.Actuator. Kubernetes limits pods through their
// requests and the scheduler, so the first level is the taint: the node
// takes no new pods while the ones it runs keep going.
func (a *KubeActuator) Limit(ctx context.Context, node string) error {
	return a.Taint(ctx, node)
}

// Taint implements pressure.Actuator: it adds the NoSchedule taint once.
func (a *KubeActuator) Taint(ctx context.Context, node string) error {
	return a.setTaint(ctx, node, true)
}

func (a *KubeActuator) setTaint(ctx context.Context, node string, on bool) error {
	changed := false
	// The kubelet (KWOK in tests) writes the node too: retry on conflicts.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := a.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var taints []corev1.Taint
		has := false
		for _, t := range n.Spec.Taints {
			if t.Key == TaintPressure {
				has = true
				continue
			}
			taints = append(taints, t)
		}
		if has == on {
			return nil
		}
		if on {
			taints = append(taints, corev1.Taint{Key: TaintPressure, Value: "true", Effect: corev1.TaintEffectNoSchedule})
		}
		n.Spec.Taints = taints
		_, err = a.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		changed = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("taint node %s: %w", node, err)
	}
	if changed {
		a.log.Info("pressure taint", "node", node, "on", on)
	}
	return nil
}

// Evict implements pressure.Actuator: it removes the lowest-priority pod on
// node (priority from the hedge.priority label, else the pod's priority;
// the newest first among equals), skipping monitoring, exempt, DaemonSet,
// static and kube-system pods. It returns "" when nothing is left.
func (a *KubeActuator) Evict(ctx context.Context, node string) (string, error) {
	pl, err := a.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return "", fmt.Errorf("pods of node %s: %w", node, err)
	}
	var cands []*corev1.Pod
	for i := range pl.Items {
		if p := &pl.Items[i]; evictable(p) {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return "", nil
	}
	sort.SliceStable(cands, func(i, j int) bool {
		pi, pj := podPriority(cands[i]), podPriority(cands[j])
		if pi != pj {
			return pi < pj
		}
		ti, tj := cands[i].CreationTimestamp, cands[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return tj.Before(&ti)
		}
		return cands[i].Name < cands[j].Name
	})
	for _, victim := range cands {
		d, err := a.deploymentOf(ctx, victim)
		if err != nil {
			return "", err
		}
		if d != nil {
			out, err := a.scaleDown(ctx, d, victim, node)
			if apierrors.IsNotFound(err) {
				continue // gone meanwhile: take the next one
			}
			return out, err
		}
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: victim.Name, Namespace: victim.Namespace}}
		if err := a.cs.CoreV1().Pods(victim.Namespace).EvictV1(ctx, ev); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return "", fmt.Errorf("evict pod %s/%s: %w", victim.Namespace, victim.Name, err)
		}
		a.log.Info("pressure: pod evicted", "node", node, "pod", victim.Namespace+"/"+victim.Name)
		return "pod " + victim.Namespace + "/" + victim.Name, nil
	}
	return "", nil
}

func evictable(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if p.Annotations[annotationDeletionCost] == markedForRemoval {
		return false // an earlier Evict already took it; its removal is under way
	}
	if p.Namespace == metav1.NamespaceSystem || p.Labels[pressure.LabelRole] == pressure.RoleMonitoring ||
		p.Labels[pressure.LabelPressure] == pressure.PressureExempt {
		return false
	}
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return false
		}
	}
	return true
}

func podPriority(p *corev1.Pod) int64 {
	if v, err := strconv.ParseInt(p.Labels[pressure.LabelPriority], 10, 32); err == nil {
		return v
	}
	return int64(ptr.Deref(p.Spec.Priority, 0))
}

// deploymentOf returns the Deployment that owns p through its ReplicaSet,
// or nil.
func (a *KubeActuator) deploymentOf(ctx context.Context, p *corev1.Pod) (*appsv1.Deployment, error) {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return nil, nil
	}
	rs, err := a.cs.AppsV1().ReplicaSets(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replicaset of pod %s: %w", p.Name, err)
	}
	dref := metav1.GetControllerOf(rs)
	if dref == nil || dref.Kind != "Deployment" {
		return nil, nil
	}
	d, err := a.cs.AppsV1().Deployments(p.Namespace).Get(ctx, dref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deployment of pod %s: %w", p.Name, err)
	}
	return d, nil
}

// scaleDown removes exactly victim from d: the pod gets the lowest deletion
// cost, then d loses one replica, so the ReplicaSet controller deletes that
// pod and no other.
func (a *KubeActuator) scaleDown(ctx context.Context, d *appsv1.Deployment, victim *corev1.Pod, node string) (string, error) {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annotationDeletionCost: markedForRemoval}}})
	if _, err := a.cs.CoreV1().Pods(victim.Namespace).Patch(ctx, victim.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return "", fmt.Errorf("mark pod %s for removal: %w", victim.Name, err)
	}
	// Re-read the Deployment on every try: another Evict, or the
	// Deployment controller writing its status, may have changed it.
	var cur int32
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh, err := a.cs.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur = ptr.Deref(fresh.Spec.Replicas, 1)
		if fresh.Annotations == nil {
			fresh.Annotations = map[string]string{}
		}
		if _, ok := fresh.Annotations[AnnotationPressureReplicas]; !ok {
			fresh.Annotations[AnnotationPressureReplicas] = strconv.Itoa(int(cur))
		}
		fresh.Annotations[AnnotationPressureNode] = node
		fresh.Spec.Replicas = ptr.To(max(0, cur-1))
		_, err = a.cs.AppsV1().Deployments(d.Namespace).Update(ctx, fresh, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("scale down deployment %s: %w", d.Name, err)
	}
	a.log.Info("pressure: deployment scaled down", "node", node, "deployment", d.Namespace+"/"+d.Name, "pod", victim.Name, "replicas", cur-1)
	return "deployment " + d.Namespace + "/" + d.Name + " (pod " + victim.Name + ")", nil
}

// Restore implements pressure.Actuator: the taint goes and every
// Deployment scaled down for this node gets its replicas back.
func (a *KubeActuator) Restore(ctx context.Context, node string) error {
	if err := a.setTaint(ctx, node, false); err != nil {
		return err
	}
	dl, err := a.cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	for i := range dl.Items {
		d := &dl.Items[i]
		if d.Annotations[AnnotationPressureNode] != node {
			continue
		}
		// A merge patch, not an Update: the Deployment controller writes
		// the object too, and a stale resourceVersion would be refused.
		body := map[string]any{"metadata": map[string]any{"annotations": map[string]any{
			AnnotationPressureReplicas: nil, AnnotationPressureNode: nil}}}
		n, err := strconv.Atoi(d.Annotations[AnnotationPressureReplicas])
		if err == nil {
			body["spec"] = map[string]any{"replicas": n}
		}
		patch, _ := json.Marshal(body)
		if _, err := a.cs.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("restore deployment %s: %w", d.Name, err)
		}
		a.log.Info("pressure: deployment restored", "node", node, "deployment", d.Namespace+"/"+d.Name, "replicas", n)
	}
	return nil
}

// RestorePending implements pressure.RestorePender: what the actuator did
// lives in the cluster (the taint, the Deployments' annotations), so after
// a restart of the root a node still tainted, or with Deployments scaled
// down for it, is restored once it is seen normal. A cluster that cannot be
// asked is taken as having something pending: Restore is idempotent.
func (a *KubeActuator) RestorePending(node string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := a.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return !apierrors.IsNotFound(err)
	}
	for _, t := range n.Spec.Taints {
		if t.Key == TaintPressure {
			return true
		}
	}
	dl, err := a.cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return true
	}
	for _, d := range dl.Items {
		if d.Annotations[AnnotationPressureNode] == node {
			return true
		}
	}
	return false
}
