package docker

import (
	"context"
	"testing"

	"github.com/moby/moby/client"

	"github.com/hedgeorch/hedge/internal/runtime/imagetest"
)

// busyboxImage pushes a busybox image to a registry of the test's own and
// returns its reference; the daemon pulls it on first use. The pulled image is
// deleted when the test ends.
func busyboxImage(t testing.TB) string {
	t.Helper()
	requireDaemon(t)
	ref := imagetest.StartRegistry(t).PushBusybox(t, "hedge/busybox", "test")
	removeImageAtEnd(t, ref)
	return ref
}

// serverImage is busyboxImage for the test HTTP server: GET / answers "hello
// from ...", GET /alloc?mb=N allocates, it prints "listening on :8080".
func serverImage(t testing.TB) string {
	t.Helper()
	requireDaemon(t)
	ref := imagetest.StartRegistry(t).PushServer(t, "hedge/server", "test")
	removeImageAtEnd(t, ref)
	return ref
}

func removeImageAtEnd(t testing.TB, ref string) {
	t.Cleanup(func() {
		cli, err := client.New(client.FromEnv)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer cli.Close()
		// Not there when the test never pulled it; nothing else to do.
		_, _ = cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
}
