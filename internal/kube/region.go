package kube

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/hedgeorch/hedge/internal/topology"
)

// Labels of FogAtlas placements.
const (
	// LabelRegion is the node label that places a node in a FogAtlas region.
	LabelRegion = "region"
	// labelFADepl and labelMicroservice mark the Deployments Hedge made for
	// a FADepl, so a later apply can remove regions that were dropped.
	labelFADepl       = "hedge.io/fadepl"
	labelMicroservice = "hedge.io/microservice"
)

// RegionDeploymentName is FogAtlas's name of a microservice's Deployment in
// a region: "<microservice>.reg.<regionId>".
func RegionDeploymentName(microservice, region string) string {
	return microservice + ".reg." + region
}

// RegionDeployments builds the Deployments of one FADepl microservice for
// the regions placement chose, as FogAtlas does: one per region, named
// RegionDeploymentName, with the node selector region=<regionId> added to
// the microservice's own, the region's replica count and image when it
// overrides them, and cpuMillis (from MIPS when the region converts them;
// 0 keeps the containers' requests) as the first container's cpu request.
func RegionDeployments(namespace, app string, ms *topology.Microservice, regions []topology.RegionRequirement, cpuMillis map[string]int64) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, reg := range regions {
		name := RegionDeploymentName(ms.Name, reg.RegionRequired)
		lbl := map[string]string{LabelManagedBy: ManagedBy, labelFADepl: dnsLabelValue(app), labelMicroservice: dnsLabelValue(ms.Name), LabelRegion: reg.RegionRequired}
		sel := map[string]string{LabelRegion: reg.RegionRequired}
		for k, v := range ms.Deployment.NodeSelector {
			if k != LabelRegion {
				sel[k] = v
			}
		}
		replicas := ms.Deployment.Replicas
		if reg.Replicas > 0 {
			replicas = reg.Replicas
		}
		var containers []corev1.Container
		for i, c := range ms.Deployment.Containers {
			k := corev1.Container{Name: c.Name, Image: c.Image, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}
			if k.Name == "" {
				k.Name = fmt.Sprintf("c%d", i)
			}
			if i == 0 && reg.Image != "" {
				k.Image = reg.Image
			}
			cpu := c.CPUMillis
			if i == 0 && cpuMillis[reg.RegionRequired] > 0 {
				cpu = cpuMillis[reg.RegionRequired]
			}
			if cpu > 0 {
				k.Resources.Requests[corev1.ResourceCPU] = *resource.NewMilliQuantity(cpu, resource.DecimalSI)
			}
			if c.MemoryBytes > 0 {
				k.Resources.Requests[corev1.ResourceMemory] = *resource.NewQuantity(c.MemoryBytes, resource.BinarySI)
			}
			containers = append(containers, k)
		}
		podLabels := map[string]string{labelFADepl: lbl[labelFADepl], labelMicroservice: lbl[labelMicroservice], LabelRegion: reg.RegionRequired}
		out = append(out, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: lbl},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(replicas)),
				Selector: &metav1.LabelSelector{MatchLabels: podLabels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
					Spec:       corev1.PodSpec{Containers: containers, NodeSelector: sel},
				},
			},
		})
	}
	return out
}

// ApplyFADepl creates or updates the per-region Deployments of a FADepl's
// microservices on a registered cluster (placements maps a microservice to
// its regions; nil uses each microservice's own regions, as the Silly
// algorithm does) and deletes those of regions no longer chosen. It needs
// no FogAtlas CRD on the cluster. It returns the Deployments' names.
func (m *Manager) ApplyFADepl(ctx context.Context, cluster, namespace string, app *topology.FADepl, placements map[string][]topology.RegionRequirement, cpuMillis map[string]map[string]int64) ([]string, error) {
	c, err := m.cluster(cluster)
	if err != nil {
		return nil, err
	}
	if namespace == "" {
		namespace = Namespace
	}
	if err := ensureNamespace(ctx, c.cs, namespace); err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	var names []string
	for i := range app.Microservices {
		ms := &app.Microservices[i]
		regions := ms.Regions
		if placements != nil {
			regions = placements[ms.Name]
		}
		for _, d := range RegionDeployments(namespace, app.Name, ms, regions, cpuMillis[ms.Name]) {
			d.Annotations = map[string]string{annotationHash: specHash(d.Spec.Template)}
			if err := applyDeployment(ctx, c.cs, d); err != nil {
				return names, err
			}
			keep[d.Name] = true
			names = append(names, d.Name)
		}
	}
	dl, err := c.cs.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: labelFADepl + "=" + dnsLabelValue(app.Name)})
	if err != nil {
		return names, fmt.Errorf("list deployments of %s: %w", app.Name, err)
	}
	for _, d := range dl.Items {
		if keep[d.Name] || !strings.Contains(d.Name, ".reg.") {
			continue
		}
		if err := c.cs.AppsV1().Deployments(namespace).Delete(ctx, d.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return names, fmt.Errorf("delete deployment %s: %w", d.Name, err)
		}
	}
	return names, nil
}
