package containerd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/client"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// Recover lists this driver's containers (by label), re-attaches the tasks
// still running and returns them together with the tasks this driver already
// supervises. A task that ended while nobody watched is reported to OnExit
// with its exit code (its shim kept it) and then deleted; a record whose
// container is gone is reported with CodeKnown false; both before Recover
// returns and on the caller's goroutine. Recover starts nothing; it only
// discards containers whose start was interrupted (a crash between creating
// a container and recording its task).
func (d *Driver) Recover(ctx context.Context) ([]runtime.Task, error) {
	ctx = d.withNamespace(ctx)
	list, err := d.client.Containers(ctx,
		fmt.Sprintf(`labels.%q==true,labels.%q==%s`, labelManaged, labelOwner, d.owner))
	if err != nil {
		return nil, fmt.Errorf("recover: list containers: %w", err)
	}
	var tasks []runtime.Task
	seen := make(map[string]bool)
	for _, c := range list {
		info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				continue
			}
			return tasks, fmt.Errorf("recover: %w", err)
		}
		id := info.Labels[labelInstance]
		if checkID(id) != nil || c.ID() != d.containerID(id) {
			continue
		}
		seen[id] = true
		t, err := d.recoverContainer(ctx, id, c, info.CreatedAt)
		if err != nil {
			return tasks, fmt.Errorf("recover instance %s: %w", id, err)
		}
		if t != nil {
			tasks = append(tasks, runtime.Task{InstanceID: id, PID: t.pid, StartedAt: t.startedAt})
		}
	}

	// Records whose container is gone altogether.
	entries, err := os.ReadDir(filepath.Join(d.dataDir, "instances"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return tasks, fmt.Errorf("recover: %w", err)
	}
	for _, e := range entries {
		id := e.Name()
		if seen[id] || !e.IsDir() || checkID(id) != nil || d.busy(id) {
			continue
		}
		rec, err := d.loadRecord(id)
		if err != nil || rec.ExitReportedAt != nil {
			continue
		}
		d.report(id, runtime.Exit{At: time.Now(), Reason: reasonGone + " " + reasonDown})
	}
	return tasks, nil
}

// busy reports whether instanceID is being started or is supervised.
func (d *Driver) busy(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.starting[id] || d.tasks[id] != nil
}

// recoverContainer handles one of the driver's containers found by Recover:
// it returns the task when it runs (re-attached if need be).
func (d *Driver) recoverContainer(ctx context.Context, id string, c client.Container, createdAt time.Time) (*task, error) {
	d.mu.Lock()
	t, starting := d.tasks[id], d.starting[id]
	d.mu.Unlock()
	if t != nil || starting {
		return t, nil
	}
	rec, recErr := d.loadRecord(id)
	if recErr != nil && !errors.Is(recErr, fs.ErrNotExist) {
		d.log.Warn("recover: unreadable task record", "instance", id, "error", recErr)
	}
	ours := recErr == nil && rec.ContainerID == c.ID() && rec.CreatedAt.Equal(createdAt)

	ct, err := c.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		if !ours {
			// Created, never started: an interrupted start.
			d.discard(id)
		}
		// Otherwise its exit was reported and the task deleted already.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load task: %w", err)
	}
	status, err := ct.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("task status: %w", err)
	}
	switch status.Status {
	case client.Running, client.Paused, client.Pausing:
		return d.attach(ctx, id, c.ID(), ct, ours, rec, createdAt)
	case client.Created:
		if !ours {
			d.discard(id)
		}
		return nil, nil
	case client.Stopped:
		if ours && rec.ExitReportedAt == nil {
			exit := client.NewExitStatus(status.ExitStatus, status.ExitTime, nil)
			d.report(id, d.exitOf(ct, *exit, false, reasonDown))
		}
		if _, err := ct.Delete(ctx); err != nil && !cerrdefs.IsNotFound(err) {
			d.log.Warn("recover: delete ended task", "instance", id, "error", err)
		}
	}
	return nil, nil
}

// attach starts supervising a running task.
func (d *Driver) attach(ctx context.Context, id, containerID string, ct client.Task, ours bool, rec record, createdAt time.Time) (*task, error) {
	t := &task{id: id, containerID: containerID, task: ct, pid: int(ct.Pid()), startedAt: rec.StartedAt, done: make(chan struct{})}
	if !ours || rec.ExitReportedAt != nil {
		// The task outlived its record (or its record is of an earlier run):
		// write a fresh one so that its exit is reported exactly once.
		t.startedAt = createdAt
		d.recordMu.Lock()
		err := d.saveRecord(record{InstanceID: id, ContainerID: containerID, CreatedAt: createdAt, PID: t.pid, StartedAt: t.startedAt})
		d.recordMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("record task: %w", err)
		}
	}
	exitC, err := ct.Wait(d.ctx)
	if err != nil {
		return nil, fmt.Errorf("wait for task: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return nil, errClosed
	case d.tasks[id] != nil:
		return d.tasks[id], nil
	}
	d.tasks[id] = t
	d.wg.Add(1)
	go d.supervise(t, exitC)
	return t, nil
}
