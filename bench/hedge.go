package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// lab is the sandbox of one bench run: a temporary directory that holds the
// data dirs and logs of every hedge process the run starts, and the marker
// that every instance it submits carries in its environment, so that
// whatever is left at the end can be found and removed.
type lab struct {
	bin    string // hedge binary
	dir    string
	marker string // NAME=value put in each instance's environment
	keep   bool   // leave dir (the logs) in place, to investigate a figure
	closed bool
	log    *slog.Logger
	procs  []*server
	seq    int
}

func newLab(bin string, log *slog.Logger) (*lab, error) {
	dir, err := os.MkdirTemp("", "hedge-bench-")
	if err != nil {
		return nil, fmt.Errorf("create the bench directory: %w", err)
	}
	// Instance cwds are compared with this path, so resolve symlinks in it.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if bin != "" {
		if bin, err = filepath.Abs(bin); err != nil {
			return nil, fmt.Errorf("-hedge: %w", err)
		}
	}
	return &lab{bin: bin, dir: dir, marker: "HEDGE_BENCH_RUN=" + randomHex(8), log: log}, nil
}

// buildHedge compiles ./cmd/hedge of the module the bench runs in into dir.
func buildHedge(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find the module root: run the bench from inside the hedge module, or pass -hedge")
	}
	// hedge-init beside hedge, as installed: the sandbox's init of every
	// process instance (ADR 012).
	bin := filepath.Join(dir, "hedge")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "./cmd/hedge", "./cmd/hedge-init")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build ./cmd/hedge and ./cmd/hedge-init: %w", err)
	}
	return bin, nil
}

// close stops every process still running, kills as a last resort the
// instances that outlived their deletion, and removes the directory. It
// returns how many processes it had to kill, because that is a finding. It
// may be called more than once.
func (l *lab) close() int {
	for _, p := range l.procs {
		p.stop()
	}
	stray := strayProcesses(l.marker, l.dir)
	if len(stray) > 0 {
		l.log.Warn("killing processes left behind by the run", "pids", fmt.Sprint(stray))
		for _, pid := range stray {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if l.keep {
		if !l.closed {
			l.log.Info("kept the logs and data of the run", "dir", l.dir)
		}
		l.closed = true
		return len(stray)
	}
	if _, err := os.Stat(l.dir); err != nil {
		return len(stray) // removed by an earlier close
	}
	if err := os.RemoveAll(l.dir); err != nil {
		l.log.Warn("remove the bench directory", "dir", l.dir, "err", err)
	}
	return len(stray)
}

// server is one hedge process the bench started.
type server struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set when done is closed
}

// start runs the hedge binary with args as its own process group, its output
// going to a log file in the lab.
func (l *lab) start(name string, env []string, args ...string) (*server, error) {
	return l.startBin(name, l.bin, env, args...)
}

// startBin runs bin (hedge, or another program the scenario needs, such
// as etcd) as start does.
func (l *lab) startBin(name, bin string, env []string, args ...string) (*server, error) {
	l.seq++
	s := &server{name: name, log: filepath.Join(l.dir, fmt.Sprintf("%02d-%s.log", l.seq, name)), done: make(chan struct{})}
	f, err := os.Create(s.log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer f.Close()
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	l.procs = append(l.procs, s)
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// hashesPasswords reports whether the process serves the API, and so runs
// argon2 for the admin account at start and at every login.
func (s *server) hashesPasswords() bool { return s.name == "up" || s.name == "root" }

// exited reports whether the process ended, and how.
func (s *server) exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.err
	default:
		return false, nil
	}
}

// stop ends the process with SIGTERM, as a user would, and SIGKILL if it is
// still there 10 s later. It is idempotent.
func (s *server) stop() {
	if ok, _ := s.exited(); ok {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// kill ends the process with SIGKILL, as a machine lost, and waits for it.
func (s *server) kill() {
	if ok, _ := s.exited(); ok {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// tail returns the end of the process's output, to explain a failure.
func (s *server) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// deployment is a running Hedge and a logged-in admin client of its API.
type deployment struct {
	tiers  []*server // "up", or "root", "cluster", "worker"
	client *api.Client
	// password is the admin's, for scenarios that log in as a user would.
	password string
}

// startUp runs `hedge up` (root, cluster and worker in one process) and waits
// until its one node is READY.
func (l *lab) startUp(ctx context.Context, name string) (*deployment, error) {
	pw := randomHex(12)
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	clusterAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	up, err := l.start("up", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "up",
		"--data-dir", filepath.Join(l.dir, name), "--api-addr", apiAddr, "--cluster-addr", clusterAddr, "--name", name)
	if err != nil {
		return nil, err
	}
	d := &deployment{tiers: []*server{up}, password: pw}
	if d.client, err = login(ctx, up, "https://"+apiAddr, pw, filepath.Join(l.dir, name)); err != nil {
		return nil, err
	}
	return d, d.waitNodes(ctx, 1)
}

// startTiers runs root, cluster and worker as three processes, joined with
// tokens as an operator would, and waits until the worker is READY.
func (l *lab) startTiers(ctx context.Context, name string) (*deployment, error) {
	pw := randomHex(12)
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	clusterAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(l.dir, name)
	root, err := l.start("root", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "root",
		"--data-dir", filepath.Join(data, "root"), "--api-addr", apiAddr)
	if err != nil {
		return nil, err
	}
	d := &deployment{tiers: []*server{root}}
	if d.client, err = login(ctx, root, "https://"+apiAddr, pw, filepath.Join(data, "root")); err != nil {
		return nil, err
	}
	ct, err := d.client.CreateToken(ctx, api.TokenKindCluster, time.Hour)
	if err != nil {
		return nil, fmt.Errorf("create a cluster token: %w", err)
	}
	cluster, err := l.start("cluster", nil, "cluster", "--data-dir", filepath.Join(data, "cluster"),
		"--root", "https://"+apiAddr, "--join-token", ct.Token, "--listen", clusterAddr, "--name", name)
	if err != nil {
		return nil, err
	}
	d.tiers = append(d.tiers, cluster)
	// The cluster listens for workers only once it has joined the root, and
	// a worker that finds nobody there gives up.
	if err := waitListening(ctx, cluster, clusterAddr); err != nil {
		return nil, err
	}
	wt, err := d.client.CreateToken(ctx, api.TokenKindWorker, time.Hour)
	if err != nil {
		return nil, fmt.Errorf("create a worker token: %w", err)
	}
	worker, err := l.start("worker", nil, "worker", "--data-dir", filepath.Join(data, "worker"),
		"--cluster", "https://"+clusterAddr, "--join-token", wt.Token, "--name", name)
	if err != nil {
		return nil, err
	}
	d.tiers = append(d.tiers, worker)
	return d, d.waitNodes(ctx, 1)
}

// waitListening waits until s accepts connections on addr.
func waitListening(ctx context.Context, s *server, addr string) error {
	var dialer net.Dialer
	err := poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		if ok, err := s.exited(); ok {
			return false, fmt.Errorf("%s exited (%v); its log:\n%s", s.name, err, s.tail())
		}
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, nil
		}
		_ = conn.Close()
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s to listen on %s: %w", s.name, addr, err)
	}
	return nil
}

// login waits until the API at url answers, then logs in as admin.
func login(ctx context.Context, s *server, url, password, dataDir string) (*api.Client, error) {
	var c *api.Client
	var hc *http.Client
	err := poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		if ok, err := s.exited(); ok {
			return false, fmt.Errorf("%s exited (%v); its log:\n%s", s.name, err, s.tail())
		}
		if hc == nil {
			// The root's CA, created on its first start, signs the API's certificate.
			b, err := os.ReadFile(filepath.Join(dataDir, "root", "ca.pem"))
			pool := x509.NewCertPool()
			if err != nil || !pool.AppendCertsFromPEM(b) {
				return false, nil
			}
			hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			c = api.NewClient(url, api.WithHTTPClient(hc))
		}
		_, err := c.Health(ctx)
		return err == nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for the API of %s: %w", s.name, err)
	}
	tp, err := c.Login(ctx, "admin", password)
	if err != nil {
		return nil, fmt.Errorf("log in to %s: %w", s.name, err)
	}
	return api.NewClient(url, api.WithToken(tp.Token), api.WithRefreshToken(tp.RefreshToken, nil), api.WithHTTPClient(hc)), nil
}

// waitNodes waits until n nodes are READY, so that a measurement never
// includes the time a worker takes to join.
func (d *deployment) waitNodes(ctx context.Context, n int) error {
	return waitReady(ctx, d.client, n, 30*time.Second, d.tiers)
}

// pids returns the process ids of the deployment's tiers, in order.
func (d *deployment) pids() []int {
	out := make([]int, len(d.tiers))
	for i, s := range d.tiers {
		out[i] = s.pid()
	}
	return out
}

// stop stops every tier, lowest first, as an operator would.
func (d *deployment) stop() {
	for i := len(d.tiers) - 1; i >= 0; i-- {
		d.tiers[i].stop()
	}
}

// errTimeout is returned by poll when cond did not hold in time.
var errTimeout = errors.New("timed out")

// poll calls cond every interval until it holds, fails, ctx ends or timeout
// passes.
func poll(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, errTimeout)
		}
		if err := sleep(ctx, interval); err != nil {
			return err
		}
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
