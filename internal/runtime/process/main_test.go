package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
)

// testCgroupParent keeps this test binary's cgroups apart from a real
// worker's and from other test runs on the same machine.
var testCgroupParent = fmt.Sprintf("hedge-test-%d", os.Getpid())

func TestMain(m *testing.M) {
	RunInitIfAsked() // the sandbox's init is this test binary (Sandbox.Init's default)
	if dir := os.Getenv(workerEnv); dir != "" {
		os.Exit(runTestWorker(dir))
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeTestCgroups()
		os.Exit(code)
	}))
}

// removeTestCgroups deletes the parent cgroups the tests created.
func removeTestCgroups() {
	for _, root := range []string{defaultCgroupRoot, "/sys/fs/cgroup/unified"} {
		c := newCgroupsNoProbe(root, testCgroupParent)
		for _, dir := range c.parentDirs() {
			children, _ := os.ReadDir(dir)
			for _, child := range children {
				if child.IsDir() {
					_ = removeCgroup(filepath.Join(dir, child.Name()))
				}
			}
			_ = removeCgroup(dir)
		}
	}
}

// newCgroupsNoProbe describes the cgroups under root without creating any.
func newCgroupsNoProbe(root, parent string) *cgroups {
	c := &cgroups{root: root, parent: parent}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		c.version = 2
		return c
	}
	c.version = 1
	c.memoryDir = controllerDir(root, "memory")
	c.cpuDir = controllerDir(root, "cpu")
	c.cpuacctDir = controllerDir(root, "cpuacct")
	return c
}

// parentDirs lists the parent cgroup in every hierarchy.
func (c *cgroups) parentDirs() []string {
	var out []string
	for _, d := range c.dirs("x") {
		out = append(out, filepath.Dir(d))
	}
	return out
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
// stops and removes whatever the driver still runs, then closes it.
func newTestDriver(t testing.TB, opts Options) (*testDriver, *exitLog) {
	t.Helper()
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
	var ids []string
	entries, _ := os.ReadDir(filepath.Join(d.dataDir, "instances"))
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	closed := d.tasks.Closed()
	if !closed {
		for _, id := range ids {
			if err := d.Remove(context.Background(), id); err != nil {
				t.Errorf("cleanup: remove %s: %v", id, err)
			}
		}
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// shSpec runs script with /bin/sh; extra are $0, $1, ... of the script.
func shSpec(id, script string, extra ...string) runtime.Spec {
	return runtime.Spec{InstanceID: id, Service: api.ServiceSpec{
		Name: "svc", Namespace: "test", Code: "/bin/sh", Cmd: append([]string{"-c", script}, extra...),
	}}
}

// sleepSpec runs `sleep 60`.
func sleepSpec(id string) runtime.Spec {
	return runtime.Spec{InstanceID: id, Service: api.ServiceSpec{
		Name: "sleep", Namespace: "test", Code: sleepPath(), Args: []string{"60"},
	}}
}

func sleepPath() string {
	for _, p := range []string{"/bin/sleep", "/usr/bin/sleep"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/bin/sleep"
}

// waitLogs waits until the instance's logs contain every one of want.
func waitLogs(t testing.TB, d *testDriver, id string, want ...string) string {
	t.Helper()
	return runtimetest.WaitLogs(t, d, id, 20*time.Second, want...)
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	runtimetest.Eventually(t, 10*time.Second, what, cond)
}
