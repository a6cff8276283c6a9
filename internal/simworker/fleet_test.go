package simworker

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/cluster"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/pki"
	"github.com/hedgeorch/hedge/internal/store"
)

const secret = "hedge-worker-sim-secret"

// realCluster runs an in-process cluster that serves its link over TLS,
// with a certificate from a fresh CA for the cluster's name, as a cluster
// the root signed for. It returns the cluster, its URL and the CA's pin.
func realCluster(t *testing.T, ctx context.Context) (*cluster.Cluster, string, string) {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueLocal("hedge cluster", []string{pki.ClusterName})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.New(cluster.Config{Name: "sim", Store: store.NewMemory(), WorkerTokens: []string{secret}, Root: caRoot{ca}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(c.Handler().Handler())
	srv.TLS = pki.NewServing(cert).MutualConfig(ca.Pool())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, srv.URL, ca.Pin()
}

// caRoot stands for the root of realCluster: it signs the workers' client
// certificates with the CA, and knows no worker join tokens.
type caRoot struct{ ca *pki.CA }

func (r caRoot) CheckWorkerToken(context.Context, link.TokenCheck) error {
	return link.ErrUnauthorized
}

func (r caRoot) NodeCertificate(_ context.Context, nodeID string, csr []byte) ([]byte, error) {
	return r.ca.SignPeer(csr, pki.KindNode, nodeID, nil)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFleetJoinsReportsAndRunsWhatIsAssigned(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, url, pin := realCluster(t, ctx)

	f, err := Start(ctx, Config{Cluster: url, Token: pki.JoinToken(pin, secret), Prefix: "sim", Count: 3,
		Capacity: api.Resources{VCPUs: 2, MemoryMB: 2048}, StartDelay: 50 * time.Millisecond, ReportInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() { cancel(); f.Wait() }()

	// Every simulated worker is a node of its own, READY, as it reported.
	waitFor(t, "3 READY nodes", func() bool {
		ready := 0
		for _, n := range c.Snapshot(ctx).Cluster.Nodes {
			if n.State == api.NodeReady {
				ready++
			}
		}
		return ready == 3
	})
	nodes := c.Snapshot(ctx).Cluster.Nodes
	var names []string
	ids := map[string]bool{}
	for _, n := range nodes {
		names = append(names, n.Name)
		ids[n.ID] = true
		if n.Capacity.MemoryMB != 2048 || n.Metrics.MemoryTotalMB != 2048 || n.Labels["hedge.simulated"] != "true" {
			t.Errorf("node %s: capacity %+v, metrics %+v, labels %v; want what the simulator reports", n.Name, n.Capacity, n.Metrics, n.Labels)
		}
	}
	if want := []string{"sim-0", "sim-1", "sim-2"}; !slices.Equal(names, want) {
		t.Errorf("nodes %v, want %v", names, want)
	}
	if len(ids) != 3 {
		t.Errorf("the 3 workers got %d distinct identities, want 3", len(ids))
	}

	// The root assigns an instance to the cluster: it places it on a
	// simulated worker, which reports it RUNNING.
	spec := api.ServiceSpec{Name: "s", Virtualization: api.VirtProcess, Code: "/bin/sleep", MemoryMB: 4, VCPUs: 0.01}
	err = c.Apply(ctx, &link.Assignments{Revision: 1, Items: []link.Assignment{
		{InstanceID: "i-1", ServiceID: "svc", AppName: "app", Generation: 1, Spec: spec},
	}})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var got link.InstanceStatus
	waitFor(t, "instance i-1 RUNNING", func() bool {
		sts := c.Snapshot(ctx).Instances
		if len(sts) == 1 {
			got = sts[0]
		}
		return got.State == api.StateRunning
	})
	if !ids[got.NodeID] || got.StartedAt == nil {
		t.Errorf("RUNNING instance: node %q, started_at %v; want one of the simulated nodes and a start time", got.NodeID, got.StartedAt)
	}
}

func TestFleetRefusesAClusterThePinDoesNotName(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, url, _ := realCluster(t, ctx)
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(ctx, Config{Cluster: url, Token: pki.JoinToken(other.Pin(), secret), Count: 1})
	if !errors.Is(err, pki.ErrPin) {
		t.Fatalf("Start with another CA's pin: %v, want an error wrapping pki.ErrPin", err)
	}
}

func TestFleetStopsAtARefusedToken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, url, pin := realCluster(t, ctx)
	f, err := Start(ctx, Config{Cluster: url, Token: pki.JoinToken(pin, "not-the-secret"), Count: 2})
	if !errors.Is(err, link.ErrUnauthorized) {
		t.Fatalf("Start with a wrong secret: %v, want an error wrapping link.ErrUnauthorized", err)
	}
	cancel()
	f.Wait()
}

func TestConfigNamesTheBadField(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no cluster", Config{Token: "t", Count: 1}, "cluster: required"},
		{"plain http", Config{Cluster: "http://x:1", Token: "t", Count: 1}, "want https://"},
		{"no token", Config{Cluster: "https://x:1", Count: 1}, "token: required"},
		{"no workers", Config{Cluster: "https://x:1", Token: "t"}, "count 0"},
		{"token without pin", Config{Cluster: "https://x:1", Token: "t", Count: 1}, "CA pin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(context.Background(), tc.cfg)
			if !errors.Is(err, ErrConfig) || !contains(err.Error(), tc.want) {
				t.Errorf("Start: %v, want ErrConfig naming %q", err, tc.want)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
