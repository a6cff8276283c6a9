package docker

import (
	"context"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// reasonDown is appended to the reason of an exit that Recover finds.
const reasonDown = "while the worker was down"

// Recover re-attaches the container of handle if it still runs. For one that
// ended while nobody watched it returns Task.Exited with its exit code (the
// daemon kept it), and for one that is gone Task.Exited with CodeKnown false.
// Recover starts nothing.
func (d *Driver) Recover(ctx context.Context, instanceID string, h []byte) (runtime.Task, error) {
	var rec handle
	if err := runtime.DecodeHandle(instanceID, h, &rec); err != nil {
		return runtime.Task{}, fmt.Errorf("recover: %w", err)
	}
	ended := func(e runtime.Exit) (runtime.Task, error) {
		return runtime.Task{InstanceID: instanceID, StartedAt: rec.StartedAt, Handle: h, Exited: &e}, nil
	}
	ins, err := d.cli.ContainerInspect(ctx, rec.ContainerID, client.ContainerInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		return ended(runtime.Exit{At: time.Now(), Reason: reasonGone + " " + reasonDown})
	case err != nil:
		return runtime.Task{}, fmt.Errorf("recover instance %s: inspect container: %w", instanceID, err)
	}
	switch st := ins.Container.State; {
	case st == nil:
		return runtime.Task{}, fmt.Errorf("recover instance %s: container has no state", instanceID)
	case st.Status == container.StateRunning, st.Status == container.StatePaused, st.Status == container.StateRestarting:
	default:
		return ended(d.exitOf(rec.ContainerID, false, reasonDown))
	}
	t := newTask(instanceID, rec.ContainerID, ins.Container.State)
	if err := d.tasks.Add(instanceID, t); err != nil {
		return runtime.Task{}, fmt.Errorf("recover instance %s: %w", instanceID, err)
	}
	return taskOf(t)
}
