package worker

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/store"
)

func TestApplyStartsDesiredAndStopsUndesired(t *testing.T) {
	d := newFakeDriver("process")
	st := store.NewMemory()
	w, _ := startWorker(t, d, workerOptions{store: st})

	apply(t, w, assignment("i1", 1), assignment("i2", 1))
	for _, id := range []string{"i1", "i2"} {
		s := waitState(t, w, id, api.StateRunning)
		if s.PID == 0 || s.StartedAt == nil || s.Generation != 1 {
			t.Errorf("%s: %+v, want a pid, a start time and generation 1", id, s)
		}
	}

	apply(t, w, assignment("i2", 1), assignment("i3", 1))
	waitState(t, w, "i3", api.StateRunning)
	waitUntil(t, "i1 to be forgotten", func() bool { _, ok := status(w, "i1"); return !ok })
	calls := d.callLog()
	stop, remove := slices.Index(calls, "stop i1"), slices.Index(calls, "remove i1")
	if stop < 0 || remove < stop {
		t.Errorf("calls %v: want stop i1 then remove i1", calls)
	}
	if d.isLive("i1") {
		t.Error("i1 is still running in the driver")
	}
	for id, want := range map[string]int{"i1": 1, "i2": 1, "i3": 1} {
		if got := d.startCount(id); got != want {
			t.Errorf("%s started %d times, want %d", id, got, want)
		}
	}
	var ids []string
	for _, s := range w.Snapshot(context.Background()).Instances {
		ids = append(ids, s.InstanceID)
	}
	if !slices.Equal(ids, []string{"i2", "i3"}) {
		t.Errorf("reported instances %v, want [i2 i3]", ids)
	}

	// The desired set is on disk before Apply returns.
	var saved []link.Assignment
	if err := st.View(func(tx store.Tx) error { return tx.Get(bucketState, keyDesired, &saved) }); err != nil {
		t.Fatal(err)
	}
	if len(saved) != 2 || saved[0].InstanceID != "i2" || saved[1].InstanceID != "i3" {
		t.Errorf("persisted desired set %+v", saved)
	}

	// An empty set stops everything.
	apply(t, w)
	waitUntil(t, "every instance to be forgotten", func() bool { return len(w.Snapshot(context.Background()).Instances) == 0 })
	if d.isLive("i2") || d.isLive("i3") {
		t.Error("instances still run after an empty desired set")
	}
}

func TestSnapshotDescribesTheNode(t *testing.T) {
	d := newFakeDriver("process")
	w, _ := startWorker(t, d, workerOptions{more: []*fakeDriver{newFakeDriver("container")}})
	rep := w.Snapshot(context.Background())
	if rep.Cluster != nil || rep.Node == nil {
		t.Fatalf("snapshot %+v is not a node report", rep)
	}
	if rep.Node.Name != "n1" || rep.Node.Capacity != (api.Resources{VCPUs: 4, MemoryMB: 4096}) || rep.Node.Arch == "" {
		t.Errorf("node %+v", rep.Node)
	}
	if !slices.Equal(rep.Node.Runtimes, []string{"container", "process"}) {
		t.Errorf("runtimes %v, want the drivers' names sorted", rep.Node.Runtimes)
	}
}

func TestExitHandling(t *testing.T) {
	tests := []struct {
		name        string
		spec        []func(*api.ServiceSpec)
		exit        runtime.Exit
		wantState   api.InstanceState
		wantReason  string
		wantRestart bool
	}{
		{name: "one_shot exits 0", spec: []func(*api.ServiceSpec){oneShot},
			exit: runtime.Exit{Code: 0, CodeKnown: true}, wantState: api.StateCompleted, wantReason: "exited with code 0"},
		{name: "one_shot exits 1", spec: []func(*api.ServiceSpec){oneShot},
			exit: runtime.Exit{Code: 1, CodeKnown: true}, wantState: api.StateFailed, wantReason: "exited with code 1", wantRestart: true},
		{name: "service exits 3", exit: runtime.Exit{Code: 3, CodeKnown: true},
			wantState: api.StateFailed, wantReason: "exited with code 3", wantRestart: true},
		{name: "service exits 0", exit: runtime.Exit{Code: 0, CodeKnown: true},
			wantState: api.StateFailed, wantReason: "exited with code 0", wantRestart: true},
		{name: "killed by a signal", exit: runtime.Exit{Code: 137, CodeKnown: true, Signal: "SIGKILL"},
			wantState: api.StateFailed, wantReason: "killed by signal SIGKILL", wantRestart: true},
		{name: "unknown exit code", exit: runtime.Exit{Reason: "exited while the worker was down"},
			wantState: api.StateFailed, wantReason: "exited while the worker was down", wantRestart: true},
		{name: "policy never", spec: []func(*api.ServiceSpec){policy(api.RestartNever)},
			exit: runtime.Exit{Code: 1, CodeKnown: true}, wantState: api.StateFailed, wantReason: "exited with code 1 (restart policy: never)"},
		{name: "policy on-failure exits 0", spec: []func(*api.ServiceSpec){policy(api.RestartOnFailure)},
			exit: runtime.Exit{Code: 0, CodeKnown: true}, wantState: api.StateCompleted, wantReason: "exited with code 0"},
		{name: "policy on-failure exits 2", spec: []func(*api.ServiceSpec){policy(api.RestartOnFailure)},
			exit: runtime.Exit{Code: 2, CodeKnown: true}, wantState: api.StateFailed, wantReason: "exited with code 2", wantRestart: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDriver("process")
			// A long backoff, so the state right after the exit can be seen
			// before the restart.
			w, _ := startWorker(t, d, workerOptions{maxBackoff: 100 * time.Millisecond})
			apply(t, w, assignment("i1", 1, tt.spec...))
			waitState(t, w, "i1", api.StateRunning)
			d.exit(t, w, "i1", tt.exit)
			st, _ := status(w, "i1")
			if st.State != tt.wantState || st.Reason != tt.wantReason {
				t.Errorf("after the exit: %s %q, want %s %q", st.State, st.Reason, tt.wantState, tt.wantReason)
			}
			if tt.exit.CodeKnown && (st.ExitCode == nil || *st.ExitCode != tt.exit.Code) {
				t.Errorf("exit code %v, want %d", st.ExitCode, tt.exit.Code)
			}
			if !tt.wantRestart {
				// Well past the backoff, and after another identical desired
				// set, it still has not been started again.
				time.Sleep(200 * time.Millisecond)
				apply(t, w, assignment("i1", 1, tt.spec...))
				time.Sleep(20 * time.Millisecond)
				if n := d.startCount("i1"); n != 1 {
					t.Errorf("started %d times, want once", n)
				}
				if st, _ := status(w, "i1"); st.State != tt.wantState || st.Restarts != 0 {
					t.Errorf("later: %s with %d restarts, want %s with none", st.State, st.Restarts, tt.wantState)
				}
				return
			}
			if st.Restarts != 1 {
				t.Errorf("restarts %d right after the exit, want 1", st.Restarts)
			}
			st = waitState(t, w, "i1", api.StateRunning)
			if n := d.startCount("i1"); n != 2 || st.Restarts != 1 {
				t.Errorf("started %d times with %d restarts, want 2 and 1", n, st.Restarts)
			}
		})
	}
}

func TestRestartsBackOff(t *testing.T) {
	const maxBackoff = 60 * time.Millisecond
	d := newFakeDriver("process")
	w, _ := startWorker(t, d, workerOptions{maxBackoff: maxBackoff})
	apply(t, w, assignment("i1", 1))
	waitState(t, w, "i1", api.StateRunning)
	for i := 1; i <= 3; i++ {
		exited := time.Now()
		d.exit(t, w, "i1", runtime.Exit{Code: 1, CodeKnown: true})
		waitUntil(t, "a restart", func() bool { return d.startCount("i1") == i+1 })
		st := waitState(t, w, "i1", api.StateRunning)
		if st.Restarts != i {
			t.Errorf("after exit %d: %d restarts counted", i, st.Restarts)
		}
		d.mu.Lock()
		restarted := d.startedAt["i1"][i]
		d.mu.Unlock()
		if gap := restarted.Sub(exited); gap < maxBackoff {
			t.Errorf("exit %d: restarted after %v, want at least the backoff %v", i, gap, maxBackoff)
		}
	}
}

func TestStartErrorFailsAndIsRetried(t *testing.T) {
	d := newFakeDriver("process")
	d.failStart["i1"] = errPull
	w, _ := startWorker(t, d, workerOptions{maxBackoff: 50 * time.Millisecond})
	apply(t, w, assignment("i1", 1))
	st := waitState(t, w, "i1", api.StateFailed)
	if !strings.Contains(st.Reason, errPull.Error()) || st.Restarts != 1 {
		t.Errorf("failed start: %+v, want the driver's error as reason and a restart counted", st)
	}
	waitUntil(t, "a retry", func() bool { return d.startCount("i1") >= 2 })

	// The cause goes away: the next retry runs it.
	d.mu.Lock()
	delete(d.failStart, "i1")
	d.mu.Unlock()
	st = waitState(t, w, "i1", api.StateRunning)
	if st.Reason != "" {
		t.Errorf("running instance keeps reason %q", st.Reason)
	}
}

func TestMissingRuntimeFails(t *testing.T) {
	d := newFakeDriver("process")
	w, _ := startWorker(t, d, workerOptions{maxBackoff: time.Second})
	apply(t, w, assignment("i1", 1, func(s *api.ServiceSpec) { s.Virtualization = "unikernel" }))
	st := waitState(t, w, "i1", api.StateFailed)
	if !strings.Contains(st.Reason, `runtime "unikernel" is not available`) || !strings.Contains(st.Reason, "process") {
		t.Errorf("reason %q, want the missing runtime and the ones there are", st.Reason)
	}
}

func TestRestartReattachesWithoutDuplicates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	st1, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	d1 := newFakeDriver("process")
	w1, stop1 := startWorker(t, d1, workerOptions{store: st1})
	apply(t, w1, assignment("live", 1), assignment("died", 1), assignment("job", 1, oneShot), assignment("orphan", 1))
	for _, id := range []string{"live", "died", "job", "orphan"} {
		waitState(t, w1, id, api.StateRunning)
	}
	d1.exit(t, w1, "job", runtime.Exit{Code: 0, CodeKnown: true})
	waitState(t, w1, "job", api.StateCompleted)
	// The worker goes away; its instances keep running.
	stop1()
	if calls := d1.callLog(); slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "stop ") }) {
		t.Fatalf("stopping the worker stopped instances: %v", calls)
	}
	// While it is down, its cluster no longer wants "orphan" (as if the new
	// desired set had been persisted just before the worker died).
	err = st1.Update(func(tx store.Tx) error {
		return tx.Put(bucketState, keyDesired, []link.Assignment{assignment("live", 1), assignment("died", 1), assignment("job", 1, oneShot)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	st2, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	d2 := newFakeDriver("process")
	d2.recovered = []runtime.Task{
		{InstanceID: "live", PID: 4711, StartedAt: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)},
		{InstanceID: "orphan", PID: 4712, StartedAt: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	d2.exitedMeanwhile = []string{"died"}
	w2, _ := startWorker(t, d2, workerOptions{store: st2})

	st, ok := status(w2, "live")
	if !ok || st.State != api.StateRunning || st.PID != 4711 || st.Generation != 1 {
		t.Errorf("re-attached instance: %+v, want RUNNING with pid 4711", st)
	}
	// The one that ended meanwhile is restarted; the orphan, which is not in
	// the desired set, is stopped and cleaned up.
	waitUntil(t, "the dead instance to restart", func() bool { return d2.startCount("died") == 1 })
	waitState(t, w2, "died", api.StateRunning)
	waitUntil(t, "the orphan to be removed", func() bool {
		calls := d2.callLog()
		return slices.Contains(calls, "stop orphan") && slices.Contains(calls, "remove orphan")
	})
	time.Sleep(30 * time.Millisecond) // room for a wrong extra start to show
	if n := d2.startCount("live"); n != 0 {
		t.Errorf("the re-attached instance was started %d more times", n)
	}
	if n := d2.startCount("job"); n != 0 {
		t.Errorf("the completed one_shot instance ran again %d times after the restart", n)
	}
	if st, _ := status(w2, "job"); st.State != api.StateCompleted {
		t.Errorf("completed one_shot after restart: %+v", st)
	}
	if _, ok := status(w2, "orphan"); ok {
		t.Error("the orphan is still reported")
	}
}

func TestLogsRequestGoesToTheDriver(t *testing.T) {
	d := newFakeDriver("process")
	w, _ := startWorker(t, d, workerOptions{})
	apply(t, w, assignment("i1", 1), assignment("i2", 1))
	waitState(t, w, "i1", api.StateRunning)
	waitState(t, w, "i2", api.StateRunning)
	d.mu.Lock()
	d.logs["i1"] = []byte("hello\n")
	d.mu.Unlock()

	tests := []struct {
		name         string
		req          link.Request
		wantData     string
		wantErr      string
		wantNotFound bool
	}{
		{name: "logs of a running instance", req: link.Request{Kind: link.KindLogs, InstanceID: "i1", Tail: 64}, wantData: "hello\n"},
		{name: "driver error", req: link.Request{Kind: link.KindLogs, InstanceID: "i2", Tail: 1}, wantErr: "not found"},
		{name: "instance not on this worker", req: link.Request{Kind: link.KindLogs, InstanceID: "i9"}, wantErr: "not on this worker", wantNotFound: true},
		{name: "unknown kind", req: link.Request{Kind: "exec", InstanceID: "i1"}, wantErr: "unknown request kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.Handle(context.Background(), tt.req)
			if string(r.Data) != tt.wantData || !strings.Contains(r.Error, tt.wantErr) || r.NotFound != tt.wantNotFound {
				t.Errorf("answer %+v (data %q), want data %q, error containing %q, not found %v", r, r.Data, tt.wantData, tt.wantErr, tt.wantNotFound)
			}
			if tt.wantErr == "" && r.Error != "" {
				t.Errorf("unexpected error %q", r.Error)
			}
		})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if want := []string{"i1 tail=64", "i2 tail=1"}; !slices.Equal(d.logCalls, want) {
		t.Errorf("driver asked for logs %v, want %v", d.logCalls, want)
	}
}

// TestExitDuringStartIsNotLost: a process that ends at once can be reaped,
// and its exit reported, before the driver's Start has returned (the
// process driver supervises the task from inside Start). The exit must not
// be overwritten by the start landing afterwards.
func TestExitDuringStartIsNotLost(t *testing.T) {
	tests := []struct {
		name  string
		spec  []func(*api.ServiceSpec)
		exit  runtime.Exit
		check func(t *testing.T, d *fakeDriver, w *Worker)
	}{
		{
			name: "one_shot that completes at once",
			spec: []func(*api.ServiceSpec){oneShot},
			exit: runtime.Exit{Code: 0, CodeKnown: true},
			check: func(t *testing.T, d *fakeDriver, w *Worker) {
				if !eventually(time.Second, func() bool { st, _ := status(w, "i1"); return st.State == api.StateCompleted }) {
					st, _ := status(w, "i1")
					t.Errorf("reported %+v, want COMPLETED", st)
				}
			},
		},
		{
			name: "service that crashes at once",
			exit: runtime.Exit{Code: 1, CodeKnown: true},
			check: func(t *testing.T, d *fakeDriver, w *Worker) {
				if !eventually(time.Second, func() bool { return d.startCount("i1") >= 2 }) {
					st, _ := status(w, "i1")
					t.Errorf("never restarted; reported %+v", st)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDriver("process")
			d.exitInStart["i1"] = tt.exit
			w, _ := startWorker(t, d, workerOptions{})
			apply(t, w, assignment("i1", 1, tt.spec...))
			tt.check(t, d, w)
		})
	}
}

// TestNewGenerationOfTheSameInstanceStarts: the root moved an instance away
// and back, so the worker gets the same instance id with a new generation
// while it still runs the old one. The old one must be stopped and the new
// one started.
func TestNewGenerationOfTheSameInstanceStarts(t *testing.T) {
	d := newFakeDriver("process")
	w, _ := startWorker(t, d, workerOptions{})
	apply(t, w, assignment("i1", 1))
	waitState(t, w, "i1", api.StateRunning)
	apply(t, w, assignment("i1", 2))
	waitUntil(t, "the old generation to stop", func() bool { return slices.Contains(d.callLog(), "remove i1") })
	if eventually(time.Second, func() bool {
		st, ok := status(w, "i1")
		return ok && st.Generation == 2 && st.State == api.StateRunning && d.isLive("i1")
	}) {
		return
	}
	st, ok := status(w, "i1")
	t.Errorf("generation 2 never ran: reported %+v (present %v); driver calls %v", st, ok, d.callLog())
}
