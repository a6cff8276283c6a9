package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// reasonDown is appended to the reason of an exit that Recover finds.
const reasonDown = "while the worker was down"

// Recover lists this driver's containers (by label), re-attaches those still
// running and returns them together with the tasks this driver already
// supervises. A container that ended while nobody watched is reported to
// OnExit with its exit code (the daemon kept it), one whose container is gone
// with CodeKnown false; both before Recover returns and on the caller's
// goroutine. Recover starts nothing; it only removes containers that were
// created but never started (a start interrupted by a crash).
func (d *Driver) Recover(ctx context.Context) ([]runtime.Task, error) {
	list, err := d.cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", labelManaged+"=true", labelOwner+"="+d.owner),
	})
	if err != nil {
		return nil, fmt.Errorf("recover: list containers: %w", err)
	}
	var tasks []runtime.Task
	seen := make(map[string]bool)
	for _, c := range list.Items {
		id := c.Labels[labelInstance]
		if checkID(id) != nil {
			continue
		}
		seen[id] = true
		t, err := d.recoverContainer(ctx, id, c)
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
// it returns the task when the container runs (re-attached if need be).
func (d *Driver) recoverContainer(ctx context.Context, id string, c container.Summary) (*task, error) {
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
	ours := recErr == nil && rec.ContainerID == c.ID

	switch c.State {
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return d.attach(ctx, id, c.ID, ours, rec)
	case container.StateCreated:
		if !ours {
			d.discard(c.ID)
		}
		return nil, nil
	}
	// Exited, dead or being removed: report it unless that was done.
	if ours && rec.ExitReportedAt == nil {
		d.report(id, d.exitOf(c.ID, false, reasonDown))
	}
	return nil, nil
}

// attach starts supervising a running container.
func (d *Driver) attach(ctx context.Context, id, containerID string, ours bool, rec record) (*task, error) {
	ins, err := d.cli.ContainerInspect(ctx, containerID, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect container: %w", err)
	}
	t := newTask(id, containerID, ins.Container.State)
	if !ours || rec.ExitReportedAt != nil {
		// The container outlived its record (or its record is of an earlier
		// run): write a fresh one so its exit is reported exactly once.
		d.recordMu.Lock()
		err := d.saveRecord(record{InstanceID: id, ContainerID: containerID, StartedAt: t.startedAt})
		d.recordMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("record task: %w", err)
		}
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
	go d.supervise(t)
	return t, nil
}
