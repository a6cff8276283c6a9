package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/test/testkit"
)

// The helpers shared with the other end-to-end suite.
var (
	freeAddr       = testkit.FreeAddr
	randomPassword = testkit.RandomPassword
	eventually     = testkit.Eventually
)

// bin holds the binaries built once for all tests.
var bin struct {
	hedge, echo string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hedge-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.hedge = filepath.Join(dir, "hedge")
	bin.echo = filepath.Join(dir, "echoserver")
	// hedge-init beside hedge, as installed: the sandbox's init of every
	// process instance.
	for _, b := range []struct{ out, pkg string }{{bin.hedge, "../../cmd/hedge"}, {filepath.Join(dir, "hedge-init"), "../../cmd/hedge-init"}, {bin.echo, "./testdata/echoserver"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b.pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	// Instances outlive the tiers that started them; a failed test may have
	// left some. Nothing of ours may stay behind on the machine.
	for _, pid := range echoPIDs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one hedge process under test.
type proc struct {
	t    *testing.T
	name string
	// wrap is prepended to the command line (e.g. ip netns exec NS).
	wrap []string
	args []string
	env  []string
	log  string
	cmd  *exec.Cmd
}

func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, env: env, log: filepath.Join(t.TempDir(), name+".log")}
	p.start()
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	argv := append(append(append([]string{}, p.wrap...), bin.hedge), p.args...)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
}

// kill ends the process with SIGKILL, as a crash would.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

func (p *proc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
	if p.t.Failed() {
		b, _ := os.ReadFile(p.log)
		p.t.Logf("--- log of %s ---\n%s", p.name, tail(string(b), 6000))
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func readPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate yet", path)
	}
	return pool, nil
}

// trusted holds, per root URL, an HTTP client that trusts that root's CA
// (read from its data directory by waitHealthy).
var trusted sync.Map

// rootCA is where a root started with --data-dir dataDir keeps its CA.
func rootCA(dataDir string) string { return filepath.Join(dataDir, "root", "ca.pem") }

// httpClient returns the client that trusts the CA of the root at url.
func httpClient(t *testing.T, url string) *http.Client {
	t.Helper()
	hc, ok := trusted.Load(url)
	if !ok {
		t.Fatalf("no CA known for %s: call waitHealthy with the root's data directory first", url)
	}
	return hc.(*http.Client)
}

// waitHealthy waits for the root started with --data-dir dataDir to create
// its CA and answer at url over TLS verified with that CA.
func waitHealthy(t *testing.T, url, dataDir string) {
	t.Helper()
	var hc *http.Client
	eventually(t, 30*time.Second, "the root's CA in "+dataDir, func() (bool, string) {
		pool, err := readPool(rootCA(dataDir))
		if err != nil {
			return false, err.Error()
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		return true, ""
	})
	trusted.Store(url, hc)
	eventually(t, 30*time.Second, "API health at "+url, func() (bool, string) {
		resp, err := hc.Get(url + "/api/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
}

func login(t *testing.T, url, password string) *api.Client {
	t.Helper()
	hc := httpClient(t, url)
	c := api.NewClient(url, api.WithHTTPClient(hc))
	tp, err := c.Login(context.Background(), "admin", password)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return api.NewClient(url, api.WithToken(tp.Token), api.WithHTTPClient(hc))
}

// echoSLA is an SLA whose one service runs the test's echo server.
func echoSLA(app string, memoryMB int) []byte {
	return []byte(fmt.Sprintf(`{
  "sla_version": "v2.0",
  "customerID": "Admin",
  "applications": [{
    "applicationID": "",
    "application_name": %q,
    "application_namespace": "test",
    "application_desc": "end-to-end test",
    "microservices": [{
      "microserviceID": "",
      "microservice_name": "echo",
      "microservice_namespace": "test",
      "virtualization": "process",
      "code": %q,
      "cmd": ["--flag", "value"],
      "environment": ["GREETING=hello"],
      "memory": %d,
      "vcpus": 0.5,
      "port": "",
      "added_files": []
    }]
  }]
}`, app, bin.echo, memoryMB))
}

func service(t *testing.T, c *api.Client, id string) api.Service {
	t.Helper()
	s, err := c.GetService(context.Background(), id)
	if err != nil {
		t.Fatalf("get service: %v", err)
	}
	return s
}

func states(s api.Service) string {
	var parts []string
	for _, in := range s.Instances {
		parts = append(parts, fmt.Sprintf("#%d %s node=%s %s", in.Number, in.Status, in.NodeName, in.Reason))
	}
	return strings.Join(parts, "; ")
}

// waitRunning waits until the service has exactly n instances, all RUNNING.
func waitRunning(t *testing.T, c *api.Client, id string, n int) api.Service {
	t.Helper()
	var s api.Service
	eventually(t, 30*time.Second, fmt.Sprintf("%d RUNNING instances", n), func() (bool, string) {
		s = service(t, c, id)
		if len(s.Instances) != n {
			return false, states(s)
		}
		for _, in := range s.Instances {
			if in.Status != api.StateRunning {
				return false, states(s)
			}
		}
		return true, ""
	})
	return s
}

var listenRE = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// answer reads an instance's logs, finds where it listens and asks it.
func answer(t *testing.T, c *api.Client, id string, n int) string {
	t.Helper()
	var url string
	eventually(t, 10*time.Second, "the instance to log its address", func() (bool, string) {
		b, err := c.Logs(context.Background(), id, n, 4096)
		if err != nil {
			return false, err.Error()
		}
		m := listenRE.FindSubmatch(b)
		if m == nil {
			return false, string(b)
		}
		url = string(m[1])
		return true, ""
	})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("instance %d does not answer at %s: %v", n, url, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return buf.String()
}

// echoProcesses lists the pids of running echo servers started from our binary.
func echoProcesses(t *testing.T) []int {
	t.Helper()
	return echoPIDs()
}

// killEchoesAtEnd kills every echo process when the test ends, once its
// tiers are stopped: instances outlive their worker by design, and the
// tests after it count echo processes.
func killEchoesAtEnd(t *testing.T) {
	t.Cleanup(func() {
		for _, pid := range echoPIDs() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

func echoPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != bin.echo {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && isZombie(st) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// lines counts log lines matching s.
func countLines(text, s string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	return n
}
