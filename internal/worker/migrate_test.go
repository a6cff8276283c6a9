package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/process"
	"github.com/hedgeorch/hedge/internal/store"
)

// writeLegacyTaskFile writes id's task.json as drivers of releases before
// ADR 007 did: the handle's fields, the instance id and, once the exit was
// reported, exit_reported_at.
func writeLegacyTaskFile(t *testing.T, dir, id string, handle []byte, exitReported bool) string {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal(handle, &rec); err != nil {
		t.Fatal(err)
	}
	rec["instance_id"] = id
	if exitReported {
		rec["exit_reported_at"] = time.Now().UTC()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "instances", id, legacyTaskFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestUpgradeFromTaskFilesReattachesRunningInstances runs a real process
// instance as a release that kept task.json files left it (the worker gone,
// its record only in the driver's directory), then starts a worker of this
// release: the instance is re-attached, not started again, and is under the
// worker's control (removing it from the desired set stops the process).
func TestUpgradeFromTaskFilesReattachesRunningInstances(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the process driver needs root (cgroups)")
	}
	ctx := context.Background()
	data := t.TempDir()
	procDir := filepath.Join(data, "process")
	cgroup := fmt.Sprintf("hedge-test-migrate-%d", os.Getpid())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroup)
		for _, d := range append(dirs, "/sys/fs/cgroup/"+cgroup) {
			_ = os.Remove(d)
		}
	})
	live := assignment("live", 3, func(s *api.ServiceSpec) { s.Code, s.Cmd = "/bin/sleep", []string{"300"} })

	// The earlier release: the instance runs and its record is a task.json.
	old, err := process.New(process.Options{DataDir: procDir, CgroupParent: cgroup})
	if err != nil {
		t.Fatal(err)
	}
	task, err := old.Start(ctx, runtime.Spec{InstanceID: "live", Service: live.Spec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(task.PID, syscall.SIGKILL) })
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	livePath := writeLegacyTaskFile(t, procDir, "live", task.Handle, false)
	// An instance whose exit that release had reported: nothing to move.
	donePath := writeLegacyTaskFile(t, procDir, "done", task.Handle, true)

	st, err := store.OpenBolt(filepath.Join(data, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Update(func(tx store.Tx) error { return tx.Put(bucketState, keyDesired, []link.Assignment{live}) }); err != nil {
		t.Fatal(err)
	}

	// This release.
	d, err := process.New(process.Options{DataDir: procDir, CgroupParent: cgroup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	w := New(Config{Name: "n1", Store: st, StopGrace: time.Second, Capacity: &api.Resources{VCPUs: 4, MemoryMB: 4096},
		TaskFileDirs: []TaskFileDir{{Virtualization: api.VirtProcess, Dir: procDir}}})
	w.AddDriver(d)
	wctx, cancel := context.WithCancel(ctx)
	if err := w.Start(wctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	defer func() { cancel(); w.Wait() }()

	got := waitState(t, w, "live", api.StateRunning)
	if got.PID != task.PID || got.Generation != 3 {
		t.Errorf("after the upgrade: %+v, want RUNNING with the old pid %d, generation 3", got, task.PID)
	}
	if _, ok := status(w, "done"); ok {
		t.Error("an instance whose exit was reported before the upgrade is reported again")
	}
	for _, p := range []string{livePath, donePath} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after the upgrade (%v), it would be moved again", p, err)
		}
		if _, err := os.Stat(p + migratedSuffix); err != nil {
			t.Errorf("%s%s: %v", p, migratedSuffix, err)
		}
	}
	var rec taskRecord
	if err := st.View(func(tx store.Tx) error { return tx.Get(bucketTasks, "live", &rec) }); err != nil || rec.Virtualization != api.VirtProcess || rec.Handle == nil {
		t.Errorf("task record of the moved instance: %+v, %v", rec, err)
	}
	time.Sleep(100 * time.Millisecond) // room for a wrong second start to show
	if got, _ := status(w, "live"); got.PID != task.PID || got.Restarts != 0 {
		t.Errorf("the re-attached instance was started again: %+v", got)
	}

	// The worker controls it: no longer desired, the process ends.
	apply(t, w)
	waitUntil(t, "the re-attached process to be stopped", func() bool { return !processAlive(task.PID) })
}
