package root

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
)

// These tests are the attacks on peer identity of issue 12, made over the
// root's real HTTP link and API: a takeover by name, reused, expired and
// revoked tokens, and deleted peers that keep talking.

// joinStatus joins over HTTP and returns the status of a refusal (0 on
// success) and the answer's text.
func (h *harness) joinStatus(token, name string) (int, string) {
	h.t.Helper()
	_, err := link.Join(h.ctx, h.hc, h.srv.URL, link.JoinRequest{Token: token, Name: name})
	var se *link.StatusError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &se):
		return se.Code, se.Body
	}
	h.t.Fatalf("join %s: %v", name, err)
	return 0, ""
}

func TestPeersClusterTakeoverByNameIsRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	edge := h.joinCluster("edge-a")
	edge.report(aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096}))

	tok, err := h.auth.CreateJoinToken(auth.JoinKindCluster, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code, body := h.joinStatus(tok, "edge-a")
	if code != http.StatusConflict || !strings.Contains(body, "edge-a") {
		t.Fatalf("join as the live edge-a: %d %q, want 409 naming edge-a", code, body)
	}
	// The real cluster is not cut off.
	edge.report(aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096}))
	if cls := h.root.Clusters(false); len(cls) != 1 || cls[0].ID != edge.id {
		t.Fatalf("clusters after the refused takeover: %+v, want only edge-a with id %s", cls, edge.id)
	}
	// Without a valid token nobody learns whether a name is taken.
	if code, _ := h.joinStatus("hedge-cluster-guess", "edge-a"); code != http.StatusUnauthorized {
		t.Errorf("join as edge-a with a made-up token: %d, want 401", code)
	}

	// Once edge-a is silent past the timeout, its name may be joined again,
	// as a new cluster: the dead one's credential stops working and its id
	// is not reused.
	h.clock.Advance(10 * time.Second)
	h.root.checkClusters()
	resp, err := link.Join(h.ctx, h.hc, h.srv.URL, link.JoinRequest{Token: tok, Name: "edge-a"})
	if err != nil {
		t.Fatalf("join as the dead edge-a: %v", err)
	}
	if resp.ID == edge.id {
		t.Errorf("the new edge-a got the dead one's id %s", edge.id)
	}
	err = edge.link.Report(h.ctx, &link.Report{Cluster: &link.ClusterReport{Name: "edge-a"}, Instances: []link.InstanceStatus{}})
	if !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("the dead edge-a's credential: %v, want 401", err)
	}
}

func TestPeersSingleUseClusterToken(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok, info, err := h.auth.IssueJoinToken(auth.JoinTokenSpec{Kind: auth.JoinKindCluster, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := info.ExpiresAt.Sub(info.CreatedAt); got != 24*time.Hour {
		t.Errorf("default ttl %s, want 24h", got)
	}
	if code, body := h.joinStatus(tok, "first"); code != 0 {
		t.Fatalf("first join with a single-use token: %d %s", code, body)
	}
	if code, body := h.joinStatus(tok, "second"); code != http.StatusUnauthorized || !strings.Contains(body, "used up") {
		t.Fatalf("second join with a single-use token: %d %q, want 401 used up", code, body)
	}
	if n := len(h.root.Clusters(false)); n != 1 {
		t.Errorf("%d clusters, want 1", n)
	}
}

// TestPeersWorkerTokensAreCheckedAtTheRoot: what a cluster learns when it
// asks about a worker token, over its real link credential.
func TestPeersWorkerTokensAreCheckedAtTheRoot(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	admin, _ := h.login(auth.AdminUser, adminPassword)
	edge := h.joinCluster("edge-a")
	other := h.joinCluster("edge-b")
	check := func(fc *fakeCluster, tok string, use bool) error {
		return fc.link.CheckWorkerToken(h.ctx, link.TokenCheck{Token: tok, Name: "w", Use: use})
	}

	twice, err := admin.IssueToken(h.ctx, api.CreateTokenRequest{Kind: "worker", MaxUses: 2, TTLSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := check(edge, twice.Token, false); err != nil {
			t.Fatalf("check before use %d: %v", i+1, err)
		}
		if err := check(edge, twice.Token, true); err != nil {
			t.Fatalf("use %d of 2: %v", i+1, err)
		}
	}
	if err := check(other, twice.Token, true); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("third use of a two-use token, at another cluster: %v, want 401", err)
	}

	scoped, err := admin.IssueToken(h.ctx, api.CreateTokenRequest{Kind: "worker", Cluster: "edge-a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := check(other, scoped.Token, false); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("a token for edge-a at edge-b: %v, want 401", err)
	}
	if err := check(edge, scoped.Token, true); err != nil {
		t.Errorf("a token for edge-a at edge-a: %v", err)
	}

	// Expiry holds at once: there is no copy at the clusters to go stale.
	short, err := admin.IssueToken(h.ctx, api.CreateTokenRequest{Kind: "worker", TTLSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if err := check(edge, short.Token, false); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	h.clock.Advance(time.Minute)
	if err := check(edge, short.Token, false); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("an expired token: %v, want 401", err)
	}

	// Revocation too; listings never show a secret.
	long, err := admin.IssueToken(h.ctx, api.CreateTokenRequest{Kind: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := admin.ListTokens(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed *api.JoinToken
	for i, jt := range list {
		if jt.Token != "" {
			t.Errorf("token %s listed with its secret", jt.ID)
		}
		if jt.ID == long.ID {
			listed = &list[i]
		}
		if jt.ID == short.ID {
			t.Errorf("expired token %s still listed", jt.ID)
		}
	}
	if listed == nil || listed.Kind != "worker" || listed.Uses != 0 || !listed.ExpiresAt.Equal(long.ExpiresAt) {
		t.Fatalf("the new token in the list: %+v (list %+v)", listed, list)
	}
	if err := admin.RevokeToken(h.ctx, long.ID); err != nil {
		t.Fatal(err)
	}
	if err := check(edge, long.Token, false); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("a revoked token: %v, want 401", err)
	}
	if err := admin.RevokeToken(h.ctx, long.ID); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("revoking twice: %v, want 404", err)
	}

	// A deleted cluster cannot ask any more.
	if _, err := admin.IssueToken(h.ctx, api.CreateTokenRequest{Kind: "worker"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteCluster(h.ctx, "edge-b"); err != nil {
		t.Fatal(err)
	}
	if err := check(other, scoped.Token, false); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("a deleted cluster asking: %v, want 401", err)
	}
}

// TestPeersDeleteClusterRevokesAndMovesInstances: a deleted cluster's next
// request gets 401, its open long-poll finds an empty set, and its
// instances run on the other cluster.
func TestPeersDeleteClusterRevokesAndMovesInstances(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	admin, _ := h.login(auth.AdminUser, adminPassword)
	h.addUser("alice")
	alice, _ := h.login("alice", userPassword)
	a := h.joinCluster("edge-a")
	a.report(aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096}))
	res := h.submit(alice, slaDoc(t, "shop", svc("web", 100)))
	sid := res.Services[0].ID
	s := h.waitService(alice, sid, "SCHEDULED", allInState(1, api.StateScheduled))
	id := s.Instances[0].ID
	a.waitAssignments("the instance", hasInstances(id))
	b := h.joinCluster("edge-b")
	b.report(aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096}))

	// edge-a's long-poll, open (or about to be) when the deletion comes,
	// learns of it: an empty set, or 401 if it arrives after. Never the
	// instance it had.
	rev := a.assignments().Revision
	type poll struct {
		a   *link.Assignments
		err error
	}
	polled := make(chan poll, 1)
	go func() {
		got, err := a.link.Assignments(h.ctx, rev, 5*time.Second)
		polled <- poll{got, err}
	}()
	if err := admin.DeleteCluster(h.ctx, "edge-a"); err != nil {
		t.Fatal(err)
	}
	if got := <-polled; !errors.Is(got.err, link.ErrUnauthorized) && (got.err != nil || len(got.a.Items) != 0) {
		t.Errorf("edge-a's long-poll got %+v, %v; want an empty set or 401", got.a, got.err)
	}
	err := a.link.Report(h.ctx, &link.Report{Cluster: &link.ClusterReport{Name: "edge-a"}, Instances: []link.InstanceStatus{}})
	if !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("edge-a reports after its deletion: %v, want 401", err)
	}
	moved := b.waitAssignments("edge-a's instance", hasInstances(id))
	b.report(aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096}), running(id, moved.Items[0].Generation, "wb"))
	h.waitService(alice, sid, "RUNNING on edge-b", func(s api.Service) bool {
		return allInState(1, api.StateRunning)(s) && s.Instances[0].ClusterName == "edge-b"
	})
	if cls := h.root.Clusters(false); len(cls) != 1 || cls[0].Name != "edge-b" {
		t.Errorf("clusters after the deletion: %+v, want only edge-b", cls)
	}
}

// TestPeersDeleteNodeSendsTheOrderToItsCluster: the node leaves the
// listings at once, its cluster gets the order with its desired set, and
// the order is dropped once the cluster's report shows it carried out.
func TestPeersDeleteNodeSendsTheOrderToItsCluster(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	admin, _ := h.login(auth.AdminUser, adminPassword)
	edge := h.joinCluster("edge-a")
	nodes := []api.Node{
		{ID: "w1-id", Name: "w1", State: api.NodeReady},
		{ID: "w2-id", Name: "w2", State: api.NodeReady},
	}
	report := func(ns []api.Node) {
		t.Helper()
		rep := &link.Report{Cluster: &link.ClusterReport{Name: "edge-a", Aggregate: aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096}), Nodes: ns}, Instances: []link.InstanceStatus{}}
		if err := edge.link.Report(h.ctx, rep); err != nil {
			t.Fatal(err)
		}
	}
	report(nodes)
	rev := edge.assignments().Revision
	if err := admin.DeleteNode(h.ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	edge.waitAssignments("the order to delete w1", func(a *link.Assignments) bool {
		return a.Revision != rev && a.Nodes["w1-id"].Deleted
	})
	listed := func() []string {
		ns, err := admin.ListNodes(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return nodeNames(ns)
	}
	if got := listed(); strings.Join(got, ",") != "w2" {
		t.Errorf("nodes after deleting w1: %v, want [w2]", got)
	}
	report(nodes) // a report taken before the cluster carried it out
	if got := listed(); strings.Join(got, ",") != "w2" {
		t.Errorf("nodes after a stale report: %v, want [w2]", got)
	}
	if !edge.assignments().Nodes["w1-id"].Deleted {
		t.Fatal("the order was dropped before the cluster carried it out")
	}
	report(nodes[1:])
	if _, ok := edge.assignments().Nodes["w1-id"]; ok {
		t.Error("the order is still sent after the cluster's report shows w1 gone")
	}
}

func nodeNames(ns []api.Node) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

// FuzzAPICreateToken: any body to POST /api/tokens/ gets 200 with a token
// within the bounds, or a 4xx; never a 5xx.
func FuzzAPICreateToken(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"worker"}`, `{"kind":"cluster","max_uses":1}`, `{"kind":"worker","ttl_seconds":60,"max_uses":3,"cluster":"edge"}`,
		`{"kind":"worker","ttl_seconds":-5}`, `{"kind":"worker","ttl_seconds":99999999999999999999}`, `{"kind":"worker","max_uses":1e9}`,
		`{"kind":"worker","max_uses":-1}`, `{"kind":"cluster","cluster":"x"}`, `{"kind":"worker","cluster":"a\u0000b"}`, `{}`, `[]`, `null`, `{"kind":`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		h := newHarness(t, harnessOptions{admin: true})
		_, tp := h.login(auth.AdminUser, adminPassword)
		status, got := h.do(http.MethodPost, "/api/tokens/", tp.Token, "application/json", []byte(body))
		switch {
		case status >= 500:
			t.Fatalf("POST /api/tokens/ %q: %d %s", body, status, got)
		case status == 200:
			var jt api.JoinToken
			if err := json.Unmarshal(got, &jt); err != nil {
				t.Fatalf("answer %s: %v", got, err)
			}
			if jt.Token == "" || jt.MaxUses < 0 || jt.MaxUses > auth.MaxJoinUses || jt.ExpiresAt.Sub(jt.CreatedAt) > auth.MaxJoinTTL {
				t.Fatalf("POST %q issued %+v, out of bounds", body, jt)
			}
		}
	})
}

// TestPeersKubernetesPeersAreNotDeletedHere: a Kubernetes cluster and its
// nodes are hedge-kube's; deleting them here is refused with the way to do
// it, and changes nothing.
func TestPeersKubernetesPeersAreNotDeletedHere(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	k := h.joinCluster("k8s-a")
	rep := &link.Report{Cluster: &link.ClusterReport{Name: "k8s-a", Aggregate: aggregate(api.Resources{VCPUs: 4, MemoryMB: 4096}),
		Nodes: []api.Node{{ID: "kn1", Name: "kn1", State: api.NodeReady}}}, Instances: []link.InstanceStatus{}}
	if err := k.link.Report(h.ctx, rep); err != nil {
		t.Fatal(err)
	}
	if err := h.root.setClusterLabels(k.id, map[string]string{api.KubeClusterKindLabel: api.KubeClusterKind}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.root.DeleteNode("kn1"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "kubectl") {
		t.Errorf("delete a Kubernetes node: %v, want ErrInvalid saying how", err)
	}
	if _, err := h.root.DeleteCluster("k8s-a"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "k8sclusters") {
		t.Errorf("delete a Kubernetes cluster: %v, want ErrInvalid saying how", err)
	}
	if err := k.link.Report(h.ctx, rep); err != nil {
		t.Errorf("the Kubernetes cluster's credential after the refused deletions: %v", err)
	}
	if ns := h.root.Nodes(); len(ns) != 1 {
		t.Errorf("nodes after the refused deletion: %+v", ns)
	}
}
