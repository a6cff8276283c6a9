package worker

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/store"
)

// legacyTaskFile is the name of the task records drivers kept before the
// worker owned them (ADR 007), and migratedSuffix what a moved one is
// renamed with.
const (
	legacyTaskFile = "task.json"
	migratedSuffix = ".migrated"
)

// legacyTask is what every driver's task.json had besides its handle: the
// process, containerd and docker records were each a superset of the handle
// the driver now takes (pid, pgid, start ticks; container id, creation time),
// so the file itself is the handle.
type legacyTask struct {
	ExitReportedAt *time.Time `json:"exit_reported_at"`
}

// migrateTaskFiles moves the task records that drivers of an earlier release
// kept in their data directories into the store, before recover reads the
// store, so that a worker upgraded over ADR 007 re-attaches the instances
// that release left running. A record whose exit the old worker had already
// reported is not moved (its instance had ended, and was acted on). The
// generation is the desired set's for the instance (the old records had
// none); an instance no longer desired gets 0 and is stopped by the first
// reconcile. Each file is renamed task.json.migrated once handled, so it is
// moved once; one that cannot be read is logged and left.
func (w *Worker) migrateTaskFiles(desired []link.Assignment) {
	gens := make(map[string]uint64, len(desired))
	for _, a := range desired {
		gens[a.InstanceID] = a.Generation
	}
	for _, td := range w.cfg.TaskFileDirs {
		entries, err := os.ReadDir(filepath.Join(td.Dir, "instances"))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				w.log.Warn("read task records of an earlier release", "dir", td.Dir, "err", err)
			}
			continue
		}
		for _, e := range entries {
			id := e.Name()
			if !e.IsDir() || runtime.CheckID(id) != nil {
				continue
			}
			path := filepath.Join(td.Dir, "instances", id, legacyTaskFile)
			if err := w.migrateTaskFile(td.Virtualization, id, gens[id], path); err != nil {
				w.log.Warn("move task record of an earlier release", "instance", id, "path", path, "err", err)
			}
		}
	}
}

// migrateTaskFile moves one task.json (if there is one) into the store.
func (w *Worker) migrateTaskFile(virt, id string, gen uint64, path string) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var old legacyTask
	if err := json.Unmarshal(raw, &old); err != nil {
		return err
	}
	moved := false
	if old.ExitReportedAt == nil {
		err = w.cfg.Store.Update(func(tx store.Tx) error {
			var rec taskRecord
			switch err := tx.Get(bucketTasks, id, &rec); {
			case err == nil:
				return nil // the store already owns this instance's task
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			moved = true
			return tx.Put(bucketTasks, id, taskRecord{Virtualization: virt, Generation: gen, Handle: raw})
		})
		if err != nil {
			return err
		}
	}
	if err := os.Rename(path, path+migratedSuffix); err != nil {
		return err
	}
	if moved {
		w.log.Info("moved the task record of an earlier release into the store", "instance", id, "runtime", virt)
	}
	return nil
}
