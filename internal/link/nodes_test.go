package link

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

func TestNodesDigestLeavesOutMetricsAndLastSeen(t *testing.T) {
	base := api.Node{ID: "n1", Name: "w1", State: api.NodeReady, Arch: "amd64", Runtimes: []string{"process"},
		Capacity: api.Resources{VCPUs: 4, MemoryMB: 8192}, Metrics: api.HostMetrics{CPUPercent: 3}, LastSeen: time.Unix(100, 0)}
	d0 := NodesDigest([]api.Node{base})
	tests := []struct {
		name   string
		change func(*api.Node)
		same   bool
	}{
		{name: "metrics", change: func(n *api.Node) { n.Metrics.CPUPercent, n.Metrics.MemoryFreeMB = 80, 12 }, same: true},
		{name: "last seen", change: func(n *api.Node) { n.LastSeen = n.LastSeen.Add(time.Second) }, same: true},
		{name: "state", change: func(n *api.Node) { n.State = api.NodeNotReady }},
		{name: "capacity", change: func(n *api.Node) { n.Capacity.VCPUs = 8 }},
		{name: "labels", change: func(n *api.Node) { n.Labels = map[string]string{"zone": "a"} }},
		{name: "pressure", change: func(n *api.Node) { n.Pressure = "limited" }},
		{name: "instances", change: func(n *api.Node) { n.Instances = 1 }},
		{name: "cordoned", change: func(n *api.Node) { n.Cordoned = true }},
		{name: "tunnel", change: func(n *api.Node) { n.TunnelEndpoint = "192.0.2.1:51820" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := base
			tt.change(&n)
			if got := NodesDigest([]api.Node{n}) == d0; got != tt.same {
				t.Errorf("a change of %s keeps the digest: %v, want %v", tt.name, got, tt.same)
			}
		})
	}
	if NodesDigest(nil) == d0 || NodesDigest([]api.Node{base, base}) == d0 {
		t.Error("a different number of nodes has the same digest")
	}
}

func TestReportsOfUnchangedNodesCarryADigest(t *testing.T) {
	up := &recordingUpper{fuzzUpper: fuzzUpper{t}}
	hs := httptest.NewServer(NewServer(up, slog.New(slog.DiscardHandler)).Handler())
	defer hs.Close()
	c := NewClient(hs.URL, "p.secret", nil)
	ctx := context.Background()
	nodes := []api.Node{{ID: "n1", Name: "w1", State: api.NodeReady, Metrics: api.HostMetrics{CPUPercent: 3}}}
	cluster := func(nodes []api.Node, unchanged string) *Report {
		return &Report{Cluster: &ClusterReport{Name: "c", Nodes: nodes, NodesUnchanged: unchanged}}
	}

	ack, err := c.reportAcks(ctx, cluster(nodes, ""))
	if err != nil || ack.nodes != NodesDigest(nodes) {
		t.Fatalf("full report: nodes ack %q, err %v; want the nodes' digest %q", ack.nodes, err, NodesDigest(nodes))
	}
	if _, err := c.reportAcks(ctx, cluster(nil, ack.nodes)); err != nil {
		t.Fatalf("report of unchanged nodes: %v", err)
	}
	if _, err := c.reportAcks(ctx, cluster(nil, "0.1")); !errors.Is(err, ErrStale) {
		t.Errorf("report of unchanged nodes under another digest: %v, want ErrStale", err)
	}
	if _, err := c.reportAcks(ctx, cluster(nodes, ack.nodes)); !errors.Is(err, ErrInvalid) {
		t.Errorf("report with both nodes and their digest: %v, want ErrInvalid", err)
	}
	hs2 := httptest.NewServer(NewServer(up, slog.New(slog.DiscardHandler)).Handler())
	defer hs2.Close()
	if _, err := NewClient(hs2.URL, "p.secret", nil).reportAcks(ctx, cluster(nil, ack.nodes)); !errors.Is(err, ErrStale) {
		t.Errorf("report of unchanged nodes to a restarted upper tier: %v, want ErrStale", err)
	}

	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.reports) != 2 {
		t.Fatalf("the upper tier took %d reports, want 2 (the full one and the unchanged one)", len(up.reports))
	}
	if got := up.reports[1].Cluster.Nodes; !reflect.DeepEqual(got, nodes) {
		t.Errorf("the report of unchanged nodes reached the upper tier with %+v, want %+v", got, nodes)
	}
}

// clusterPeer reports one node whose metrics move at every snapshot, and
// whose state is NOT_READY from snapshot notReadyAt on.
type clusterPeer struct {
	steadyPeer
	notReadyAt int

	mu sync.Mutex
	n  int
}

func (p *clusterPeer) Snapshot(context.Context) *Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	n := api.Node{ID: "n1", Name: "w1", State: api.NodeReady, Metrics: api.HostMetrics{CPUPercent: float64(p.n)}}
	if p.notReadyAt > 0 && p.n >= p.notReadyAt {
		n.State = api.NodeNotReady
	}
	return &Report{Cluster: &ClusterReport{Name: "c", Nodes: []api.Node{n}}, Instances: []InstanceStatus{}}
}

func TestRunSendsNodesInFullOnlyWhenMoreThanMetricsChanged(t *testing.T) {
	tests := []struct {
		name       string
		nodesEvery time.Duration
		notReadyAt int
		// full reports which bodies carry the nodes in full
		full func(i int) bool
	}{
		{name: "only metrics change", nodesEvery: time.Hour, full: func(i int) bool { return i == 0 }},
		{name: "a node becomes NOT_READY", nodesEvery: time.Hour, notReadyAt: 4, full: func(i int) bool { return i == 0 || i == 3 }},
		{name: "full nodes due every time", nodesEvery: time.Nanosecond, full: func(int) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &recordingUpper{fuzzUpper: fuzzUpper{t}}
			rec := &bodyRecorder{h: NewServer(up, slog.New(slog.DiscardHandler)).Handler()}
			hs := httptest.NewServer(rec)
			defer hs.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				Run(ctx, NewClient(hs.URL, "p.secret", nil), &clusterPeer{notReadyAt: tt.notReadyAt}, RunOptions{
					ReportInterval: 10 * time.Millisecond, PollWait: 10 * time.Millisecond, NodesEvery: tt.nodesEvery,
				})
			}()
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				rec.mu.Lock()
				got := len(rec.bodies)
				rec.mu.Unlock()
				if got >= 6 {
					break
				}
			}
			cancel()
			<-done
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.bodies) < 6 {
				t.Fatalf("%d reports sent, want at least 6", len(rec.bodies))
			}
			for i, b := range rec.bodies[:6] {
				full := len(b.Cluster.Nodes) == 1 && b.Cluster.NodesUnchanged == ""
				short := len(b.Cluster.Nodes) == 0 && b.Cluster.NodesUnchanged != ""
				if want := tt.full(i); full != want || (!want && !short) {
					t.Errorf("report %d: %d nodes, nodes_unchanged %q; want in full: %v", i, len(b.Cluster.Nodes), b.Cluster.NodesUnchanged, want)
				}
			}
			up.mu.Lock()
			defer up.mu.Unlock()
			for i, r := range up.reports {
				if len(r.Cluster.Nodes) != 1 {
					t.Errorf("report %d reached the upper tier with %d nodes, want 1", i, len(r.Cluster.Nodes))
				}
			}
		})
	}
}
