package containerd

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// Recover re-attaches the task of handle if it still runs. For one that ended
// while nobody watched it returns Task.Exited with its exit code (its shim
// kept it) and deletes the ended task; for one whose container (or run of the
// container) is gone, Task.Exited with CodeKnown false. Recover starts
// nothing.
func (d *Driver) Recover(ctx context.Context, instanceID string, h []byte) (runtime.Task, error) {
	var rec handle
	if err := runtime.DecodeHandle(instanceID, h, &rec); err != nil {
		return runtime.Task{}, fmt.Errorf("recover: %w", err)
	}
	ctx = d.withNamespace(ctx)
	t, exited, err := d.attach(ctx, instanceID, rec)
	switch {
	case err != nil:
		return runtime.Task{}, fmt.Errorf("recover instance %s: %w", instanceID, err)
	case exited != nil:
		return runtime.Task{InstanceID: instanceID, StartedAt: rec.StartedAt, Handle: h, Exited: exited}, nil
	}
	if err := d.tasks.Add(instanceID, t); err != nil {
		return runtime.Task{}, fmt.Errorf("recover instance %s: %w", instanceID, err)
	}
	return taskOf(t)
}

// attach returns the running task of rec, waited for, or how it ended.
func (d *Driver) attach(ctx context.Context, id string, rec handle) (*task, *runtime.Exit, error) {
	gone := &runtime.Exit{At: time.Now(), Reason: reasonGone + " " + reasonDown}
	c, err := d.client.LoadContainer(ctx, rec.ContainerID)
	if cerrdefs.IsNotFound(err) {
		return nil, gone, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load container: %w", err)
	}
	info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
	if cerrdefs.IsNotFound(err) {
		return nil, gone, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("container info: %w", err)
	}
	if !info.CreatedAt.Equal(rec.CreatedAt) {
		return nil, gone, nil // a later run holds the container ID
	}
	ct, err := c.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		// Ended, and deleted by a Wait whose exit the worker did not get
		// to record.
		return nil, &runtime.Exit{At: time.Now(), Reason: "exited (exit status lost) " + reasonDown}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load task: %w", err)
	}
	status, err := ct.Status(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("task status: %w", err)
	}
	switch status.Status {
	case client.Running, client.Paused, client.Pausing:
		exitC, err := ct.Wait(d.ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("wait for task: %w", err)
		}
		t := &task{id: id, containerID: rec.ContainerID, task: ct, createdAt: rec.CreatedAt, pid: int(ct.Pid()),
			startedAt: rec.StartedAt, exitC: exitC, done: make(chan struct{})}
		return t, nil, nil
	case client.Stopped:
		exit := client.NewExitStatus(status.ExitStatus, status.ExitTime, nil)
		e := d.exitOf(ct, *exit, false, reasonDown)
		if _, err := ct.Delete(ctx); err != nil && !cerrdefs.IsNotFound(err) {
			d.log.Warn("recover: delete ended task", "instance", id, "error", err)
		}
		return nil, &e, nil
	}
	// Created but never started: cannot be, for a task with a handle.
	return nil, &runtime.Exit{At: time.Now(), Reason: "never started"}, nil
}
