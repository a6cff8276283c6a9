package docker

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"go.uber.org/goleak"

	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// daemonPresent reports whether a Docker daemon is configured on this
// machine at all. Tests skip only when it is not; a daemon that is there but
// does not answer fails them.
func daemonPresent() bool {
	if os.Getenv("DOCKER_HOST") != "" {
		return true
	}
	_, err := os.Stat("/var/run/docker.sock")
	return err == nil
}

// requireDaemon skips the test when there is no Docker daemon on this
// machine.
func requireDaemon(t testing.TB) {
	t.Helper()
	if !daemonPresent() {
		t.Skip("no Docker daemon on this machine (no $DOCKER_HOST, no /var/run/docker.sock)")
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

// newTestDriver makes a driver on a fresh data dir, skipping the test when
// there is no Docker daemon on the machine. At the end of the test it removes
// whatever the driver still has, then closes it.
func newTestDriver(t testing.TB, opts Options) (*testDriver, *exitLog) {
	t.Helper()
	requireDaemon(t)
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	exits := runtimetest.NewExitLog(runtimetest.HandlesDir(opts.DataDir))
	d, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { cleanupDriver(t, d) })
	return &testDriver{Driver: &runtimetest.Driver{D: d, Exits: exits}, concrete: concrete{d}}, exits
}

// cleanupDriver removes every container of the driver's data dir and closes
// the driver.
func cleanupDriver(t testing.TB, d *Driver) {
	ctx := context.Background()
	closed := d.tasks.Closed()
	if closed {
		// Use a throwaway client: the driver's is closed.
		cli, err := client.New(client.FromEnv)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer cli.Close()
		removeOwned(t, cli, d.owner)
		return
	}
	for _, c := range listOwned(t, d.cli, d.owner) {
		if err := d.Remove(ctx, c.Labels[runtime.LabelInstance]); err != nil {
			t.Errorf("cleanup: remove %s: %v", c.Labels[runtime.LabelInstance], err)
		}
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func listOwned(t testing.TB, cli *client.Client, owner string) []containerSummary {
	t.Helper()
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{
		All: true, Filters: make(client.Filters).Add("label", runtime.LabelManaged+"=true", runtime.LabelOwner+"="+owner),
	})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	out := make([]containerSummary, 0, len(res.Items))
	for _, c := range res.Items {
		out = append(out, containerSummary{ID: c.ID, Labels: c.Labels, State: string(c.State)})
	}
	return out
}

type containerSummary struct {
	ID     string
	Labels map[string]string
	State  string
}

func removeOwned(t testing.TB, cli *client.Client, owner string) {
	for _, c := range listOwned(t, cli, owner) {
		_, err := cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil {
			t.Errorf("cleanup: remove container %s: %v", c.ID, err)
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, runtime.ErrNotFound) }

// waitLogs waits until the instance's logs contain every one of want.
func waitLogs(t testing.TB, d *testDriver, id string, want ...string) string {
	t.Helper()
	return runtimetest.WaitLogs(t, d, id, 30*time.Second, want...)
}

// eventually polls cond for up to 30 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	runtimetest.Eventually(t, 30*time.Second, what, cond)
}

// progressLog records what OnProgress was told.
type progressLog = runtimetest.ProgressLog
