package kube

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hedgeorch/hedge/api"
)

// TestCheckStatusUnit checks that an API server that cannot be reached, or
// that refuses the credentials, puts the cluster in Error with the reason.
// (Enabled and Degraded are checked against real API servers in test/kube.)
func TestCheckStatusUnit(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`))
	}))
	defer refusing.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	tests := []struct {
		name, host, want string
	}{
		{"credentials refused", refusing.URL, "credentials refused"},
		{"unreachable", gone.URL, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := kubernetes.NewForConfig(&rest.Config{Host: tt.host, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			m := &Manager{cfg: Config{Now: time.Now}, log: slog.New(slog.DiscardHandler)}
			c := &kcluster{rec: clusterRecord{ID: "c1", Name: "edge"}, cs: cs, status: api.KubeCluster{Status: api.KubePending}}
			c.peer = newWorkloads(c, m.log)
			got := m.check(context.Background(), c)
			if got.Status != api.KubeError || !strings.HasPrefix(got.Reason, tt.want) {
				t.Fatalf("status %s (%s), want Error: %s...", got.Status, got.Reason, tt.want)
			}
		})
	}
}
