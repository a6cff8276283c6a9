package kube

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

func ensureNamespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{LabelManagedBy: ManagedBy}}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}

// applyDeployment creates d or brings the existing one to d's template and
// replicas. A Deployment the pressure actuator scaled down keeps its lower
// count; the wanted count is kept for Restore instead.
func applyDeployment(ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) error {
	api := cs.AppsV1().Deployments(d.Namespace)
	cur, err := api.Get(ctx, d.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := api.Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create deployment %s: %w", d.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get deployment %s: %w", d.Name, err)
	}
	want := *d.Spec.Replicas
	upd := cur.DeepCopy()
	if saved, ok := cur.Annotations[AnnotationPressureReplicas]; ok {
		if saved != strconv.Itoa(int(want)) {
			upd.Annotations[AnnotationPressureReplicas] = strconv.Itoa(int(want))
		}
		want = min(want, ptr.Deref(cur.Spec.Replicas, 1))
	}
	changed := upd.Annotations[AnnotationPressureReplicas] != cur.Annotations[AnnotationPressureReplicas]
	if ptr.Deref(cur.Spec.Replicas, 1) != want {
		upd.Spec.Replicas = ptr.To(want)
		changed = true
	}
	if cur.Annotations[annotationHash] != d.Annotations[annotationHash] {
		upd.Spec.Template = d.Spec.Template
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[annotationHash] = d.Annotations[annotationHash]
		changed = true
	}
	if !changed {
		return nil
	}
	if _, err := api.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update deployment %s: %w", d.Name, err)
	}
	return nil
}

func applyService(ctx context.Context, cs kubernetes.Interface, s *corev1.Service) error {
	api := cs.CoreV1().Services(s.Namespace)
	cur, err := api.Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := api.Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create service %s: %w", s.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", s.Name, err)
	}
	if fmt.Sprint(cur.Spec.Ports) == fmt.Sprint(s.Spec.Ports) {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Spec.Ports = s.Spec.Ports
	if _, err := api.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update service %s: %w", s.Name, err)
	}
	return nil
}
