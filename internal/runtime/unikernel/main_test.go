package unikernel

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
)

// testCgroupParent keeps this test binary's cgroups apart from a real
// worker's and from other test runs on the same machine.
var testCgroupParent = fmt.Sprintf("hedge-test-unikernel-%d", os.Getpid())

func TestMain(m *testing.M) {
	if dir := os.Getenv(workerEnv); dir != "" {
		os.Exit(runTestWorker(dir))
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeTestCgroups()
		os.Exit(code)
	}))
}

// removeTestCgroups deletes the (by now empty) cgroups the tests created, in
// every hierarchy.
func removeTestCgroups() {
	parents, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", testCgroupParent))
	parents = append(parents, filepath.Join("/sys/fs/cgroup", testCgroupParent))
	for _, p := range parents {
		children, _ := os.ReadDir(p)
		for _, c := range children {
			if c.IsDir() {
				_ = os.Remove(filepath.Join(p, c.Name()))
			}
		}
		_ = os.Remove(p)
	}
}

// requireQemu skips the test when this machine has no QEMU for x86-64.
func requireQemu(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not installed")
	}
}

// serveFiles serves path -> content over HTTP for the test's duration.
func serveFiles(t testing.TB, files map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// exitLog plays the worker's part for the driver under test: it keeps the
// handles, waits on the tasks and records their exits (shared with the other
// drivers' tests).
type exitLog = runtimetest.ExitLog

// testDriver is the driver under test, driven through its exit log.
type testDriver struct {
	*runtimetest.Driver
	concrete
}

type concrete struct{ *Driver }

// newTestDriver makes a driver on a fresh data dir. At the end of the test it
// removes whatever the driver still has and closes it.
func newTestDriver(t testing.TB, opts Options) (*testDriver, *exitLog) {
	t.Helper()
	requireQemu(t)
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	exits := runtimetest.NewExitLog(runtimetest.HandlesDir(opts.DataDir))
	if opts.CgroupParent == "" {
		opts.CgroupParent = testCgroupParent
	}
	d, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { cleanupDriver(t, d) })
	return &testDriver{Driver: &runtimetest.Driver{D: d, Exits: exits}, concrete: concrete{d}}, exits
}

func cleanupDriver(t testing.TB, d *Driver) {
	if !d.closed.Load() {
		entries, _ := os.ReadDir(filepath.Join(d.dataDir, "instances"))
		for _, e := range entries {
			if err := d.Remove(context.Background(), e.Name()); err != nil {
				t.Errorf("cleanup: remove %s: %v", e.Name(), err)
			}
		}
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// waitLogs waits until the instance's logs contain want.
func waitLogs(t testing.TB, d *testDriver, id, want string) string {
	t.Helper()
	return runtimetest.WaitLogs(t, d, id, 60*time.Second, want)
}

// progressLog records what OnProgress was told.
type progressLog = runtimetest.ProgressLog
