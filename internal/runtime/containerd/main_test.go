package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"go.uber.org/goleak"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
)

// testNamespace keeps this test binary's containers and images apart from a
// real worker's and from other test runs on the same machine; TestMain
// deletes it at the end.
var testNamespace = fmt.Sprintf("hedge-test-%d", os.Getpid())

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.Cleanup(func(code int) {
			removeTestNamespace()
			os.Exit(code)
		}),
	)
}

// removeTestNamespace deletes the images the tests pulled and then the
// namespace itself (containerd refuses while anything is left in it).
func removeTestNamespace() {
	if _, err := os.Stat(DefaultAddress); err != nil {
		return
	}
	cli, err := client.New(DefaultAddress)
	if err != nil {
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNamespace), time.Minute)
	defer cancel()
	imgs, _ := cli.ImageService().List(ctx)
	for _, img := range imgs {
		_ = cli.ImageService().Delete(ctx, img.Name, images.SynchronousDelete())
	}
	if err := cli.NamespaceService().Delete(ctx, testNamespace); err != nil {
		fmt.Fprintf(os.Stderr, "containerd tests: namespace %s left behind: %v\n", testNamespace, err)
	}
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

// needContainerd skips the test when containerd's socket is absent, and only
// then: a daemon that is there but broken fails the test.
func needContainerd(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(DefaultAddress); errors.Is(err, os.ErrNotExist) {
		t.Skipf("containerd is not running (no %s): apt-get install containerd runc containernetworking-plugins; containerd &", DefaultAddress)
	}
}

// newTestDriver makes a driver on a fresh data dir in the test namespace. At
// the end of the test it removes whatever the driver still has, then closes
// it.
func newTestDriver(t testing.TB, opts Options) (*testDriver, *exitLog) {
	t.Helper()
	needContainerd(t)
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	exits := runtimetest.NewExitLog(runtimetest.HandlesDir(opts.DataDir))
	if opts.Namespace == "" {
		opts.Namespace = testNamespace
	}
	d, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { cleanupDriver(t, d) })
	return &testDriver{Driver: &runtimetest.Driver{D: d, Exits: exits}, concrete: concrete{d}}, exits
}

func cleanupDriver(t testing.TB, d *Driver) {
	closed := d.tasks.Closed()
	if !closed {
		entries, _ := os.ReadDir(d.instanceDir(""))
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

// spec is a service running image with the given cmd.
func spec(id, image string, cmd ...string) runtime.Spec {
	return runtime.Spec{InstanceID: id, Service: api.ServiceSpec{
		Name: "svc", Namespace: "test", Virtualization: api.VirtContainer, Code: image, Cmd: cmd,
	}}
}

// freePort returns a TCP port that nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// get fetches url, retrying until it answers 200 or the deadline passes.
func get(t testing.TB, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				c.CloseIdleConnections()
				return string(b)
			}
			err = fmt.Errorf("HTTP %s: %s %v", resp.Status, b, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// waitLogs waits until the instance's logs contain every one of want.
func waitLogs(t testing.TB, d *testDriver, id string, want ...string) string {
	t.Helper()
	return runtimetest.WaitLogs(t, d, id, 20*time.Second, want...)
}

// progressLog records what OnProgress was told.
type progressLog = runtimetest.ProgressLog
