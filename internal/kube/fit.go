package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/placement"
)

// ChartDemand renders a chart with values, without a cluster, and returns
// the Smart Orchestrator's demand: the summed cpu and memory requests of one
// replica of every workload (Deployment, StatefulSet, ReplicaSet, DaemonSet,
// Job, Pod) and the largest replica count among them. A chart that does not
// render gives ErrInvalid with Helm's message. kubeVersion ("" = Helm's
// default) is what the chart's kubeVersion constraint is checked against.
func ChartDemand(ch *chart.Chart, release string, values map[string]any, kubeVersion string) (api.Resources, int, error) {
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace = release, release
	if kubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(kubeVersion)
		if err == nil {
			inst.KubeVersion = kv
		}
	}
	rel, err := inst.Run(ch, values)
	if err != nil {
		return api.Resources{}, 0, fmt.Errorf("%w: chart %s failed to render: %v", ErrInvalid, ch.Name(), err)
	}
	return ManifestDemand(rel.Manifest)
}

// workloadDoc is the part of a workload manifest the demand needs.
type workloadDoc struct {
	Kind string `json:"kind"`
	Spec struct {
		Replicas    *int32 `json:"replicas"`
		Parallelism *int32 `json:"parallelism"`
		Template    struct {
			Spec corev1.PodSpec `json:"spec"`
		} `json:"template"`
		Containers []corev1.Container `json:"containers"`
	} `json:"spec"`
}

// ManifestDemand sums the per-replica requests of the workloads in a
// rendered manifest and returns the largest replica count (1 when none
// says).
func ManifestDemand(manifest string) (api.Resources, int, error) {
	var demand api.Resources
	replicas := 0
	for name, doc := range releaseutil.SplitManifests(manifest) {
		var w workloadDoc
		if err := yaml.Unmarshal([]byte(doc), &w); err != nil {
			return api.Resources{}, 0, fmt.Errorf("%w: rendered manifest %s: %v", ErrInvalid, name, err)
		}
		var spec corev1.PodSpec
		n := int32(1)
		switch w.Kind {
		case "Deployment", "StatefulSet", "ReplicaSet":
			spec = w.Spec.Template.Spec
			if w.Spec.Replicas != nil {
				n = *w.Spec.Replicas
			}
		case "Job":
			spec = w.Spec.Template.Spec
			if w.Spec.Parallelism != nil {
				n = *w.Spec.Parallelism
			}
		case "DaemonSet":
			spec = w.Spec.Template.Spec
		case "Pod":
			spec.Containers = w.Spec.Containers
		default:
			continue
		}
		demand = demand.Add(podRequests(&corev1.Pod{Spec: spec}))
		replicas = max(replicas, int(n))
	}
	return demand, max(replicas, 1), nil
}

// FitCluster is one Kubernetes cluster as the replica policies see it.
type FitCluster struct {
	ID, Name string
	Cloud    bool
	// NotReady says why the cluster cannot take anything ("" = it can).
	NotReady string
	// Free lists the free resources of each schedulable node.
	Free         []api.Resources
	NetRxBytesPS float64
}

// PlaceReplicas picks the cluster for replicas copies of demand under
// policy (worst-fit, best-fit, most-traffic or traffic-most), with the
// placement framework's replica plugins, and explains every cluster's
// verdict. The cloud cluster takes part only with includeCloud. With no
// winner the error wraps ErrUnschedulable and the placement still explains.
func PlaceReplicas(ctx context.Context, policy string, demand api.Resources, replicas int, includeCloud bool, clusters []FitCluster) (*api.EnablerPlacement, error) {
	rooms := make([]placement.ClusterRoom, len(clusters))
	cands := make([]*placement.Candidate, len(clusters))
	var names []string
	for i, c := range clusters {
		rooms[i] = placement.ClusterRoom{ID: c.ID, Name: c.Name, MaxReplicas: placement.MaxReplicas(demand, c.Free), NetRxBytesPS: c.NetRxBytesPS}
		if c.NotReady != "" {
			rooms[i].MaxReplicas = 0
		}
		cands[i] = &placement.Candidate{ID: c.ID, Name: c.Name, Ready: c.NotReady == "", Labels: map[string]string{}, NetRxBytesPS: c.NetRxBytesPS}
		if c.Cloud {
			cands[i].Labels[api.KubeCloudLabel] = "true"
		}
		names = append(names, c.Name)
	}
	pl := &api.EnablerPlacement{Policy: policy, Demand: demand, Replicas: replicas}
	fw, err := placement.NewReplicaFramework(policy, replicas, rooms)
	if err != nil {
		return pl, fmt.Errorf("%w: placementPolicy: %v", ErrInvalid, err)
	}
	req := &placement.Request{ServiceID: "enabler", Demand: demand, Policy: policy}
	if includeCloud && len(names) > 0 {
		req.Constraints = []api.Constraint{{Type: placement.ConstraintClusters, Allowed: names}}
	}
	res, placeErr := fw.Place(ctx, req, cands)
	if placeErr != nil && !errors.Is(placeErr, placement.ErrUnschedulable) {
		return pl, fmt.Errorf("%w: placement: %v", ErrInvalid, placeErr)
	}
	order, _ := placement.RoomOrder(policy, rooms)
	rank := map[string]int{}
	for i, r := range order {
		rank[r.ID] = i
	}
	var win *placement.ClusterRoom
	if res.Chosen != nil {
		pl.Winner = res.Chosen.Name
		for i := range rooms {
			if rooms[i].ID == res.Chosen.ID {
				win = &rooms[i]
			}
		}
	}
	for i, c := range clusters {
		r := rooms[i]
		v := api.ClusterVerdict{Cluster: c.Name, MaxReplicas: r.MaxReplicas, NetRxBytesPS: r.NetRxBytesPS}
		switch {
		case win != nil && r.ID == win.ID:
			v.Won = true
			v.Reason = fmt.Sprintf("chosen: room for %d replicas (need %d) and first in %s order", r.MaxReplicas, replicas, policy)
		case c.NotReady != "":
			v.Reason = "not available: " + c.NotReady
		case c.Cloud && !includeCloud:
			v.Reason = "cloud cluster: excluded from automatic placement (set includeCloud to allow it)"
		case r.MaxReplicas < max(replicas, 1):
			v.Reason = fmt.Sprintf("too little room: max_replicas %d < %d replicas needed", r.MaxReplicas, replicas)
		case win != nil:
			v.Reason = fmt.Sprintf("fits, but %s prefers %s: %s", policy, win.Name, compare(policy, *win, r))
		default:
			v.Reason = "fits"
		}
		pl.Clusters = append(pl.Clusters, v)
	}
	if res.Chosen == nil {
		var why []string
		for _, v := range pl.Clusters {
			why = append(why, v.Cluster+": "+v.Reason)
		}
		if len(why) == 0 {
			why = []string{"no kubernetes cluster is registered"}
		}
		return pl, fmt.Errorf("%w: no kubernetes cluster can take %d replica(s) of %.3g cpu, %d MB: %s", ErrUnschedulable, replicas, demand.VCPUs, demand.MemoryMB, strings.Join(why, "; "))
	}
	return pl, nil
}

func compare(policy string, win, r placement.ClusterRoom) string {
	switch policy {
	case placement.PolicyWorstFit:
		return fmt.Sprintf("max_replicas %d vs %d (most room first)", win.MaxReplicas, r.MaxReplicas)
	case placement.PolicyBestFit:
		return fmt.Sprintf("max_replicas %d vs %d (least room that fits first)", win.MaxReplicas, r.MaxReplicas)
	default:
		return fmt.Sprintf("receive rate %.0f vs %.0f B/s (most traffic first)", win.NetRxBytesPS, r.NetRxBytesPS)
	}
}
