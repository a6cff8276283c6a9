package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// etcdCluster starts a three-member etcd (Debian's etcd-server) on
// loopback and returns the members and the --store URL naming all three.
func etcdCluster(t *testing.T) ([]*exec.Cmd, string) {
	t.Helper()
	return startEtcd(t, nil)
}

// startEtcd starts one etcd member on each lab host, or three on loopback
// when hosts is nil, and returns the members and the --store URL.
func startEtcd(t *testing.T, hosts []*host) ([]*exec.Cmd, string) {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd not installed (Debian package etcd-server)")
	}
	type member struct {
		name, client, peer string
		wrap               []string
	}
	var ms []member
	var initial []string
	n := len(hosts)
	if hosts == nil {
		n = 3
	}
	for i := range n {
		m := member{name: fmt.Sprintf("m%d", i)}
		if hosts == nil {
			m.client, m.peer = freeAddr(t), freeAddr(t)
		} else {
			m.client, m.peer, m.wrap = hosts[i].addr(2379), hosts[i].addr(2380), []string{"ip", "netns", "exec", hosts[i].ns}
		}
		ms = append(ms, m)
		initial = append(initial, m.name+"=http://"+m.peer)
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	var clients []string
	for _, m := range ms {
		argv := append(append([]string{}, m.wrap...), bin, "--name", m.name, "--data-dir", filepath.Join(dir, m.name),
			"--listen-client-urls", "http://"+m.client, "--advertise-client-urls", "http://"+m.client,
			"--listen-peer-urls", "http://"+m.peer, "--initial-advertise-peer-urls", "http://"+m.peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--max-txn-ops", "10000", "--log-level", "error")
		cmd := exec.Command(argv[0], argv[1:]...)
		log, err := os.Create(filepath.Join(dir, m.name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start etcd %s: %v", m.name, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			log.Close()
		})
		cmds = append(cmds, cmd)
		clients = append(clients, m.client)
	}
	return cmds, "etcd://" + strings.Join(clients, ",")
}

// TestE2ERootReplicasOnEtcd runs two root replicas on a three-member etcd:
// one leads, the other stands by (and serves the API through the leader);
// killing the leader (SIGKILL) hands the API to the standby with every accepted write; one etcd member
// dying stops nothing; a leader that hangs past its lease is deposed and,
// when it wakes, stops instead of acting.
func TestE2ERootReplicasOnEtcd(t *testing.T) {
	ctx := context.Background()
	members, storeURL := etcdCluster(t)
	pw := randomPassword()
	env := []string{"HEDGE_ADMIN_PASSWORD=" + pw}
	dir := t.TempDir()
	replica := func(name string) (*proc, string) {
		addr := freeAddr(t)
		return startProc(t, name, env, "root", "--data-dir", filepath.Join(dir, name), "--api-addr", addr,
			"--store", storeURL, "--lease-ttl", "2s"), "https://" + addr
	}
	a, urlA := replica("rootA")
	waitHealthy(t, urlA, filepath.Join(dir, "rootA"))
	b, urlB := replica("rootB")
	eventually(t, 10*time.Second, "rootB to stand by", func() (bool, string) {
		return strings.Contains(b.output(), "standing by"), tail(b.output(), 300)
	})
	// The standby serves the API too, answering health for the leader
	// (TestE2ERootEveryReplicaServes covers what it serves).
	waitHealthy(t, urlB, filepath.Join(dir, "rootB"))

	c := login(t, urlA, pw)
	if _, err := c.CreateUser(ctx, "ann", "ann-password-1", "Application_Provider"); err != nil {
		t.Fatalf("create user: %v", err)
	}
	res, err := c.SubmitSLA(ctx, echoSLA("kept", 50), "application/json")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}

	// One etcd member down: a quorum of two remains, writes go on. The
	// member killed is etcd's own leader, the harder case, every run: the
	// election that follows (1 to 2 s here) can outlast the root's 2 s
	// lease. A replica that cannot renew its lease must stop acting; it
	// exits, and its supervisor (systemd's Restart=, a Deployment) starts
	// it again as a standby: the test does what the supervisor would.
	// Either way a write through the replicas soon succeeds again.
	m := members[etcdLeader(t, storeURL)]
	_ = m.Process.Kill()
	_ = m.Wait()
	both := urlA + "," + urlB
	trusted.Store(both, httpClient(t, urlA)) // the replicas share one CA
	cb := api.NewClient(both, api.WithHTTPClient(httpClient(t, both)))
	eventually(t, 30*time.Second, "a write with one etcd member down", func() (bool, string) {
		restartStopped(t, a, b)
		// Logging in writes too (a session), so it may fail during the
		// election as well.
		if _, err := cb.Login(ctx, "admin", pw); err != nil {
			return false, "login: " + err.Error()
		}
		_, err := cb.CreateUser(ctx, "bob", "bob-password-1", "Application_Provider")
		// A write answered late, after a replica's lease ended, may
		// already be there.
		return err == nil || errors.Is(err, api.ErrConflict), fmt.Sprint(err)
	})
	lead, standby, urlLead, urlStandby := a, b, urlA, urlB
	if leadingReplica(t, urlA, urlB) == urlB {
		lead, standby, urlLead, urlStandby = b, a, urlB, urlA
	}
	t.Logf("%s leads after etcd's leader member died", lead.name)
	eventually(t, 30*time.Second, standby.name+" to stand by", func() (bool, string) {
		restartStopped(t, standby)
		resp, err := httpClient(t, urlStandby).Get(urlStandby + "/api/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && resp.Header.Get("Hedge-Served-By") != "", resp.Status
	})

	lead.kill()
	killed := time.Now()
	eventually(t, 30*time.Second, standby.name+" to lead", func() (bool, string) {
		if restartStopped(t, standby) {
			t.Errorf("%s, standing by, stopped instead of taking over:\n%s", standby.name, tail(standby.output(), 2000))
		}
		return answersAsLeader(t, urlStandby), ""
	})
	t.Logf("standby leading %s after the leader was killed", time.Since(killed).Round(100*time.Millisecond))
	if pa, pb := readFile(t, rootCA(filepath.Join(dir, "rootA"))), readFile(t, rootCA(filepath.Join(dir, "rootB"))); pa != pb {
		t.Fatal("the replicas serve with different CAs: clusters pinned to one cannot follow a failover")
	}
	c = login(t, urlStandby, pw)
	if names := userNames(t, c); !contains(names, "ann") || !contains(names, "bob") {
		t.Fatalf("users on the new leader = %v; want ann and bob", names)
	}
	app, err := c.GetApplication(ctx, res.Applications[0].ID)
	if err != nil || app.Name != "kept" {
		t.Fatalf("application on the new leader = %+v, %v", app, err)
	}

	// A leader that hangs past its lease is deposed: the killed replica
	// comes back as a standby while the other leads; that one then hangs,
	// the first takes over, and the hung one, woken, stops rather than act
	// as a second leader.
	a, b, urlA = lead, standby, urlLead
	// Their logs may already say so from an earlier life (a restart above).
	stood, lost := strings.Count(a.output(), "standing by"), strings.Count(b.output(), "lost the leadership")
	a.start()
	eventually(t, 10*time.Second, a.name+" to stand by", func() (bool, string) {
		return strings.Count(a.output(), "standing by") > stood, tail(a.output(), 300)
	})
	_ = b.cmd.Process.Signal(syscall.SIGSTOP)
	waitHealthy(t, urlA, filepath.Join(dir, a.name))
	_ = b.cmd.Process.Signal(syscall.SIGCONT)
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case <-done:
		b.cmd = nil
	case <-time.After(15 * time.Second):
		t.Fatalf("the deposed leader did not stop after waking; its log:\n%s", tail(b.output(), 2000))
	}
	if strings.Count(b.output(), "lost the leadership") <= lost {
		t.Errorf("the deposed leader's log does not say why it stopped:\n%s", tail(b.output(), 2000))
	}
	c = login(t, urlA, pw)
	if _, err := c.CreateUser(ctx, "carl", "carl-password-1", "Application_Provider"); err != nil {
		t.Fatalf("write on the leader after the other was deposed: %v", err)
	}
}

// etcdLeader returns the index, in the --store URL storeURL, of the etcd
// member that leads, as its metrics say (etcd_server_is_leader).
func etcdLeader(t *testing.T, storeURL string) int {
	t.Helper()
	clients := strings.Split(strings.TrimPrefix(storeURL, "etcd://"), ",")
	lead := -1
	eventually(t, 10*time.Second, "an etcd member to lead", func() (bool, string) {
		for i, c := range clients {
			resp, err := http.Get("http://" + c + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "\netcd_server_is_leader 1\n") {
				lead = i
				return true, ""
			}
		}
		return false, "no member says etcd_server_is_leader 1"
	})
	return lead
}

// restartStopped starts again those of ps that have exited (a replica
// whose etcd lease ended stops), as their supervisor would, and reports
// whether it restarted any.
func restartStopped(t *testing.T, ps ...*proc) bool {
	t.Helper()
	restarted := false
	for _, p := range ps {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		// The third field of stat is the state: Z, exited and not yet
		// waited for.
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) == 0 || f[0] != "Z" {
			continue
		}
		t.Logf("%s stopped (%s); starting it again", p.name, lastLine(p.output()))
		p.kill() // waits for it
		p.start()
		restarted = true
	}
	return restarted
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// leadingReplica returns which of urls answers health as the leader
// itself (not forwarded by a standby), waiting until one does.
func leadingReplica(t *testing.T, urls ...string) string {
	t.Helper()
	var lead string
	eventually(t, 30*time.Second, "a replica to lead", func() (bool, string) {
		for _, u := range urls {
			if answersAsLeader(t, u) {
				lead = u
				return true, ""
			}
		}
		return false, "none answers health itself"
	})
	return lead
}

// answersAsLeader reports whether the replica at url answers health
// itself: a standby forwards it to the leader and says so.
func answersAsLeader(t *testing.T, url string) bool {
	t.Helper()
	resp, err := httpClient(t, url).Get(url + "/api/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && resp.Header.Get("Hedge-Served-By") == ""
}

// TestE2ERootMigrate moves a root's state from bbolt to etcd and back with
// `hedge root migrate`, and a root started on each copy serves it.
func TestE2ERootMigrate(t *testing.T) {
	ctx := context.Background()
	_, storeURL := etcdCluster(t)
	pw := randomPassword()
	env := []string{"HEDGE_ADMIN_PASSWORD=" + pw}
	dir := t.TempDir()
	serveFrom := func(name string, args ...string) (*proc, *api.Client) {
		addr := freeAddr(t)
		p := startProc(t, name, env, append([]string{"root", "--data-dir", filepath.Join(dir, name), "--api-addr", addr}, args...)...)
		waitHealthy(t, "https://"+addr, filepath.Join(dir, name))
		return p, login(t, "https://"+addr, pw)
	}
	migrate := func(from, to string) string {
		out, err := exec.Command(bin.hedge, "root", "migrate", "--from", from, "--to", to).CombinedOutput()
		if err != nil {
			t.Fatalf("hedge root migrate --from %s --to %s: %v\n%s", from, to, err, out)
		}
		return string(out)
	}
	check := func(c *api.Client, where string, appID string) {
		t.Helper()
		if names := userNames(t, c); !contains(names, "dora") {
			t.Fatalf("users on %s = %v; want dora", where, names)
		}
		if app, err := c.GetApplication(ctx, appID); err != nil || app.Name != "moved" {
			t.Fatalf("application on %s = %+v, %v", where, app, err)
		}
	}

	p, c := serveFrom("bolt1")
	if _, err := c.CreateUser(ctx, "dora", "dora-password-1", "Application_Provider"); err != nil {
		t.Fatal(err)
	}
	res, err := c.SubmitSLA(ctx, echoSLA("moved", 50), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	appID := res.Applications[0].ID
	p.stop()

	etcdStore := storeURL + "/migrated"
	out := migrate("bolt:"+filepath.Join(dir, "bolt1", "root", "state.db"), etcdStore)
	if !strings.Contains(out, "both hold the same bytes") {
		t.Fatalf("migrate said %q", out)
	}
	// A second migration into the same, now filled, store is refused.
	if o, err := exec.Command(bin.hedge, "root", "migrate", "--from", "bolt:"+filepath.Join(dir, "bolt1", "root", "state.db"), "--to", etcdStore).CombinedOutput(); err == nil || !strings.Contains(string(o), "not empty") {
		t.Fatalf("migrate into a non-empty store: %v\n%s", err, o)
	}
	p, c = serveFrom("onetcd", "--store", etcdStore)
	check(c, "etcd", appID)
	p.stop()

	migrate(etcdStore, "bolt:"+filepath.Join(dir, "bolt2", "root", "state.db"))
	_, c = serveFrom("bolt2")
	check(c, "bolt again", appID)
}

func userNames(t *testing.T, c *api.Client) []string {
	t.Helper()
	users, err := c.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	return names
}

// TestE2ERootFailoverUnderLoad kills the leading root (SIGKILL) while ten
// applications are being submitted and scaled to 200 instances in all, through
// a client, a cluster and a worker that know both replicas: the standby
// leads, every write that was answered is there, and in the end each of the
// 200 instances runs exactly once.
func TestE2ERootFailoverUnderLoad(t *testing.T) {
	ctx := context.Background()
	// Runs last, once the tiers are stopped: the 200 instances outlive
	// them, and the next tests count echo processes.
	killEchoesAtEnd(t)
	_, storeURL := etcdCluster(t)
	pw := randomPassword()
	env := []string{"HEDGE_ADMIN_PASSWORD=" + pw}
	dir := t.TempDir()
	addrA, addrB := freeAddr(t), freeAddr(t)
	roots := "https://" + addrA + ",https://" + addrB
	a := startProc(t, "rootA", env, "root", "--data-dir", filepath.Join(dir, "rootA"), "--api-addr", addrA, "--store", storeURL, "--lease-ttl", "2s")
	waitHealthy(t, "https://"+addrA, filepath.Join(dir, "rootA"))
	trusted.Store(roots, httpClient(t, "https://"+addrA)) // the replicas share one CA
	b := startProc(t, "rootB", env, "root", "--data-dir", filepath.Join(dir, "rootB"), "--api-addr", addrB, "--store", storeURL, "--lease-ttl", "2s")
	eventually(t, 10*time.Second, "rootB to stand by", func() (bool, string) {
		return strings.Contains(b.output(), "standing by"), tail(b.output(), 300)
	})
	c := login(t, roots, pw)
	ct, err := c.CreateToken(ctx, "cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := c.CreateToken(ctx, "worker", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clusterAddr := freeAddr(t)
	startProc(t, "cluster", nil, "cluster", "--data-dir", filepath.Join(dir, "cluster"), "--root", roots, "--join-token", ct.Token, "--listen", clusterAddr, "--name", "site1")
	startProc(t, "worker", nil, "worker", "--data-dir", filepath.Join(dir, "w1"), "--cluster", "https://"+clusterAddr,
		"--join-token", wt.Token, "--name", "w1", "--memory-mb", "8000", "--cpus", "200", "--heartbeat", "500ms")
	eventually(t, 30*time.Second, "the worker READY", func() (bool, string) {
		nodes, err := c.ListNodes(ctx)
		return err == nil && len(nodes) == 1 && nodes[0].State == api.NodeReady, fmt.Sprint(nodes, err)
	})

	const apps, each = 10, 20
	accepted := make(chan string, apps)
	var wg sync.WaitGroup
	for i := range apps {
		wg.Go(func() {
			name := fmt.Sprintf("load%d", i)
			id := submitOnce(t, c, name)
			accepted <- id
			for n := 5; n <= each; n += 5 {
				for {
					if _, err := c.Scale(ctx, id, n); err == nil {
						break
					}
					time.Sleep(200 * time.Millisecond) // the leader is changing
				}
			}
		})
	}
	for range 3 {
		<-accepted
	}
	a.kill()
	killed := time.Now()
	waitHealthy(t, "https://"+addrB, filepath.Join(dir, "rootB"))
	t.Logf("standby serving %s after the leader was killed under load", time.Since(killed).Round(100*time.Millisecond))
	wg.Wait()

	svcs, err := c.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != apps {
		t.Fatalf("%d services after the failover, want %d (one per application, none doubled)", len(svcs), apps)
	}
	eventually(t, 90*time.Second, "200 instances, each running exactly once", func() (bool, string) {
		all, err := c.ListServices(ctx)
		if err != nil {
			return false, err.Error()
		}
		var total []api.Instance
		for _, s := range all {
			for _, in := range s.Instances {
				if in.Status != api.StateRunning {
					return false, fmt.Sprintf("%s #%d %s", s.Name, in.Number, in.Status)
				}
			}
			if len(s.Instances) != each {
				return false, fmt.Sprintf("%s has %d instances", s.Name, len(s.Instances))
			}
			total = append(total, s.Instances...)
		}
		return converged(t, api.Service{Instances: total})
	})
}

// submitOnce submits the echo SLA named name until the root answers, and
// never twice: after an error it first looks whether the application exists.
func submitOnce(t *testing.T, c *api.Client, name string) string {
	ctx := context.Background()
	for {
		res, err := c.SubmitSLA(ctx, echoSLA(name, 10), "application/json")
		if err == nil {
			return res.Services[0].ID
		}
		time.Sleep(200 * time.Millisecond)
		svcs, lerr := c.ListServices(ctx)
		if lerr != nil {
			continue
		}
		for _, s := range svcs {
			if s.AppName == name {
				return s.ID
			}
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
