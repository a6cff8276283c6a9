package runtime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
)

// countingDriver is a Driver that records what it was asked.
type countingDriver struct{ started, used int }

func (c *countingDriver) Name() string { return api.VirtContainer }
func (c *countingDriver) Start(_ context.Context, s Spec) (Task, error) {
	c.started++
	return Task{InstanceID: s.InstanceID, PID: 7}, nil
}
func (c *countingDriver) Wait(context.Context, string) (Exit, error)            { return Exit{}, nil }
func (c *countingDriver) Stop(context.Context, string, time.Duration) error     { return nil }
func (c *countingDriver) Remove(context.Context, string) error                  { return nil }
func (c *countingDriver) Logs(context.Context, string, int) ([]byte, error)     { return nil, nil }
func (c *countingDriver) Recover(context.Context, string, []byte) (Task, error) { return Task{}, nil }
func (c *countingDriver) Usage(context.Context, string) (float64, int64, error) {
	c.used++
	return 1.5, 1 << 20, nil
}

func TestLazyBuildsOnFirstUseAndRetriesAFailedBuild(t *testing.T) {
	ctx := context.Background()
	inner := &countingDriver{}
	builds := 0
	fail := errors.New("daemon not answering")
	d := Lazy(api.VirtContainer, "containerd", false, func(context.Context) (Driver, error) {
		builds++
		if builds == 1 {
			return nil, fail
		}
		return inner, nil
	})
	if d.Name() != api.VirtContainer || d.(Engine).Engine() != "containerd" {
		t.Fatalf("Name %q, Engine %q", d.Name(), d.(Engine).Engine())
	}
	if _, _, err := d.(UsageReporter).Usage(ctx, "a"); !errors.Is(err, errdefs.ErrNotFound) || builds != 0 {
		t.Fatalf("Usage before any start: err %v, %d builds; want not found and no build", err, builds)
	}
	if _, err := d.Start(ctx, Spec{InstanceID: "a"}); !errors.Is(err, ErrUnavailable) || !errors.Is(err, fail) {
		t.Fatalf("Start with a failing build: %v, want ErrUnavailable wrapping the cause", err)
	}
	task, err := d.Start(ctx, Spec{InstanceID: "a"})
	if err != nil || task.PID != 7 {
		t.Fatalf("second Start: %+v, %v", task, err)
	}
	if _, err := d.Start(ctx, Spec{InstanceID: "b"}); err != nil {
		t.Fatal(err)
	}
	if cpu, _, err := d.(UsageReporter).Usage(ctx, "a"); err != nil || cpu != 1.5 {
		t.Errorf("Usage once built: %v, %v", cpu, err)
	}
	if builds != 2 || inner.started != 2 {
		t.Errorf("%d builds and %d starts, want 2 and 2", builds, inner.started)
	}
	if _, ok := d.(Updater); ok {
		t.Error("a lazy driver without updates implements Updater")
	}
}

func TestLazyUpdaterNeedsAnUpdatingDriver(t *testing.T) {
	d := Lazy(api.VirtContainer, "containerd", true, func(context.Context) (Driver, error) { return &countingDriver{}, nil })
	u, ok := d.(Updater)
	if !ok {
		t.Fatal("a lazy driver with updates does not implement Updater")
	}
	if err := u.Update(context.Background(), "a", api.Resources{VCPUs: 1}); err == nil {
		t.Error("Update through a driver that cannot update: no error")
	}
}
