package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/placement"
)

func res(cpu float64, mb int64) api.Resources { return api.Resources{VCPUs: cpu, MemoryMB: mb} }

// TestMaxReplicasUnit checks the Smart Orchestrator's formula against sums
// worked out by hand.
func TestMaxReplicasUnit(t *testing.T) {
	tests := []struct {
		name   string
		demand api.Resources
		free   []api.Resources
		want   int
	}{
		// min(2/0.5, 2048/512) + min(1/0.5, 4096/512) = 4 + 2
		{"two nodes", res(0.5, 512), []api.Resources{res(2, 2048), res(1, 4096)}, 6},
		// memory binds: min(4/0.5, 1024/512)=2; cpu binds: min(1/0.5, 1024/512)=2; min(1, 1)=1
		{"memory and cpu bind", res(0.5, 512), []api.Resources{res(4, 1024), res(1, 1024), res(0.5, 512)}, 5},
		// 0.3 cores in 0.1 steps is 3, not 2.999
		{"millicore rounding", res(0.1, 0), []api.Resources{res(0.3, 100)}, 3},
		{"node over-committed adds nothing", res(1, 100), []api.Resources{res(-1, 500), res(2, -5), res(2, 250)}, 2},
		{"cpu only demand", res(1, 0), []api.Resources{res(3.5, 1)}, 3},
		{"no nodes", res(1, 1), nil, 0},
		{"zero demand is unbounded", res(0, 0), []api.Resources{res(1, 1)}, 1<<31 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := placement.MaxReplicas(tt.demand, tt.free); got != tt.want {
				t.Errorf("MaxReplicas = %d, want %d", got, tt.want)
			}
		})
	}
}

// fitClusters are three clusters whose max_replicas for 0.5 cpu / 512 MB
// were computed by hand: edge-a 4+2 = 6, edge-b 2+2+1 = 5, cloud 32.
func fitClusters() []FitCluster {
	return []FitCluster{
		{ID: "a", Name: "edge-a", Free: []api.Resources{res(2, 2048), res(1, 4096)}, NetRxBytesPS: 1000},
		{ID: "b", Name: "edge-b", Free: []api.Resources{res(4, 1024), res(1, 1024), res(0.5, 512)}, NetRxBytesPS: 5000},
		{ID: "c", Name: "cloud", Cloud: true, Free: []api.Resources{res(16, 32768)}, NetRxBytesPS: 100000},
	}
}

func TestPlaceReplicasUnit(t *testing.T) {
	tests := []struct {
		name     string
		policy   string
		replicas int
		cloud    bool
		mutate   func([]FitCluster)
		want     string // "" = unschedulable
	}{
		{"worst-fit picks most room", "worst-fit", 2, false, nil, "edge-a"},
		{"best-fit picks least room that fits", "best-fit", 2, false, nil, "edge-b"},
		{"best-fit skips a cluster too small", "best-fit", 6, false, nil, "edge-a"},
		{"most-traffic picks highest receive rate", "most-traffic", 2, false, nil, "edge-b"},
		{"traffic-most is the same policy", "traffic-most", 2, false, nil, "edge-b"},
		{"most-traffic skips a cluster without room", "most-traffic", 6, false, nil, "edge-a"},
		{"cloud only when asked", "worst-fit", 2, true, nil, "cloud"},
		{"too many replicas without the cloud", "worst-fit", 7, false, nil, ""},
		{"too many replicas with the cloud", "best-fit", 7, true, nil, "cloud"},
		{"unavailable cluster is skipped", "worst-fit", 2, false, func(c []FitCluster) { c[0].NotReady = "status Error: unreachable" }, "edge-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cls := fitClusters()
			if tt.mutate != nil {
				tt.mutate(cls)
			}
			pl, err := PlaceReplicas(context.Background(), tt.policy, res(0.5, 512), tt.replicas, tt.cloud, cls)
			if tt.want == "" {
				if !errors.Is(err, ErrUnschedulable) {
					t.Fatalf("err = %v, want ErrUnschedulable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pl.Winner != tt.want {
				t.Fatalf("winner = %s, want %s; verdicts %+v", pl.Winner, tt.want, pl.Clusters)
			}
			wantMax := map[string]int{"edge-a": 6, "edge-b": 5, "cloud": 32}
			for _, v := range pl.Clusters {
				if v.Won != (v.Cluster == tt.want) {
					t.Errorf("%s won = %v", v.Cluster, v.Won)
				}
				if v.Reason == "" {
					t.Errorf("%s: no reason", v.Cluster)
				}
				if !strings.HasPrefix(v.Reason, "not available") && v.MaxReplicas != wantMax[v.Cluster] {
					t.Errorf("%s max_replicas = %d, want %d", v.Cluster, v.MaxReplicas, wantMax[v.Cluster])
				}
			}
		})
	}
}

func TestPlaceReplicasExplainsLosersUnit(t *testing.T) {
	pl, err := PlaceReplicas(context.Background(), "best-fit", res(0.5, 512), 6, false, fitClusters())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"edge-a": "chosen", "edge-b": "too little room: max_replicas 5 < 6", "cloud": "cloud cluster"}
	for _, v := range pl.Clusters {
		if !strings.Contains(v.Reason, want[v.Cluster]) {
			t.Errorf("%s: reason %q, want it to contain %q", v.Cluster, v.Reason, want[v.Cluster])
		}
	}
}

func TestPlaceReplicasUnknownPolicyUnit(t *testing.T) {
	_, err := PlaceReplicas(context.Background(), "first-fit", res(1, 1), 1, false, fitClusters())
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "first-fit") {
		t.Fatalf("err = %v, want ErrInvalid naming the policy", err)
	}
}

func TestManifestDemandUnit(t *testing.T) {
	manifest := `---
# Source: web/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: a
        resources: {requests: {cpu: 250m, memory: 128Mi}}
      - name: b
        resources: {requests: {cpu: "1", memory: 1Gi}}
---
# Source: web/templates/cache.yaml
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cache}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: c
        resources: {limits: {cpu: 500m, memory: 256Mi}}
---
# Source: web/templates/svc.yaml
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
`
	d, n, err := ManifestDemand(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if d.VCPUs != 1.75 || d.MemoryMB != 128+1024+256 || n != 3 {
		t.Fatalf("demand %+v x %d, want 1.75 cpu, 1408 MB x 3", d, n)
	}
}
