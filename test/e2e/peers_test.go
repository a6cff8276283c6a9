package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/pki"
)

// These tests are the attacks on peer identity of issue 12, against real
// root, cluster and worker processes over real sockets.

// clusterLinkClient trusts the fleet's root CA for a cluster's listener,
// whose certificate names pki.ClusterName.
func (f *fleet) clusterLinkClient(t *testing.T) *http.Client {
	t.Helper()
	pool, err := readPool(rootCA(filepath.Join(f.dir, "root")))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: pki.ClusterName}}}
}

// secretOf is the part of a join token a peer sends (the rest is the CA pin).
func secretOf(t *testing.T, token string) string {
	t.Helper()
	_, secret, err := pki.SplitToken(token)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// linkPost sends a link request to a tier and returns the status and body.
func linkPost(t *testing.T, hc *http.Client, url, bearer string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// TestPeersJoinTokensAtACluster: a worker join token is checked at the root
// for each join at a cluster, so single use, expiry and revocation hold at
// once, and no join takes over a live worker's name.
func TestPeersJoinTokensAtACluster(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1"}}, fleetOptions{})
	ctx := context.Background()
	join := "https://" + f.hosts["site1"].addr(10100) + "/link/v1/join"
	hc := f.clusterLinkClient(t)
	newToken := func(req api.CreateTokenRequest) api.JoinToken {
		t.Helper()
		req.Kind = "worker"
		jt, err := f.c.IssueToken(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return jt
	}

	// Takeover by name: refused while w1 is alive, and w1 stays READY.
	fresh := newToken(api.CreateTokenRequest{})
	if code, body := linkPost(t, hc, join, "", map[string]string{"token": secretOf(t, fresh.Token), "name": "w1"}); code != http.StatusConflict || !strings.Contains(body, "w1") {
		t.Errorf("join as the live w1: %d %q, want 409 naming w1", code, body)
	}

	once := newToken(api.CreateTokenRequest{MaxUses: 1})
	if code, body := linkPost(t, hc, join, "", map[string]string{"token": secretOf(t, once.Token), "name": "extra1"}); code != http.StatusOK {
		t.Fatalf("first join with a single-use token: %d %s", code, body)
	}
	if code, body := linkPost(t, hc, join, "", map[string]string{"token": secretOf(t, once.Token), "name": "extra2"}); code != http.StatusUnauthorized {
		t.Errorf("second join with a single-use token: %d %s, want 401", code, body)
	}

	short := newToken(api.CreateTokenRequest{TTLSeconds: 1})
	time.Sleep(1100 * time.Millisecond) // let it expire (setup, not a measure)
	if code, body := linkPost(t, hc, join, "", map[string]string{"token": secretOf(t, short.Token), "name": "extra3"}); code != http.StatusUnauthorized {
		t.Errorf("join with a token that expired a moment ago: %d %s, want 401", code, body)
	}

	revoked := newToken(api.CreateTokenRequest{})
	if err := f.c.RevokeToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if code, body := linkPost(t, hc, join, "", map[string]string{"token": secretOf(t, revoked.Token), "name": "extra4"}); code != http.StatusUnauthorized {
		t.Errorf("join with a revoked token: %d %s, want 401", code, body)
	}

	scoped := newToken(api.CreateTokenRequest{Cluster: "elsewhere"})
	if code, body := linkPost(t, hc, join, "", map[string]string{"token": secretOf(t, scoped.Token), "name": "extra5"}); code != http.StatusUnauthorized {
		t.Errorf("join with a token for another cluster: %d %s, want 401", code, body)
	}

	list, err := f.c.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, jt := range list {
		if jt.Token != "" {
			t.Errorf("token %s listed with its secret", jt.ID)
		}
		if jt.ID == once.ID && jt.Uses != 1 {
			t.Errorf("the single-use token lists %d uses, want 1", jt.Uses)
		}
	}
	ns, err := f.c.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.Name == "w1" && n.State != api.NodeReady {
			t.Errorf("w1 is %s after the attempted takeover, want READY", n.State)
		}
	}
}

// TestPeersNodeDelete: `hedge node delete`'s API call revokes the worker's
// credential (its requests get 401), and its instances run on the other
// worker, exactly once: the deleted worker stopped its copies.
func TestPeersNodeDelete(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1", "w2"}}, fleetOptions{})
	s := f.deploy(2)
	victim := s.Instances[0].NodeName
	ctx := context.Background()
	if err := f.c.DeleteNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	s, took := f.waitConverged(s.ID, 2, victim)
	t.Logf("node delete: instances running only on the other worker %.1f s after the deletion", took.Seconds())

	b, err := os.ReadFile(filepath.Join(f.dir, victim, "worker", "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var id struct{ Credential string }
	if err := json.Unmarshal(b, &id); err != nil || id.Credential == "" {
		t.Fatalf("identity of %s: %v", victim, err)
	}
	report := "https://" + f.hosts["site1"].addr(10100) + "/link/v1/report"
	rep := map[string]any{"node": map[string]any{"name": victim}, "instances": []any{}}
	if code, body := linkPost(t, f.clusterLinkClient(t), report, id.Credential, rep); code != http.StatusUnauthorized {
		t.Errorf("the deleted worker's report: %d %s, want 401", code, body)
	}
	eventually(t, 30*time.Second, victim+" gone from the node list", func() (bool, string) {
		ns, err := f.c.ListNodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		return !contains(nodeNames(ns), victim), strings.Join(nodeNames(ns), ",")
	})
	if !strings.Contains(f.procs[victim].output(), "credential was revoked") {
		t.Errorf("the deleted worker's log does not say its credential was revoked:\n%s", tail(f.procs[victim].output(), 2000))
	}
	for _, in := range s.Instances {
		if in.NodeName == victim {
			t.Errorf("instance %d still on %s", in.Number, victim)
		}
	}
}

// TestPeersClusterDelete: deleting a cluster revokes its credential and its
// instances run on the other cluster, exactly once: the deleted cluster had
// its workers stop them.
func TestPeersClusterDelete(t *testing.T) {
	sites := map[string][]string{"site1": {"w1"}, "site2": {"w2"}}
	f := startFleet(t, sites, fleetOptions{})
	s := f.deploy(2)
	site := s.Instances[0].ClusterName
	if err := f.c.DeleteCluster(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	_, took := f.waitConverged(s.ID, 2, site)
	t.Logf("cluster delete: instances running only on the other cluster %.1f s after the deletion", took.Seconds())
	b, err := os.ReadFile(filepath.Join(f.dir, site, "cluster", "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var id struct{ Credential string }
	if err := json.Unmarshal(b, &id); err != nil || id.Credential == "" {
		t.Fatalf("identity of %s: %v", site, err)
	}
	rep := map[string]any{"cluster": map[string]any{"name": site}, "instances": []any{}}
	if code, body := linkPost(t, httpClient(t, f.url), f.url+"/link/v1/report", id.Credential, rep); code != http.StatusUnauthorized {
		t.Errorf("the deleted cluster's report: %d %s, want 401", code, body)
	}
	cls, err := f.c.ListClusters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cls {
		if c.Name == site {
			t.Errorf("the deleted cluster %s is still listed: %+v", site, c)
		}
	}
}

// identityOf reads the link credential a tier keeps in its data directory.
func identityOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var id struct{ Credential string }
	if err := json.Unmarshal(b, &id); err != nil || id.Credential == "" {
		t.Fatalf("identity %s: %v", path, err)
	}
	return id.Credential
}

// rootState is what the root holds that the user API changes, as an
// Admin reads it: users, applications, services and the audit log.
func (f *fleet) rootState(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	users, err := f.c.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := f.c.ListApplications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := f.c.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range svcs { // instance states move on their own
		svcs[i].Instances, svcs[i].Status = nil, ""
	}
	audit, err := f.c.Audit(ctx, api.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal([]any{users, apps, svcs, audit})
	return string(b)
}

// TestPeersLinkCredentialRefusedOnUserAPI is the attacker of issue 12 who
// took a worker's (or a cluster's) link credential from its data directory
// and presents it as a bearer token on the root's user API: every request
// is refused with 401, and the root's users, applications, services and
// audit log are as they were.
func TestPeersLinkCredentialRefusedOnUserAPI(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1"}}, fleetOptions{})
	s := f.deploy(1)
	creds := map[string]string{
		"worker":  identityOf(t, filepath.Join(f.dir, "w1", "worker", "identity.json")),
		"cluster": identityOf(t, filepath.Join(f.dir, "site1", "cluster", "identity.json")),
	}
	hc := httpClient(t, f.url)
	attacks := []struct {
		name, method, path, body string
	}{
		{"register a user", http.MethodPost, "/api/auth/register", `{"username":"mallory","password":"mallory-pw-1","roles":["Admin"]}`},
		{"create a user", http.MethodPost, "/api/user/", `{"username":"mallory2","password":"mallory-pw-1","roles":["Admin"]}`},
		{"list users", http.MethodGet, "/api/users/", ""},
		{"change admin's password", http.MethodPost, "/api/user/admin", `{"oldPassword":"x","newPassword":"mallory-pw-1"}`},
		{"raise a quota", http.MethodPut, "/api/user/admin/quota", `{"instances":1000000}`},
		{"delete the application", http.MethodDelete, "/api/application/" + s.ApplicationID, ""},
		{"read the audit log", http.MethodGet, "/api/audit", ""},
	}
	before := f.rootState(t)
	for who, cred := range creds {
		for _, a := range attacks {
			t.Run(who+"/"+a.name, func(t *testing.T) {
				var body io.Reader
				if a.body != "" {
					body = strings.NewReader(a.body)
				}
				req, err := http.NewRequest(a.method, f.url+a.path, body)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+cred)
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s with the %s's credential: %d %s, want 401", a.method, a.path, who, resp.StatusCode, out)
				}
			})
		}
	}
	if after := f.rootState(t); after != before {
		t.Errorf("refused requests changed the root:\nbefore %s\nafter  %s", before, after)
	}
}
