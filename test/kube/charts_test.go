package kube_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// Test charts. "web" is a Deployment whose replicas and requests come from
// values; 1.1.0 also labels its pods with the chart version. "store" keeps
// a PersistentVolume and a claim bound to it (both kept on uninstall, as
// charts of databases do). "broken" does not render; "badinstall" renders
// but the API server rejects its second object.
const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}-web}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web, chart-version: {{ .Chart.Version | quote }}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
        resources: {requests: {cpu: {{ .Values.cpu | quote }}, memory: {{ .Values.memory | quote }}}}
`

const storeObjects = `apiVersion: v1
kind: PersistentVolume
metadata:
  name: {{ .Release.Name }}-pv
  annotations: {helm.sh/resource-policy: keep}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /tmp/{{ .Release.Name }}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .Release.Name }}-data
  annotations: {helm.sh/resource-policy: keep}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  volumeName: {{ .Release.Name }}-pv
  resources: {requests: {storage: 1Gi}}
`

const badObjects = `apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-good}
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-bad}
data: {"not a valid key!": x}
`

func webValues() map[string]any {
	return map[string]any{"replicas": 2, "cpu": "500m", "memory": "512Mi", "image": "registry.invalid/web:1"}
}

func testCharts() []*chart.Chart {
	mk := func(name, version, tmpl string, values map[string]any) *chart.Chart {
		return &chart.Chart{
			Metadata:  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version, AppVersion: "1", Description: name + " test chart"},
			Templates: []*chart.File{{Name: "templates/objects.yaml", Data: []byte(tmpl)}},
			Values:    values,
		}
	}
	return []*chart.Chart{
		mk("web", "1.0.0", webDeployment, webValues()),
		mk("web", "1.1.0", webDeployment, webValues()),
		mk("store", "1.0.0", storeObjects, nil),
		mk("broken", "1.0.0", `{{ fail "broken on purpose" }}`, nil),
		mk("badinstall", "1.0.0", badObjects, nil),
	}
}

// chartRepo serves the test charts and their index.yaml, behind basic auth
// when user is set.
func chartRepo(t *testing.T, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	idx := repo.NewIndexFile()
	var srv *httptest.Server
	h := http.FileServer(http.Dir(dir))
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); user != "" && (!ok || u != user || p != password) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	for _, ch := range testCharts() {
		path, err := chartutil.Save(ch, dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := idx.MustAdd(ch.Metadata, filepath.Base(path), "", "sha256:0"); err != nil {
			t.Fatal(err)
		}
	}
	idx.SortEntries()
	b, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}
