package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file is the worker's half of the driver contract (runtime.Driver):
// it keeps a taskRecord per instance handed to a driver, waits on every task
// and acts on each exit once, and after a restart recovers the tasks from
// their handles and sweeps the starts that were cut short.

// startTask records that id is being started, takes its address on the
// instance network (containers and unikernels, when the worker has one),
// starts it, and records the driver's handle. A start that fails leaves no
// record.
func (w *Worker) startTask(a link.Assignment) (runtime.Driver, runtime.Task, *runtime.Network, error) {
	d, ok := w.drivers[a.Spec.Virtualization]
	if !ok {
		return nil, runtime.Task{}, nil, fmt.Errorf("runtime %q is not available on this worker (it has %v)", a.Spec.Virtualization, w.Runtimes())
	}
	id := a.InstanceID
	if err := runtime.CheckID(id); err != nil {
		return nil, runtime.Task{}, nil, err
	}
	spec := runtime.Spec{InstanceID: id, Service: a.Spec}
	if w.onNetwork(a.Spec.Virtualization) && !portsOnUserNetwork(a.Spec) {
		n, err := w.attach(id)
		if err != nil {
			return nil, runtime.Task{}, nil, err
		}
		spec.Network = n
	}
	rec := taskRecord{Virtualization: a.Spec.Virtualization, Generation: a.Generation}
	if err := store.Batch(w.cfg.Store, func(tx store.Tx) error { return tx.Put(bucketTasks, id, rec) }); err != nil {
		return nil, runtime.Task{}, nil, fmt.Errorf("record start of instance %s: %w", id, err)
	}
	t, err := d.Start(w.ctx, spec)
	if err != nil {
		w.forgetTask(id, nil)
		return nil, runtime.Task{}, nil, err
	}
	rec.Handle = t.Handle
	if err := store.Batch(w.cfg.Store, func(tx store.Tx) error { return tx.Put(bucketTasks, id, rec) }); err != nil {
		// Without its handle the task could not be recovered after a
		// restart: do not leave it running.
		w.log.Warn("record instance handle; stopping it", "instance", id, "err", err)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			if _, err := d.Wait(w.ctx, id); err != nil {
				w.log.Warn("wait for instance", "instance", id, "err", err)
			}
		}()
		if err := d.Remove(context.WithoutCancel(w.ctx), id); err != nil {
			w.log.Warn("remove instance", "instance", id, "err", err)
		}
		w.forgetTask(id, nil)
		return nil, runtime.Task{}, nil, fmt.Errorf("record instance handle: %w", err)
	}
	return d, t, spec.Network, nil
}

// watchLocked waits on the task of in in the background and acts on its exit
// once: the instance's state and restart, then the record is dropped. When
// the worker stops first, the task runs on, for the next worker to recover.
func (w *Worker) watchLocked(d runtime.Driver, id string, in *instance, handle []byte) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		e, err := d.Wait(w.ctx, id)
		if err != nil {
			if w.ctx.Err() == nil {
				w.log.Warn("wait for instance", "instance", id, "err", err)
			}
			return
		}
		w.mu.Lock()
		w.exitedLocked(id, in, e)
		w.mu.Unlock()
		w.forgetTask(id, handle)
	}()
}

// forgetTask deletes the record of id, if it is still the one with handle
// (nil: a record of a start under way): a later start of the same instance
// may have replaced it meanwhile.
func (w *Worker) forgetTask(id string, handle []byte) {
	err := store.Batch(w.cfg.Store, func(tx store.Tx) error { // idempotent: read, then delete if still ours
		var rec taskRecord
		err := tx.Get(bucketTasks, id, &rec)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return err
		case !bytes.Equal(rec.Handle, handle):
			return nil
		}
		return tx.Delete(bucketTasks, id)
	})
	if err != nil {
		w.log.Warn("forget instance task", "instance", id, "err", err)
	}
}

// recover re-attaches, from their records, the tasks a previous run of the
// worker left, before the first reconcile: a live task becomes a RUNNING
// instance (stopped by that reconcile if it is no longer desired), a task
// that ended meanwhile is acted on as an exit, and a start that was cut
// short is swept.
func (w *Worker) recover(ctx context.Context) error {
	recs := map[string]taskRecord{}
	err := w.cfg.Store.View(func(tx store.Tx) error {
		return tx.List(bucketTasks, func(key string, raw []byte) error {
			var rec taskRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("task record %s: %w", key, err)
			}
			recs[key] = rec
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load task records: %w", err)
	}
	for id, rec := range recs {
		d, ok := w.drivers[rec.Virtualization]
		if !ok {
			w.log.Warn("instance left by an earlier run has no runtime here; kept for a later start", "instance", id, "runtime", rec.Virtualization)
			continue
		}
		if rec.Handle == nil {
			w.sweep(ctx, d, id, nil)
			continue
		}
		t, err := d.Recover(ctx, id, rec.Handle)
		if err != nil {
			// Kept: a runtime that is down now may answer at the next
			// start; a start of the instance meanwhile replaces it.
			w.log.Warn("recover instance", "instance", id, "err", err)
			continue
		}
		w.mu.Lock()
		in, ok := w.instances[id]
		current := ok && in.a.Generation == rec.Generation && in.a.Spec.Virtualization == rec.Virtualization
		if t.Exited != nil {
			if current {
				w.exitedLocked(id, in, *t.Exited)
			}
			w.mu.Unlock()
			if current {
				w.forgetTask(id, rec.Handle)
			} else {
				w.sweep(ctx, d, id, rec.Handle)
			}
			continue
		}
		if !current {
			// Not desired, or an earlier generation: reconcile stops it
			// (and then starts the desired one).
			in = &instance{a: link.Assignment{InstanceID: id, Generation: rec.Generation, Spec: api.ServiceSpec{Virtualization: rec.Virtualization}}}
			w.instances[id] = in
		}
		started := t.StartedAt
		in.running, in.state, in.pid, in.started = true, api.StateRunning, t.PID, &started
		if w.onNetwork(rec.Virtualization) && !portsOnUserNetwork(in.a.Spec) {
			// The same address as before the restart (Attach is stable
			// until Detach).
			if n, err := w.cfg.Net.Attach(id); err == nil {
				in.ip = ipOf(n)
			}
		}
		w.watchLocked(d, id, in, rec.Handle)
		w.mu.Unlock()
		w.log.Info("re-attached instance", "instance", id, "pid", t.PID)
	}
	return nil
}

// sweep removes what an instance that is no longer wanted left, and its
// record.
func (w *Worker) sweep(ctx context.Context, d runtime.Driver, id string, handle []byte) {
	if err := d.Remove(ctx, id); err != nil {
		w.log.Warn("remove leftovers of an ended instance", "instance", id, "err", err)
		return
	}
	w.forgetTask(id, handle)
}
