package process

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"sort"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/internal/runtime"
)

func TestRecover(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	first, firstExits := newTestDriver(t, Options{DataDir: dataDir})
	live, err := first.Start(ctx, sleepSpec("live"))
	if err != nil {
		t.Fatal(err)
	}
	dead, err := first.Start(ctx, sleepSpec("dead"))
	if err != nil {
		t.Fatal(err)
	}
	// The worker "crashes": its driver goes away without stopping anything.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// While it is down, one instance dies.
	if err := unix.Kill(dead.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the killed instance has ended", func() bool { return !alive(dead.PID, mustStartTicksOrZero(dead.PID)) })
	if got := firstExits.All("dead"); len(got) != 0 {
		t.Fatalf("the closed driver reported %+v", got)
	}

	second, exits := newTestDriver(t, Options{DataDir: dataDir})
	tasks, err := second.Recover(ctx)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if len(tasks) != 1 || tasks[0].InstanceID != "live" || tasks[0].PID != live.PID || !tasks[0].StartedAt.Equal(live.StartedAt) {
		t.Fatalf("Recover = %+v, want only %+v", tasks, live)
	}
	e := exits.Wait(t, "dead")
	if e.CodeKnown || e.Reason != reasonDown {
		t.Errorf("exit of the instance that died while down = %+v, want code unknown, reason %q", e, reasonDown)
	}
	if !alive(live.PID, mustStartTicks(t, live.PID)) {
		t.Fatalf("Recover disturbed the live instance")
	}

	if err := second.Stop(ctx, "live", 5*time.Second); err != nil {
		t.Fatalf("Stop of a re-attached instance: %v", err)
	}
	if e := exits.Wait(t, "live"); e.Reason != "stopped" {
		t.Errorf("exit of the re-attached instance = %+v, want reason stopped", e)
	}
	if err := unix.Kill(live.PID, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("re-attached process %d after Stop: kill(0) = %v, want ESRCH", live.PID, err)
	}

	// Exits are reported once: neither this driver nor a later one
	// reports them again.
	if tasks, err := second.Recover(ctx); err != nil || len(tasks) != 0 {
		t.Errorf("second Recover = %+v, %v; want nothing", tasks, err)
	}
	third, thirdExits := newTestDriver(t, Options{DataDir: dataDir})
	if tasks, err := third.Recover(ctx); err != nil || len(tasks) != 0 {
		t.Errorf("Recover by a third driver = %+v, %v; want nothing", tasks, err)
	}
	for _, id := range []string{"live", "dead"} {
		if n := len(exits.All(id)); n != 1 {
			t.Errorf("%s: %d exits reported by the second driver, want 1", id, n)
		}
		if got := thirdExits.All(id); len(got) != 0 {
			t.Errorf("%s: reported again by a third driver: %+v", id, got)
		}
	}
}

func mustStartTicksOrZero(pid int) uint64 {
	_, ticks, _ := procStat(pid)
	return ticks
}

func TestRecoverKeepsRunningTasks(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	a, err := d.Start(context.Background(), sleepSpec("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Start(context.Background(), sleepSpec("b"))
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := d.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].InstanceID < tasks[j].InstanceID })
	if len(tasks) != 2 || tasks[0].PID != a.PID || tasks[1].PID != b.PID {
		t.Errorf("Recover on a driver already supervising = %+v, want a and b", tasks)
	}
}

func TestRecoverPIDReuse(t *testing.T) {
	// The record names a PID that is alive but belongs to another process
	// (its start time differs): the task is reported ended, and that other
	// process is left alone.
	other := exec.Command(sleepPath(), "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = other.Process.Kill()
		_ = other.Wait()
	})
	ticks := mustStartTicks(t, other.Process.Pid)

	d, exits := newTestDriver(t, Options{})
	h, err := json.Marshal(handle{PID: other.Process.Pid, PGID: other.Process.Pid, StartTicks: ticks + 1, StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := exits.Keep(runtime.Task{InstanceID: "reused", Handle: h}); err != nil {
		t.Fatal(err)
	}
	tasks, err := d.Recover(context.Background())
	if err != nil || len(tasks) != 0 {
		t.Fatalf("Recover = %+v, %v; want no task", tasks, err)
	}
	if e := exits.Wait(t, "reused"); e.CodeKnown || e.Reason != reasonDown {
		t.Errorf("exit = %+v, want code unknown, reason %q", e, reasonDown)
	}
	if !alive(other.Process.Pid, ticks) {
		t.Errorf("Recover disturbed an unrelated process that reused the PID")
	}
}

func TestRecoverNothing(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	tasks, err := d.Recover(context.Background())
	if err != nil || len(tasks) != 0 {
		t.Errorf("Recover on an empty data dir = %+v, %v", tasks, err)
	}
}
