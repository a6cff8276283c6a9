package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// replicaSet is root replicas on one etcd, each known by its URL.
type replicaSet struct {
	t     *testing.T
	dir   string
	pw    string
	procs map[string]*proc
	urls  []string
}

func startReplicas(t *testing.T, storeURL string, n int) *replicaSet {
	t.Helper()
	rs := &replicaSet{t: t, dir: t.TempDir(), pw: randomPassword(), procs: map[string]*proc{}}
	for i := range n {
		name := fmt.Sprintf("root%c", 'A'+i)
		addr := freeAddr(t)
		url := "https://" + addr
		rs.procs[url] = startProc(t, name, []string{"HEDGE_ADMIN_PASSWORD=" + rs.pw}, "root", "--data-dir", filepath.Join(rs.dir, name),
			"--api-addr", addr, "--store", storeURL, "--lease-ttl", "2s")
		rs.urls = append(rs.urls, url)
		// The first leads and makes the CA the others share.
		waitHealthy(t, url, filepath.Join(rs.dir, name))
	}
	return rs
}

// leader is the URL of the replica that leads, as every replica says.
func (rs *replicaSet) leader(ctx context.Context) string {
	rs.t.Helper()
	for _, u := range rs.urls {
		if rs.procs[u].cmd == nil {
			continue
		}
		resp, _ := rs.get(ctx, u, "/api/health", "")
		if resp.StatusCode == http.StatusOK && resp.Header.Get("Hedge-Served-By") == "" {
			return u
		}
	}
	rs.t.Fatal("no replica answers as the leader")
	return ""
}

// get sends GET path to the replica at url, with token when set.
func (rs *replicaSet) get(ctx context.Context, url, path, token string) (*http.Response, string) {
	rs.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
	if err != nil {
		rs.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient(rs.t, url).Do(req)
	if err != nil {
		rs.t.Fatalf("GET %s%s: %v", url, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestE2ERootEveryReplicaServes runs three root replicas on a three-member
// etcd: a user logs in, reads and writes through each of them (a standby
// reads from its watched copy and forwards writes to the leader, which
// alone applies them), tier links are refused by standbys with a retry
// naming the leader, so a cluster given the standbys first links to the
// leader; then the leader is killed (SIGKILL), the two others go on serving
// reads and writes, and the cluster follows to the new leader.
func TestE2ERootEveryReplicaServes(t *testing.T) {
	ctx := context.Background()
	killEchoesAtEnd(t) // the application submitted through a standby runs on w1
	_, storeURL := etcdCluster(t)
	rs := startReplicas(t, storeURL, 3)
	lead := rs.leader(ctx)
	var standbys []string
	for _, u := range rs.urls {
		if u != lead {
			standbys = append(standbys, u)
		}
	}

	// Log in, write and read back through each replica.
	clients := map[string]*api.Client{}
	tokens := map[string]string{}
	for i, u := range rs.urls {
		tp, err := api.NewClient(u, api.WithHTTPClient(httpClient(t, u))).Login(ctx, "admin", rs.pw)
		if err != nil {
			t.Fatalf("login through %s: %v", u, err)
		}
		tokens[u] = tp.Token
		c := api.NewClient(u, api.WithToken(tp.Token), api.WithHTTPClient(httpClient(t, u)))
		clients[u] = c
		name := fmt.Sprintf("user%d", i)
		if _, err := c.CreateUser(ctx, name, name+"-password-1", "Application_Provider"); err != nil {
			t.Fatalf("create user through %s: %v", u, err)
		}
		// Read your write: the answer came once the copy held it.
		if names := userNames(t, c); !contains(names, name) {
			t.Fatalf("users read through %s right after creating %s there: %v", u, name, names)
		}
	}
	res, err := clients[standbys[0]].SubmitSLA(ctx, echoSLA("viastandby", 10), "application/json")
	if err != nil {
		t.Fatalf("submit through a standby: %v", err)
	}
	if app, err := clients[lead].GetApplication(ctx, res.Applications[0].ID); err != nil || app.Name != "viastandby" {
		t.Fatalf("the leader does not hold the application submitted through a standby: %+v, %v", app, err)
	}
	apps, err := clients[standbys[1]].ListApplications(ctx)
	if err != nil || len(apps) != 1 {
		t.Fatalf("applications read through the other standby = %d, %v; want exactly the one submitted", len(apps), err)
	}

	// Reads of stored state are answered by the standby's copy, and see a
	// write made through the leader within a short lag.
	var lags []time.Duration
	for i := range 10 {
		name := fmt.Sprintf("lag%d", i)
		if _, err := clients[lead].CreateUser(ctx, name, name+"-password-1", "Application_Provider"); err != nil {
			t.Fatal(err)
		}
		written := time.Now()
		for {
			resp, body := rs.get(ctx, standbys[0], "/api/users/", tokens[standbys[0]])
			if by := resp.Header.Get("Hedge-Served-By"); by != "standby-copy" {
				t.Fatalf("GET /api/users/ on a standby was served by %q; want its copy", by)
			}
			if strings.Contains(body, `"`+name+`"`) {
				break
			}
			if time.Since(written) > 5*time.Second {
				t.Fatalf("%s not read through a standby 5 s after it was written: %s %s", name, resp.Status, tail(body, 300))
			}
			time.Sleep(2 * time.Millisecond)
		}
		lags = append(lags, time.Since(written))
	}
	slices.Sort(lags)
	t.Logf("read-after-write lag on a standby (write answered by the leader until a standby's copy shows it): median %s, max %s", lags[len(lags)/2], lags[len(lags)-1])

	// Tier links: a standby applies nothing and names the leader.
	resp, body := rs.get(ctx, standbys[0], "/link/v1/assignments?rev=0&wait=1s", "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Hedge-Standby") != lead {
		t.Fatalf("link request on a standby = %s %q (Hedge-Standby %q); want 503 naming %s", resp.Status, body, resp.Header.Get("Hedge-Standby"), lead)
	}

	// A cluster given the standbys first joins and links to the leader,
	// moving past their refusals.
	ct, err := clients[lead].CreateToken(ctx, "cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := clients[lead].CreateToken(ctx, "worker", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clusterAddr := freeAddr(t)
	startProc(t, "cluster", nil, "cluster", "--data-dir", filepath.Join(rs.dir, "cluster"), "--root", strings.Join(append(slices.Clone(standbys), lead), ","),
		"--join-token", ct.Token, "--listen", clusterAddr, "--name", "site1")
	startProc(t, "worker", nil, "worker", "--data-dir", filepath.Join(rs.dir, "w1"), "--cluster", "https://"+clusterAddr,
		"--join-token", wt.Token, "--name", "w1", "--memory-mb", "500", "--heartbeat", "500ms")
	nodeReady := func(c *api.Client) func() (bool, string) {
		return func() (bool, string) {
			nodes, err := c.ListNodes(ctx)
			return err == nil && len(nodes) == 1 && nodes[0].State == api.NodeReady, fmt.Sprint(nodes, err)
		}
	}
	eventually(t, 30*time.Second, "w1 READY through a cluster given the standbys first", nodeReady(clients[standbys[0]]))

	// Kill the leader; the two others go on.
	rs.procs[lead].kill()
	killed := time.Now()
	c := clients[standbys[1]]
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.CreateUser(actx, "after", "after-password-1", "Application_Provider")
		cancel()
		if err == nil || errors.Is(err, api.ErrConflict) {
			break
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("no write through %s 30 s after the leader was killed: %v", standbys[1], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("write through a surviving replica %s after the leader was killed", time.Since(killed).Round(10*time.Millisecond))
	for _, u := range standbys {
		names := userNames(t, clients[u])
		for _, want := range []string{"user0", "user1", "user2", "lag9", "after"} {
			if !contains(names, want) {
				t.Fatalf("users read through %s after the failover = %v; want %s", u, names, want)
			}
		}
		if _, err := clients[u].Scale(ctx, res.Services[0].ID, 2); err != nil {
			t.Fatalf("scale through %s after the failover: %v", u, err)
		}
	}
	// The cluster follows to the new leader.
	eventually(t, 30*time.Second, "w1 READY at the new leader", nodeReady(c))
}
