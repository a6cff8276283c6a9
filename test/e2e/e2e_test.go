package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/pki"
)

// TestE2ESeparateProcesses runs root, one cluster and two workers as separate
// OS processes on loopback, deploys an HTTP server as a process service,
// scales it over both workers, crashes and restarts a worker, and deletes it.
func TestE2ESeparateProcesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pw := randomPassword()
	apiAddr := freeAddr(t)
	url := "https://" + apiAddr
	rootP := startProc(t, "root", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "root", "--data-dir", filepath.Join(dir, "root"), "--api-addr", apiAddr)
	waitHealthy(t, url, filepath.Join(dir, "root"))
	c := login(t, url, pw)

	// Nothing unauthenticated gets in: no API call, no join.
	if _, err := api.NewClient(url, api.WithHTTPClient(httpClient(t, url))).ListServices(ctx); err == nil {
		t.Fatal("unauthenticated API call succeeded")
	}
	// (It trusts the root's CA, so that the forged token is what is refused.)
	bad := startProc(t, "badcluster", nil, "cluster", "--data-dir", filepath.Join(dir, "bad"), "--root", url, "--join-token", "hedge-cluster-forged",
		"--ca-cert", rootCA(filepath.Join(dir, "root")), "--listen", freeAddr(t), "--name", "intruder")
	ct, err := c.CreateToken(ctx, "cluster", time.Hour)
	if err != nil {
		t.Fatalf("create cluster token: %v", err)
	}
	// A valid secret with the pin of another CA (as a man in the middle's
	// token would be, or the token of another root): the join is refused
	// before the secret is sent.
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := pki.SplitToken(ct.Token)
	if err != nil || ct.CAPin == "" || !strings.HasPrefix(ct.Token, ct.CAPin+"::") {
		t.Fatalf("cluster token %q does not carry the CA pin %q (%v)", ct.Token, ct.CAPin, err)
	}
	wrongPin := startProc(t, "wrongpin", nil, "cluster", "--data-dir", filepath.Join(dir, "wrongpin"), "--root", url,
		"--join-token", pki.JoinToken(other.Pin(), secret), "--listen", freeAddr(t), "--name", "mitm")
	checkTLS(t, url, filepath.Join(dir, "root"))
	clusterAddr := freeAddr(t)
	startProc(t, "cluster", nil, "cluster", "--data-dir", filepath.Join(dir, "cluster"), "--root", url, "--join-token", ct.Token, "--listen", clusterAddr, "--name", "site1")
	wt, err := c.CreateToken(ctx, "worker", time.Hour)
	if err != nil {
		t.Fatalf("create worker token: %v", err)
	}
	// Each worker offers room for two instances of 100 MB, so three spread.
	workerArgs := func(name string) []string {
		return []string{"worker", "--data-dir", filepath.Join(dir, name), "--cluster", "https://" + clusterAddr,
			"--join-token", wt.Token, "--name", name, "--memory-mb", "250", "--heartbeat", "500ms"}
	}
	startProc(t, "w1", nil, workerArgs("w1")...)
	w2 := startProc(t, "w2", nil, workerArgs("w2")...)
	// A worker told to trust another CA refuses the genuine cluster too: a
	// man in the middle with another CA looks the same to it.
	_, wsecret, err := pki.SplitToken(wt.Token)
	if err != nil {
		t.Fatal(err)
	}
	wrongPinWorker := startProc(t, "wrongpinworker", nil, "worker", "--data-dir", filepath.Join(dir, "wrongpinworker"), "--cluster", "https://"+clusterAddr,
		"--join-token", pki.JoinToken(other.Pin(), wsecret), "--name", "mitm-worker", "--metrics-addr", "")
	eventually(t, 30*time.Second, "two READY nodes", func() (bool, string) {
		nodes, err := c.ListNodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, n := range nodes {
			if n.State == api.NodeReady {
				ready++
			}
		}
		return ready == 2, strings.Join(nodeNames(nodes), ",")
	})
	if !strings.Contains(bad.output(), "unauthorized") && !strings.Contains(bad.output(), "401") {
		t.Errorf("cluster with a forged token was not refused; its log:\n%s", tail(bad.output(), 2000))
	}
	if !strings.Contains(wrongPin.output(), "CA does not match the pin") || strings.Contains(wrongPin.output(), "cluster joined root") {
		t.Errorf("cluster given the pin of another CA was not refused; its log:\n%s", tail(wrongPin.output(), 2000))
	}
	eventually(t, 15*time.Second, "the worker with the wrong pin to refuse the cluster", func() (bool, string) {
		out := wrongPinWorker.output()
		return strings.Contains(out, "CA does not match the pin"), tail(out, 1000)
	})
	if strings.Contains(wrongPinWorker.output(), "worker joined cluster") {
		t.Errorf("worker given the pin of another CA joined; its log:\n%s", tail(wrongPinWorker.output(), 2000))
	}
	// The cluster serves workers with a certificate the root's CA signed
	// for the cluster role, not for the root's.
	chain, err := os.ReadFile(filepath.Join(dir, "cluster", "cluster", "tls-cert.pem"))
	if err != nil {
		t.Fatalf("cluster certificate: %v", err)
	}
	leaf, err := pki.ParseCert(chain)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := readPool(rootCA(filepath.Join(dir, "root")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: pki.ClusterName}); err != nil {
		t.Errorf("cluster certificate does not verify against the root CA as %s: %v", pki.ClusterName, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: pki.RootName}); err == nil {
		t.Errorf("cluster certificate would pass as the root's")
	}
	checkTLS(t, "https://"+clusterAddr, filepath.Join(dir, "root"))
	clusters, err := c.ListActiveClusters(ctx)
	if err != nil || len(clusters) != 1 || clusters[0].Name != "site1" {
		t.Fatalf("active clusters = %+v, %v; want only site1", clusters, err)
	}
	if clusters[0].Capacity.MemoryMB != 500 || clusters[0].ActiveNodes != 2 {
		t.Errorf("site1 aggregate = %+v; want 500 MB over 2 nodes", clusters[0])
	}

	res, err := c.SubmitSLA(ctx, echoSLA("web", 100), "application/json")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	svcID := res.Services[0].ID
	s := waitRunning(t, c, svcID, 1)
	if got := answer(t, c, svcID, 0); !strings.Contains(got, "hello from "+s.Instances[0].ID) {
		t.Errorf("instance answered %q", got)
	}
	logs, err := c.Logs(ctx, svcID, 0, 4096)
	if err != nil || !strings.Contains(string(logs), "args [--flag value] greeting=hello") {
		t.Errorf("logs = %q, %v; want the instance's stderr with its args and env", logs, err)
	}

	if _, err := c.Scale(ctx, svcID, 3); err != nil {
		t.Fatalf("scale: %v", err)
	}
	s = waitRunning(t, c, svcID, 3)
	perNode := map[string]int{}
	for _, in := range s.Instances {
		perNode[in.NodeName]++
	}
	if len(perNode) != 2 {
		t.Fatalf("3 instances on nodes %v; want both workers used", perNode)
	}
	for n := range 3 {
		if got := answer(t, c, svcID, n); !strings.Contains(got, "hello") {
			t.Errorf("instance %d answered %q", n, got)
		}
	}
	if got := len(echoProcesses(t)); got != 3 {
		t.Fatalf("%d echo processes running; want 3", got)
	}

	// A worker crash and restart neither duplicates nor orphans instances:
	// the restarted worker re-attaches the processes it left running.
	before := pidsOn(s, "w2")
	w2.kill()
	if got := len(echoProcesses(t)); got != 3 {
		t.Fatalf("%d echo processes after the worker died; want its instances still running (3)", got)
	}
	w2.start()
	time.Sleep(2 * time.Second)
	s = waitRunning(t, c, svcID, 3)
	if after := pidsOn(s, "w2"); !slices.Equal(before, after) {
		t.Errorf("instances on w2 have pids %v after the restart, %v before: they were restarted needlessly", after, before)
	}
	if got := len(echoProcesses(t)); got != 3 {
		t.Errorf("%d echo processes after the worker restart; want 3", got)
	}

	// A root restart loses nothing.
	rootP.stop()
	rootP.start()
	waitHealthy(t, url, filepath.Join(dir, "root"))
	c = login(t, url, pw)
	s = waitRunning(t, c, svcID, 3)

	if err := c.DeleteApplication(ctx, res.Applications[0].ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	eventually(t, 20*time.Second, "no echo process left", func() (bool, string) {
		p := echoProcesses(t)
		return len(p) == 0, fmtInts(p)
	})
	if _, err := c.GetService(ctx, svcID); err == nil {
		t.Error("service still exists after its application was deleted")
	}
}

// TestE2EUp does the same through `hedge up`, all tiers in one process.
func TestE2EUp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	apiAddr := freeAddr(t)
	url := "https://" + apiAddr
	metricsAddr := freeAddr(t)
	up := startProc(t, "up", nil, "up", "--data-dir", dir, "--api-addr", apiAddr, "--cluster-addr", freeAddr(t), "--name", "box",
		"--metrics-addr", metricsAddr)
	waitHealthy(t, url, dir)
	checkMetrics(t, dir, url, "http://"+metricsAddr)
	// No HEDGE_ADMIN_PASSWORD: the password is generated and printed once.
	var pw string
	eventually(t, 10*time.Second, "the generated admin password", func() (bool, string) {
		pw = generatedPassword(up.output())
		return pw != "", up.output()
	})
	c := login(t, url, pw)
	res, err := c.SubmitSLA(ctx, echoSLA("upapp", 10), "application/json")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	svcID := res.Services[0].ID
	waitRunning(t, c, svcID, 1)
	if got := answer(t, c, svcID, 0); !strings.Contains(got, "hello") {
		t.Errorf("instance answered %q", got)
	}
	if _, err := c.AddInstance(ctx, svcID); err != nil {
		t.Fatalf("add instance: %v", err)
	}
	s := waitRunning(t, c, svcID, 2)
	if s.Instances[1].ClusterName != "box" || s.Instances[1].NodeName != "box" {
		t.Errorf("instance placed on %s/%s; want box/box", s.Instances[1].ClusterName, s.Instances[1].NodeName)
	}
	if err := c.DeleteInstance(ctx, svcID, 0); err != nil {
		t.Fatalf("delete instance: %v", err)
	}
	eventually(t, 20*time.Second, "one echo process", func() (bool, string) {
		return len(echoProcesses(t)) == 1, fmtInts(echoProcesses(t))
	})

	// Restarting `hedge up` keeps the instance running and does not print a
	// new password.
	pidBefore := echoProcesses(t)
	up.stop()
	up.start()
	waitHealthy(t, url, dir)
	c = login(t, url, pw)
	waitRunning(t, c, svcID, 1)
	if after := echoProcesses(t); !slices.Equal(after, pidBefore) {
		t.Errorf("echo pids %v after restart, %v before", after, pidBefore)
	}
	if n := countLines(up.output(), "Generated password"); n != 1 {
		t.Errorf("password announced %d times over two starts; want once", n)
	}
	if err := c.DeleteApplication(ctx, res.Applications[0].ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	eventually(t, 20*time.Second, "no echo process left", func() (bool, string) {
		return len(echoProcesses(t)) == 0, fmtInts(echoProcesses(t))
	})
}

func generatedPassword(out string) string {
	_, after, ok := strings.Cut(out, "Generated password for user admin")
	if !ok {
		return ""
	}
	lines := strings.Split(after, "\n")
	for _, l := range lines[1:] {
		if f := strings.TrimSpace(l); f != "" {
			return f
		}
	}
	return ""
}

func pidsOn(s api.Service, node string) []int {
	var out []int
	for _, in := range s.Instances {
		if in.NodeName == node {
			out = append(out, in.PID)
		}
	}
	slices.Sort(out)
	return out
}

func nodeNames(ns []api.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name+"="+string(n.State))
	}
	return out
}

func fmtInts(v []int) string { return fmt.Sprint(v) }

// checkMetrics checks that every metrics endpoint needs the metrics token and
// serves what it should: Prometheus on the root, the Glances view on the worker.
func checkMetrics(t *testing.T, dir, rootURL, workerURL string) {
	t.Helper()
	get := func(url, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		hc := http.DefaultClient // the worker's Glances-compatible exporter: plain HTTP and a token
		if strings.HasPrefix(url, rootURL) {
			hc = httpClient(t, rootURL)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	token := func(tier string) string {
		b, _ := os.ReadFile(filepath.Join(dir, tier, "metrics-token"))
		return strings.TrimSpace(string(b))
	}
	var code int
	var body string
	eventually(t, 10*time.Second, "the worker's metrics exporter", func() (bool, string) {
		tok := token("worker")
		if tok == "" {
			return false, "no metrics token yet"
		}
		code, body = get(workerURL+"/api/3/mem", tok)
		return code == 200, body
	})
	for _, field := range []string{`"total"`, `"available"`, `"percent"`} {
		if !strings.Contains(body, field) {
			t.Errorf("/api/3/mem lacks %s: %s", field, body)
		}
	}
	if code, _ := get(workerURL+"/api/3/mem", ""); code != http.StatusUnauthorized {
		t.Errorf("worker metrics without token: %d, want 401", code)
	}
	if code, _ := get(rootURL+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("root /metrics without token: %d, want 401", code)
	}
	if code, body := get(rootURL+"/metrics", token("root")); code != 200 || !strings.Contains(body, "hedge_clusters{") {
		t.Errorf("root /metrics: %d %.200s", code, body)
	}
}

// checkTLS checks what a user (or an eavesdropper) sees of a TLS listener:
// plain HTTP gets no service, a client without the CA is refused with an
// x509 error, and the handshake succeeds with the CA.
func checkTLS(t *testing.T, url, rootDataDir string) {
	t.Helper()
	plain := "http://" + strings.TrimPrefix(url, "https://")
	resp, err := http.Post(plain+"/link/v1/join", "application/json", strings.NewReader(`{"token":"x","name":"y"}`))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS") {
			t.Errorf("plain HTTP to %s: %d %q, want a refusal asking for HTTPS", plain, resp.StatusCode, b)
		}
	}
	// (Unknown authority, or for a cluster first that it names no address.)
	var cve *tls.CertificateVerificationError
	if _, err := http.Get(url + "/"); !errors.As(err, &cve) {
		t.Errorf("client without the CA at %s: err = %v, want an x509 verification error", url, err)
	}
	pool, err := readPool(rootCA(rootDataDir))
	if err != nil {
		t.Fatal(err)
	}
	// Hedge's tiers check the role name; any name works for the handshake.
	for _, name := range []string{pki.RootName, pki.ClusterName} {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: pool, ServerName: name})
		if err == nil {
			conn.Close()
			return
		}
	}
	t.Errorf("no TLS handshake with %s trusting the root's CA", url)
}
