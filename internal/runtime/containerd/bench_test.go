package containerd

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/imagetest"
	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
)

// BenchmarkContainerdStart measures start-to-running (Start returns once the
// task runs) of an image that is already present, through the driver with
// its bridge network (netns + CNI bridge and portmap), through the driver on
// the instance network (runtime.Spec.Network: netns + CNI bridge with static
// IPAM on a bridge that holds the gateway, and portmap), through the
// driver on the host's network, and with `ctr run -d` (exec'd; a new empty
// network namespace, no CNI) for comparison. Each start is followed, off the
// clock, by the removal of the container.
func BenchmarkContainerdStart(b *testing.B) {
	needContainerd(b)
	reg := imagetest.StartRegistry(b)
	ref := reg.PushServer(b, "server", "bench")
	b.Run("driver-bridge", func(b *testing.B) { benchDriver(b, Options{}, ref, nil) })
	b.Run("driver-instance-net", func(b *testing.B) {
		br := runtimetest.NewBridge(b, "hcb")
		benchDriver(b, Options{}, ref, br.Network(5, br.Gateway.String()))
	})
	b.Run("driver-hostnet", func(b *testing.B) { benchDriver(b, Options{Network: NetworkHost}, ref, nil) })
	b.Run("ctr-run", func(b *testing.B) { benchCtr(b, ref) })
}

// benchDriver times Start through a driver with opts, on the instance
// network inst when it is not nil.
func benchDriver(b *testing.B, opts Options, ref string, inst *runtime.Network) {
	d, _ := newTestDriver(b, opts)
	ctx := context.Background()
	s := spec("bench", ref)
	s.Network = inst
	s.Service.Environment = []string{fmt.Sprintf("PORT=%d", freePort(b))}
	// Pull once, off the clock.
	if _, err := d.Start(ctx, s); err != nil {
		b.Fatal(err)
	}
	if err := d.Remove(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.InstanceID = fmt.Sprintf("bench-%d", i)
		began := time.Now()
		if _, err := d.Start(ctx, s); err != nil {
			b.Fatal(err)
		}
		total += time.Since(began)
		b.StopTimer()
		if err := d.Remove(ctx, s.InstanceID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
}

func benchCtr(b *testing.B, ref string) {
	ctrBin, err := exec.LookPath("ctr")
	if err != nil {
		b.Skipf("no ctr: %v", err)
	}
	// The driver pulls the image into the namespace, off the clock.
	d, _ := newTestDriver(b, Options{Network: NetworkHost})
	ctx := d.withNamespace(context.Background())
	if _, err := d.ensureImage(ctx, "bench", ref); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("ctr-bench-%d-%s", i, d.owner)
		began := time.Now()
		out, err := exec.Command(ctrBin, "-n", d.namespace, "run", "-d", "--snapshotter", d.snapshotter, ref, id).CombinedOutput()
		if err != nil {
			b.Fatalf("ctr run: %v: %s", err, out)
		}
		total += time.Since(began)
		b.StopTimer()
		c, err := d.client.LoadContainer(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if err := deleteTask(ctx, c); err != nil {
			b.Fatal(err)
		}
		if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !cerrdefs.IsNotFound(err) {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
}
