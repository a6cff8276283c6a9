package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hedgeorch/hedge/api"
)

// addRepo registers the test chart repository (private) once.
func (s *suite) addRepo(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if rs, _ := s.h.client.ListChartRepos(ctx); len(rs) > 0 {
		return
	}
	url := s.repoURL
	_, err := s.h.client.AddChartRepo(ctx, api.ChartRepoRequest{Name: "test", URL: url, Username: "chartuser", Password: "wrong"})
	if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("wrong password: err = %v", err)
	}
	r, err := s.h.client.AddChartRepo(ctx, api.ChartRepoRequest{Name: "test", URL: url, Username: "chartuser", Password: "chartpass", Description: "charts made by the test"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Private {
		t.Errorf("repo %+v not private", r)
	}
	charts, err := s.h.client.ListCharts(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range charts {
		got = append(got, ch.Name+"-"+ch.Version)
	}
	want := []string{"badinstall-1.0.0", "broken-1.0.0", "store-1.0.0", "web-1.1.0", "web-1.0.0"}
	if !slices.Equal(got, want) {
		t.Fatalf("charts %v, want %v", got, want)
	}
	raw, _ := json.Marshal(must(s.h.client.ListChartRepos(ctx)))
	if strings.Contains(string(raw), "chartpass") {
		t.Errorf("repo list leaks the password: %s", raw)
	}
}

// waitEnabler polls an enabler until it leaves INSTALLING.
func (s *suite) waitEnabler(t *testing.T, id string) api.Enabler {
	t.Helper()
	var e api.Enabler
	eventually(t, 3*time.Minute, func() error {
		var err error
		e, err = s.h.client.GetEnabler(context.Background(), id)
		if err != nil {
			return err
		}
		if e.Status == api.EnablerInstalling {
			return fmt.Errorf("enabler %s still installing", e.Name)
		}
		return nil
	})
	return e
}

func (s *suite) enablerPolicies(t *testing.T) {
	s.addRepo(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		policy   string
		replicas int
		cloud    bool
		want     string
		wantMax  map[string]int
	}{
		{"worst-fit", "worst-fit", 2, false, "edge-a", map[string]int{"edge-a": 6, "edge-b": 5, "cloud": 32}},
		{"best-fit", "best-fit", 2, false, "edge-b", map[string]int{"edge-a": 6, "edge-b": 5, "cloud": 32}},
		{"best-fit too big for edge-b", "best-fit", 6, false, "edge-a", map[string]int{"edge-a": 6, "edge-b": 5, "cloud": 32}},
		{"most-traffic", "most-traffic", 2, false, "edge-b", map[string]int{"edge-a": 6, "edge-b": 5, "cloud": 32}},
		{"traffic-most with the cloud", "traffic-most", 2, true, "cloud", map[string]int{"edge-a": 6, "edge-b": 5, "cloud": 32}},
		{"unschedulable without the cloud", "worst-fit", 7, false, "", map[string]int{"edge-a": 6, "edge-b": 5, "cloud": 32}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := webValues()
			vals["replicas"] = tt.replicas
			name := fmt.Sprintf("pol%d", i)
			posted := time.Now()
			e, err := s.h.client.InstallEnabler(ctx, api.EnablerRequest{Name: name, HelmChart: "test/web", Values: vals,
				Auto: true, PlacementPolicy: tt.policy, IncludeCloud: tt.cloud, Timeout: 120})
			if tt.want == "" {
				var ae *api.Error
				if !errors.As(err, &ae) || ae.Status != 422 || !strings.Contains(err.Error(), "max_replicas 6 < 7") {
					t.Fatalf("err = %v, want 422 explaining max_replicas", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := e.Placement
			if p == nil || p.Winner != tt.want || e.ClusterName != tt.want || p.Replicas != tt.replicas || p.Demand != (api.Resources{VCPUs: 0.5, MemoryMB: 512}) {
				t.Fatalf("placement %+v on %s, want %s", p, e.ClusterName, tt.want)
			}
			for _, v := range p.Clusters {
				if v.MaxReplicas != tt.wantMax[v.Cluster] || v.Won != (v.Cluster == tt.want) || v.Reason == "" {
					t.Errorf("verdict %+v, want max_replicas %d", v, tt.wantMax[v.Cluster])
				}
			}
			e = s.waitEnabler(t, e.ID)
			if e.Status != api.EnablerDeployed {
				t.Fatalf("enabler %s: %s %s", e.Name, e.Status, e.Message)
			}
			t.Logf("benchmark: POST /api/enabler/ to DEPLOYED (%d pods Ready) on %s: %v", tt.replicas, tt.want, time.Since(posted).Round(time.Millisecond))
			cs := s.cs[tt.want]
			pods, err := runningPods(ctx, cs, name, "app="+name+"-web")
			if err != nil || len(pods) != tt.replicas {
				t.Fatalf("%d running pods on %s (%v), want %d", len(pods), tt.want, err, tt.replicas)
			}
			if err := s.h.client.DeleteEnabler(ctx, e.ID); err != nil {
				t.Fatal(err)
			}
			waitNoPods(t, cs, name, "")
		})
	}
}

func (s *suite) enablerLifecycle(t *testing.T) {
	s.addRepo(t)
	ctx := context.Background()
	c := s.h.client
	e, err := c.InstallEnabler(ctx, api.EnablerRequest{Name: "web", HelmChart: "test/web", Version: "1.0.0", Cluster: "edge-a", Values: webValues()})
	if err != nil {
		t.Fatal(err)
	}
	if e = s.waitEnabler(t, e.ID); e.Status != api.EnablerDeployed || e.Version != "1.0.0" || e.Revision != 1 {
		t.Fatalf("install: %+v", e)
	}
	cs := s.cs["edge-a"]
	if list, _ := c.ClusterEnablers(ctx, "edge-a"); len(list) != 1 || list[0].Name != "web" {
		t.Fatalf("enablers of edge-a: %+v", list)
	}
	if list, _ := c.ClusterEnablers(ctx, "edge-b"); len(list) != 0 {
		t.Fatalf("enablers of edge-b: %+v", list)
	}
	// Upgrade: new chart version and one more replica.
	vals := webValues()
	vals["replicas"] = 3
	if _, err := c.UpgradeEnabler(ctx, e.ID, api.EnablerUpgrade{Version: "1.1.0", Values: vals}); err != nil {
		t.Fatal(err)
	}
	if e = s.waitEnabler(t, e.ID); e.Status != api.EnablerDeployed || e.Version != "1.1.0" || e.Revision != 2 {
		t.Fatalf("upgrade: %+v", e)
	}
	eventually(t, time.Minute, func() error {
		pods, err := runningPods(ctx, cs, "web", "app=web-web,chart-version=1.1.0")
		if err != nil || len(pods) != 3 {
			return fmt.Errorf("%d pods of 1.1.0 running (%v)", len(pods), err)
		}
		return nil
	})
	// Terminate: uninstalled, record kept.
	if e, err = c.TerminateEnabler(ctx, e.ID); err != nil || e.Status != api.EnablerTerminated {
		t.Fatalf("terminate: %+v, %v", e, err)
	}
	waitNoPods(t, cs, "web", "")
	if _, err := cs.AppsV1().Deployments("web").Get(ctx, "web-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deployment after terminate: %v", err)
	}
	if list, _ := c.ListEnablers(ctx); len(list) != 1 || list[0].Status != api.EnablerTerminated {
		t.Fatalf("enablers after terminate: %+v", list)
	}
	if err := c.DeleteEnabler(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := c.ListEnablers(ctx); len(list) != 0 {
		t.Fatalf("enablers after delete: %+v", list)
	}

	// PVC cleanup: the store chart's claim and volume survive terminate
	// (resource-policy keep) and go with DELETE /api/enabler/pv/{id}.
	st, err := c.InstallEnabler(ctx, api.EnablerRequest{Name: "db", HelmChart: "test/store", Cluster: "edge-b"})
	if err != nil {
		t.Fatal(err)
	}
	if st = s.waitEnabler(t, st.ID); st.Status != api.EnablerDeployed {
		t.Fatalf("store: %+v", st)
	}
	cb := s.cs["edge-b"]
	pvc, err := cb.CoreV1().PersistentVolumeClaims("db").Get(ctx, "db-data", metav1.GetOptions{})
	if err != nil || pvc.Status.Phase != corev1.ClaimBound {
		t.Fatalf("claim: %+v, %v", pvc, err)
	}
	if _, err := c.DeleteEnablerVolumes(ctx, st.ID); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("volumes of a deployed enabler: err = %v, want conflict", err)
	}
	if _, err := c.TerminateEnabler(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.CoreV1().PersistentVolumeClaims("db").Get(ctx, "db-data", metav1.GetOptions{}); err != nil {
		t.Fatalf("claim after terminate: %v", err)
	}
	names, err := c.DeleteEnablerVolumes(ctx, st.ID)
	if err != nil || !slices.Equal(names, []string{"db-data"}) {
		t.Fatalf("delete volumes: %v, %v", names, err)
	}
	eventually(t, time.Minute, func() error {
		if _, err := cb.CoreV1().PersistentVolumeClaims("db").Get(ctx, "db-data", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("claim still there: %v", err)
		}
		if _, err := cb.CoreV1().PersistentVolumes().Get(ctx, "db-pv", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("volume still there: %v", err)
		}
		return nil
	})
	if err := c.DeleteEnabler(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) enablerFailures(t *testing.T) {
	s.addRepo(t)
	ctx := context.Background()
	c := s.h.client
	_, err := c.InstallEnabler(ctx, api.EnablerRequest{Name: "broken", HelmChart: "test/broken", Cluster: "edge-a"})
	if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "broken on purpose") {
		t.Fatalf("broken chart: err = %v, want 400 with the template's message", err)
	}
	_, err = c.InstallEnabler(ctx, api.EnablerRequest{Name: "nochart", HelmChart: "test/nosuch", Cluster: "edge-a"})
	if !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("missing chart: err = %v", err)
	}
	_, err = c.InstallEnabler(ctx, api.EnablerRequest{Name: "x", HelmChart: "test/web", Auto: true, PlacementPolicy: "first-fit"})
	if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "first-fit") {
		t.Fatalf("unknown policy: err = %v", err)
	}
	e, err := c.InstallEnabler(ctx, api.EnablerRequest{Name: "bad", HelmChart: "test/badinstall", Cluster: "edge-a", Timeout: 60})
	if err != nil {
		t.Fatal(err)
	}
	e = s.waitEnabler(t, e.ID)
	if e.Status != api.EnablerFailed || !strings.Contains(e.Message, "not a valid key") && !strings.Contains(e.Message, "Invalid value") {
		t.Fatalf("bad install: %s %q", e.Status, e.Message)
	}
	// Nothing half-installed: neither the good ConfigMap nor the release.
	cs := s.cs["edge-a"]
	eventually(t, time.Minute, func() error {
		if _, err := cs.CoreV1().ConfigMaps("bad").Get(ctx, "bad-good", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("configmap bad-good left behind: %v", err)
		}
		sl, err := cs.CoreV1().Secrets("bad").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
		if err == nil && len(sl.Items) > 0 {
			return fmt.Errorf("helm release secret %s left behind", sl.Items[0].Name)
		}
		return nil
	})
	if err := c.DeleteEnabler(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
}
