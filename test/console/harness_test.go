package console

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/test/browser"
	"github.com/hedgeorch/hedge/test/testkit"
)

// The helpers shared with the other end-to-end suite.
var (
	freeAddr       = testkit.FreeAddr
	randomPassword = testkit.RandomPassword
	eventually     = testkit.Eventually
)

// hedgeBin is the hedge binary built once for the package's tests.
var hedgeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hedge-console-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hedgeBin = filepath.Join(dir, "hedge")
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/hedge", "../../cmd/hedge-init")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hedge:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a hedge process under test; it is stopped at the test's end and
// its log printed if the test failed.
type proc struct {
	cmd *exec.Cmd
	log string
}

func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{log: filepath.Join(t.TempDir(), name+".log")}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(hedgeBin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("--- log of %s ---\n%s", name, b)
		}
	})
	return p
}

// hedge is a running Hedge: `hedge up` plus more workers, all on this
// machine, with the admin's API client. The node of `hedge up` (box) is in
// the FogAtlas example's region 002-002 (trento), the others in 003-003
// (povo).
type hedge struct {
	url   string
	admin *api.Client
	pw    string
	// hc trusts the CA of this Hedge.
	hc *http.Client
}

func startHedge(t *testing.T, workers int) *hedge {
	t.Helper()
	dir := t.TempDir()
	// Runs last: instances outlive the tiers that started them, and
	// nothing of the test may stay behind on the machine.
	t.Cleanup(func() { killUnder(dir) })
	apiAddr, clusterAddr := freeAddr(t), freeAddr(t)
	h := &hedge{url: "https://" + apiAddr, pw: randomPassword()}
	start(t, "up", []string{"HEDGE_ADMIN_PASSWORD=" + h.pw}, "up", "--data-dir", filepath.Join(dir, "up"),
		"--api-addr", apiAddr, "--cluster-addr", clusterAddr, "--name", "box", "--metrics-addr", freeAddr(t),
		"--label", "region=002-002")
	caPath := filepath.Join(dir, "up", "root", "ca.pem")
	var hc *http.Client
	eventually(t, 60*time.Second, "the API", func() (bool, string) {
		pem, err := os.ReadFile(caPath)
		if err != nil {
			return false, err.Error()
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return false, "no certificate in " + caPath
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := hc.Get(h.url + "/api/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	ctx := context.Background()
	h.hc = hc
	tp, err := api.NewClient(h.url, api.WithHTTPClient(hc)).Login(ctx, "admin", h.pw)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	h.admin = api.NewClient(h.url, api.WithToken(tp.Token), api.WithHTTPClient(hc))
	for i := 2; i <= workers; i++ {
		wt, err := h.admin.CreateToken(ctx, "worker", time.Hour)
		if err != nil {
			t.Fatalf("worker token: %v", err)
		}
		name := fmt.Sprintf("w%d", i)
		start(t, name, nil, "worker", "--data-dir", filepath.Join(dir, name), "--cluster", "https://"+clusterAddr,
			"--join-token", wt.Token, "--name", name, "--heartbeat", "500ms", "--metrics-addr", freeAddr(t), "--stop-grace", "2s",
			"--label", "region=003-003")
	}
	eventually(t, 60*time.Second, fmt.Sprintf("%d ready nodes", workers), func() (bool, string) {
		nodes, err := h.admin.ListNodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, n := range nodes {
			if n.State == api.NodeReady {
				ready++
			}
		}
		return ready == workers, fmt.Sprint(nodes)
	})
	return h
}

// killUnder kills the processes whose working directory is under dir (the
// instances the test's workers started).
func killUnder(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && strings.HasPrefix(cwd, dir+"/") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// startBrowser starts headless chromium with a window of w x h; it skips
// the test when chromium is not installed.
func startBrowser(t *testing.T, w, h int) context.Context {
	t.Helper()
	ctx, stop, err := browser.Start(context.Background(), w, h)
	if errors.Is(err, browser.ErrNoChromium) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return ctx
}

// run runs browser actions with a deadline and fails the test on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("main")?.innerText || ""`))
		if len(page) > 2000 {
			page = page[:2000]
		}
		t.Fatalf("%s: %v\npage text:\n%s", what, err, page)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// text reads the visible text of the page's main area.
func text(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `document.getElementById("main").innerText`)
}

// shot saves a screenshot of the page to $HEDGE_SCREENSHOTS/NAME.png when
// that is set (docs/console/ holds the committed ones: HEDGE_SCREENSHOTS=
// $PWD/docs/console go test ./test/console).
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("HEDGE_SCREENSHOTS")
	if dir == "" {
		return
	}
	run(t, ctx, "settle", chromedp.Sleep(300*time.Millisecond))
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
