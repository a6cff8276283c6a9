package process

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
)

func TestStartLogsStopRemove(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	ctx := context.Background()
	spec := shSpec("web-1", "echo hi; echo err >&2; sleep 30")
	spec.Service.MemoryMB = 64
	task, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if task.InstanceID != "web-1" || task.PID <= 0 || task.StartedAt.IsZero() {
		t.Fatalf("Start = %+v, want the instance, a pid and a start time", task)
	}
	if !alive(task.PID, mustStartTicks(t, task.PID)) {
		t.Fatalf("process %d is not running", task.PID)
	}
	if pgid, err := unix.Getpgid(task.PID); err != nil || pgid != task.PID {
		t.Fatalf("pgid of %d = %d, %v; want its own group", task.PID, pgid, err)
	}
	waitLogs(t, d, "web-1", "hi\n", "err\n")

	if err := d.Stop(ctx, "web-1", 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	e := exits.Wait(t, "web-1")
	if e.Signal != "SIGTERM" || !e.CodeKnown || e.Code != 128+int(unix.SIGTERM) || e.Reason != "stopped" {
		t.Errorf("exit = %+v, want killed by SIGTERM, reason stopped", e)
	}
	// The leader is gone when Stop returns; the rest of its group was
	// killed too and only waits for init to reap it.
	eventually(t, "the whole process group is gone", func() bool {
		return unix.Kill(-task.PID, 0) == unix.ESRCH
	})
	if err := d.Stop(ctx, "web-1", time.Second); err != nil {
		t.Errorf("second Stop = %v, want nil (idempotent)", err)
	}
	if b, err := d.Logs(ctx, "web-1", 0); err != nil || !strings.Contains(string(b), "hi") {
		t.Errorf("Logs after exit = %q, %v; want the output kept until Remove", b, err)
	}

	cgroupDirs := d.cg.dirs("web-1")
	if err := d.Remove(ctx, "web-1"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(d.instanceDir("web-1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance dir after Remove: %v, want it gone", err)
	}
	for _, dir := range cgroupDirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s after Remove: %v, want it gone", dir, err)
		}
	}
	if err := d.Remove(ctx, "web-1"); err != nil {
		t.Errorf("second Remove = %v, want nil (idempotent)", err)
	}
	if len(exits.All("web-1")) != 1 {
		t.Errorf("exits reported = %+v, want exactly one", exits.All("web-1"))
	}
}

func mustStartTicks(t testing.TB, pid int) uint64 {
	t.Helper()
	_, ticks, err := procStat(pid)
	if err != nil {
		t.Fatalf("procStat(%d): %v", pid, err)
	}
	return ticks
}

func TestExitCodes(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	tests := []struct {
		name   string
		script string
		want   runtime.Exit
	}{
		{name: "zero", script: "exit 0", want: runtime.Exit{Code: 0, CodeKnown: true, Reason: "exited with code 0"}},
		{name: "three", script: "exit 3", want: runtime.Exit{Code: 3, CodeKnown: true, Reason: "exited with code 3"}},
		{name: "signal", script: "kill -KILL $$", want: runtime.Exit{Code: 137, CodeKnown: true, Signal: "SIGKILL", Reason: "killed by SIGKILL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "exit-" + tt.name
			if _, err := d.Start(context.Background(), shSpec(id, tt.script)); err != nil {
				t.Fatalf("Start: %v", err)
			}
			got := exits.Wait(t, id)
			if got.At.IsZero() {
				t.Errorf("exit time not set")
			}
			got.At = time.Time{}
			if got != tt.want {
				t.Errorf("exit = %+v, want %+v", got, tt.want)
			}
			if err := d.Stop(context.Background(), id, time.Second); err != nil {
				t.Errorf("Stop after exit = %v, want nil", err)
			}
			if err := d.Remove(context.Background(), id); err != nil {
				t.Errorf("Remove: %v", err)
			}
		})
	}
}

func TestEnvArgsWorkdir(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	script := `echo "id=$HEDGE_INSTANCE_ID"; echo "svc=$HEDGE_SERVICE"; echo "foo=$FOO"; echo "home=$HOME"; ` +
		`echo "pwd=$(pwd)"; echo "path=$PATH"; echo "secret=${WORKER_ONLY:-unset}"; for a in "$@"; do echo "arg=$a"; done`
	spec := shSpec("env-1", script, "argv0")
	spec.Service.Args = []string{"a b", "c"}
	spec.Service.Environment = []string{"FOO=bar=baz", "HEDGE_INSTANCE_ID=spoofed"}
	t.Setenv("WORKER_ONLY", "leaked")
	if _, err := d.Start(context.Background(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if e := exits.Wait(t, "env-1"); e.Code != 0 {
		t.Fatalf("exit = %+v", e)
	}
	work := filepath.Join(d.instanceDir("env-1"), "work")
	out, err := d.Logs(context.Background(), "env-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"id=env-1", "svc=test.svc", "foo=bar=baz", "home=" + work, "pwd=" + work,
		"path=" + os.Getenv("PATH"), "secret=unset", "arg=a b", "arg=c",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("child saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	spec := shSpec("stubborn", `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	if _, err := d.Start(context.Background(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitLogs(t, d, "stubborn", "ready")
	const grace = 300 * time.Millisecond
	began := time.Now()
	if err := d.Stop(context.Background(), "stubborn", grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took < grace {
		t.Errorf("Stop took %v, want at least the grace period %v", took, grace)
	}
	if e := exits.Wait(t, "stubborn"); e.Signal != "SIGKILL" || e.Code != 137 {
		t.Errorf("exit = %+v, want SIGKILL", e)
	}
}

func TestStopContextCancelled(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	if _, err := d.Start(context.Background(), shSpec("slow", `trap "" TERM; echo ready; while :; do sleep 0.05; done`)); err != nil {
		t.Fatal(err)
	}
	waitLogs(t, d, "slow", "ready")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Stop(ctx, "slow", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the context's error", err)
	}
}

func TestStartErrors(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Start(context.Background(), sleepSpec("dup")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec runtime.Spec
		want string
	}{
		{name: "missing code", spec: runtime.Spec{InstanceID: "a", Service: api.ServiceSpec{Code: "/x/y"}}, want: "code /x/y: no such file"},
		{name: "not executable", spec: runtime.Spec{InstanceID: "a", Service: api.ServiceSpec{Code: plain}}, want: "not executable"},
		{name: "directory", spec: runtime.Spec{InstanceID: "a", Service: api.ServiceSpec{Code: dir}}, want: "is a directory"},
		{name: "relative path", spec: runtime.Spec{InstanceID: "a", Service: api.ServiceSpec{Code: "bin/app"}}, want: "want an absolute path"},
		{name: "empty code", spec: runtime.Spec{InstanceID: "a"}, want: "want an absolute path"},
		{name: "bad environment", spec: runtime.Spec{InstanceID: "a", Service: api.ServiceSpec{Code: "/bin/sh", Environment: []string{"NOVALUE"}}}, want: `environment[0] "NOVALUE": want KEY=VALUE`},
		{name: "empty id", spec: runtime.Spec{Service: api.ServiceSpec{Code: "/bin/sh"}}, want: `instance id ""`},
		{name: "id with slash", spec: runtime.Spec{InstanceID: "../etc", Service: api.ServiceSpec{Code: "/bin/sh"}}, want: `instance id "../etc": invalid instance id`},
		{name: "already running", spec: sleepSpec("dup"), want: "already running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Start(context.Background(), tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestUnknownInstance(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	ctx := context.Background()
	for _, id := range []string{"nope", "", "../x"} {
		if err := d.Stop(ctx, id, time.Second); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Stop(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := d.Logs(ctx, id, 10); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Logs(%q) = %v, want ErrNotFound", id, err)
		}
		if _, _, err := d.Usage(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Usage(%q) = %v, want ErrNotFound", id, err)
		}
		if err := d.Remove(ctx, id); err != nil {
			t.Errorf("Remove(%q) = %v, want nil", id, err)
		}
	}
}

func TestRemoveKillsRunningInstance(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	task, err := d.Start(context.Background(), sleepSpec("busy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(context.Background(), "busy"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if e := exits.Wait(t, "busy"); e.Signal != "SIGKILL" {
		t.Errorf("exit = %+v, want SIGKILL", e)
	}
	if err := unix.Kill(task.PID, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("process %d after Remove: kill(0) = %v, want ESRCH", task.PID, err)
	}
}

func TestStragglersKilledWithLeader(t *testing.T) {
	// The leader exits by itself and leaves a background child in its
	// group: the child must not survive unsupervised.
	d, exits := newTestDriver(t, Options{})
	task, err := d.Start(context.Background(), shSpec("leaky", "sleep 60 & echo $! > bg.pid; exit 0"))
	if err != nil {
		t.Fatal(err)
	}
	exits.Wait(t, "leaky")
	b, err := os.ReadFile(filepath.Join(d.instanceDir("leaky"), "work", "bg.pid"))
	if err != nil {
		t.Fatal(err)
	}
	bg, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// In the sandbox bg is a PID of the instance's own namespace: the child
	// is found on the host by its user, which is the instance's alone.
	fi, err := os.Stat(filepath.Join(d.instanceDir("leaky"), "work"))
	if err != nil {
		t.Fatal(err)
	}
	uid := statUID(fi)
	if bg <= 1 || uid == 0 {
		t.Fatalf("background child %d of uid %d: want a child of the sandbox's init, not root", bg, uid)
	}
	eventually(t, "the background child is gone", func() bool {
		return len(processesOf(t, uid)) == 0 && unix.Kill(-task.PID, 0) == unix.ESRCH
	})
}

// processesOf lists the host's processes run by uid.
func processesOf(t testing.TB, uid uint32) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if fi, err := os.Stat("/proc/" + e.Name()); err == nil && statUID(fi) == uid {
			out = append(out, pid)
		}
	}
	return out
}

func TestName(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	if d.Name() != "process" {
		t.Errorf("Name = %q", d.Name())
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "no data dir", opts: Options{}, want: "data dir is required"},
		{name: "root cgroup parent", opts: Options{DataDir: t.TempDir(), CgroupParent: "/"}, want: "cgroup parent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.opts)
			if err == nil {
				d.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestExecFailureLeavesNoCgroup(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	bad := filepath.Join(t.TempDir(), "bad")
	// Executable, but not a format the kernel can run.
	if err := os.WriteFile(bad, []byte("not a program"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := runtime.Spec{InstanceID: "bad", Service: api.ServiceSpec{Code: bad, MemoryMB: 16}}
	if _, err := d.Start(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "exec format error") {
		t.Fatalf("Start = %v, want exec format error", err)
	}
	for _, dir := range d.cg.dirs("bad") {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s after a failed start: %v, want it gone", dir, err)
		}
	}
}

// TestWithoutPidfds runs the fallbacks for kernels older than 5.3: a child
// waited for with waitid, a re-attached process polled in /proc.
func TestWithoutPidfds(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	d, exits := newTestDriver(t, Options{DataDir: dataDir})
	d.pidfds = false
	if _, err := d.Start(ctx, shSpec("three", "exit 3")); err != nil {
		t.Fatal(err)
	}
	if e := exits.Wait(t, "three"); e.Code != 3 || !e.CodeKnown {
		t.Errorf("exit = %+v, want code 3", e)
	}
	if _, err := d.Start(ctx, sleepSpec("sleeper")); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx, "sleeper", time.Second); err != nil {
		t.Fatal(err)
	}
	if e := exits.Wait(t, "sleeper"); e.Signal != "SIGTERM" {
		t.Errorf("exit = %+v, want SIGTERM", e)
	}

	// A second driver on the same data dir re-attaches a running instance
	// (the first one keeps waiting for its child, and reaps it in the end).
	if _, err := d.Start(ctx, sleepSpec("kept")); err != nil {
		t.Fatal(err)
	}
	d2, exits2 := newTestDriver(t, Options{DataDir: dataDir})
	d2.pidfds = false
	tasks, err := d2.Recover(ctx)
	if err != nil || len(tasks) != 1 || tasks[0].InstanceID != "kept" {
		t.Fatalf("Recover = %+v, %v; want kept", tasks, err)
	}
	// Stop through the second driver; it notices the end by polling.
	if err := d2.Stop(ctx, "kept", time.Second); err != nil {
		t.Fatal(err)
	}
	if e := exits2.Wait(t, "kept"); e.CodeKnown || e.Reason != "stopped" {
		t.Errorf("exit seen by the re-attaching driver = %+v, want code unknown, stopped", e)
	}
}
