package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/imagetest"
)

func TestContainerdServerPortLimitsLogsUsage(t *testing.T) {
	progress := &progressLog{}
	d, exits := newTestDriver(t, Options{OnProgress: progress.OnProgress})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushServer(t, "server", "v1")
	ctx := context.Background()

	port := freePort(t)
	s := spec("web-1", ref)
	s.Service.Port = fmt.Sprintf("%d:8080", port)
	s.Service.MemoryMB = 64
	s.Service.VCPUs = 0.5
	task, err := d.Start(ctx, s)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if task.InstanceID != "web-1" || task.PID <= 0 || task.StartedAt.IsZero() {
		t.Fatalf("Start = %+v, want the instance, a pid and a start time", task)
	}
	if msgs := progress.All(); len(msgs) == 0 || msgs[0] != "pulling "+ref {
		t.Errorf("progress = %q, want it to start with %q", msgs, "pulling "+ref)
	}

	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "hello from web-1\n" {
		t.Errorf("GET / on the published port = %q, want the server's hello", got)
	}
	waitLogs(t, d, "web-1", "listening on :8080")

	cg := cgroupDir(t, d, "web-1")
	for _, c := range []struct{ v1, v2, want string }{
		{"memory/" + cg + "/memory.limit_in_bytes", cg + "/memory.max", strconv.Itoa(64 << 20)},
		{"cpu/" + cg + "/cpu.cfs_quota_us", cg + "/cpu.max", "50000"},
	} {
		got := readCgroupFile(t, c.v1, c.v2)
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("cgroup %s = %q, want %s", filepath.Base(c.v1), got, c.want)
		}
	}

	get(t, fmt.Sprintf("http://127.0.0.1:%d/alloc?mb=16", port))
	cpu, mem, err := d.Usage(ctx, "web-1")
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if cpu <= 0 || mem < 16<<20 || mem > 64<<20 {
		t.Errorf("Usage = %v s, %d bytes; want some CPU and 16 to 64 MB after allocating 16 MB", cpu, mem)
	}

	if err := d.Stop(ctx, "web-1", 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	e := exits.Wait(t, "web-1")
	if !e.CodeKnown || e.Code != 0 || e.Reason != reasonStopped {
		t.Errorf("exit = %+v, want code 0 (the server ends on SIGTERM), reason stopped", e)
	}
	if err := d.Stop(ctx, "web-1", time.Second); err != nil {
		t.Errorf("second Stop = %v, want nil (idempotent)", err)
	}
	if b, err := d.Logs(ctx, "web-1", 0); err != nil || !strings.Contains(string(b), "terminating") {
		t.Errorf("Logs after exit = %q, %v; want the output kept until Remove", b, err)
	}
	if b, err := d.Logs(ctx, "web-1", len("terminating\n")); err != nil || string(b) != "terminating\n" {
		t.Errorf("Logs tail = %q, %v; want the last line", b, err)
	}

	tr := traceOf(t, d, "web-1")
	if err := d.Remove(ctx, "web-1"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	assertGone(t, d, tr)
	if err := d.Remove(ctx, "web-1"); err != nil {
		t.Errorf("second Remove = %v, want nil (idempotent)", err)
	}
	if n := len(exits.All("web-1")); n != 1 {
		t.Errorf("exits reported = %d, want exactly one", n)
	}
	if _, err := d.Logs(ctx, "web-1", 0); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Logs after Remove = %v, want ErrNotFound", err)
	}
}

// cgroupDir is the container's cgroup path, relative to each hierarchy.
func cgroupDir(t testing.TB, d *testDriver, id string) string {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), d.namespace)
	c, err := d.client.LoadContainer(ctx, d.containerID(id))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Linux == nil || s.Linux.CgroupsPath == "" {
		t.Fatal("the container's spec has no cgroups path")
	}
	return strings.TrimPrefix(s.Linux.CgroupsPath, "/")
}

// readCgroupFile reads a cgroup v1 file (relative to /sys/fs/cgroup) or,
// on a v2 host, the v2 one.
func readCgroupFile(t testing.TB, v1, v2 string) string {
	t.Helper()
	rel := v1
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		rel = v2
	}
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", rel))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// trace is what identifies an instance's traces on the host.
type trace struct {
	id, cid string
	// ip is the container's address on the bridge ("" on the host network).
	ip string
}

// traceOf notes an instance's identifiers before it is removed.
func traceOf(t testing.TB, d *testDriver, id string) trace {
	t.Helper()
	tr := trace{id: id, cid: d.containerID(id)}
	if d.net == nil {
		return tr
	}
	b, err := os.ReadFile(filepath.Join(d.instanceDir(id), "hosts"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	tr.ip = strings.Fields(lines[len(lines)-1])[0]
	if !strings.HasPrefix(tr.ip, "10.87.") {
		t.Fatalf("hosts file %q has no bridge address", b)
	}
	return tr
}

// assertGone checks that nothing of the instance is left: container, task,
// snapshot, leases, network namespace, address, iptables rules, directory.
func assertGone(t testing.TB, d *testDriver, tr trace) {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), d.namespace)
	cid := tr.cid
	if _, err := d.client.LoadContainer(ctx, cid); !cerrdefs.IsNotFound(err) {
		t.Errorf("container %s after Remove: %v, want not found", cid, err)
	}
	if _, err := d.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: cid}); !cerrdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Errorf("task %s after Remove: %v, want not found", cid, err)
	}
	if _, err := d.client.SnapshotService(d.snapshotter).Stat(ctx, cid); !cerrdefs.IsNotFound(err) {
		t.Errorf("snapshot %s after Remove: %v, want not found", cid, err)
	}
	if leases, err := d.client.LeasesService().List(ctx); err != nil || len(leases) != 0 {
		t.Errorf("leases after Remove = %v, %v; want none", leases, err)
	}
	if _, err := os.Stat(d.instanceDir(tr.id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance dir after Remove: %v, want it gone", err)
	}
	if d.net == nil {
		return
	}
	if _, err := os.Stat(filepath.Join(d.net.nsDir, cid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("network namespace after Remove: %v, want it gone", err)
	}
	if _, err := os.Stat(filepath.Join("/var/lib/cni/networks", cniNetwork, tr.ip)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("address %s after Remove: %v, want it released", tr.ip, err)
	}
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables-save", "-t", table).CombinedOutput()
		if err != nil {
			t.Fatalf("iptables-save: %v: %s", err, out)
		}
		for _, needle := range []string{cid, tr.ip + "/32"} {
			if strings.Contains(string(out), needle) {
				t.Errorf("iptables %s table still mentions %s:\n%s", table, needle, grepLines(string(out), needle))
			}
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestContainerdOneShotExitCodes(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushBusybox(t, "busybox", "1")
	tests := []struct {
		name   string
		script string
		want   runtime.Exit
	}{
		{name: "zero", script: "exit 0", want: runtime.Exit{Code: 0, CodeKnown: true, Reason: "exited with code 0"}},
		{name: "three", script: "exit 3", want: runtime.Exit{Code: 3, CodeKnown: true, Reason: "exited with code 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "exit-" + tt.name
			s := spec(id, ref, "sh", "-c", tt.script)
			s.Service.OneShot = true
			if _, err := d.Start(context.Background(), s); err != nil {
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
			tr := traceOf(t, d, id)
			if err := d.Remove(context.Background(), id); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			assertGone(t, d, tr)
		})
	}
}

func TestContainerdCmdEnvArgsFiles(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushBusybox(t, "busybox", "1")
	hostFile := filepath.Join(t.TempDir(), "greeting.txt")
	if err := os.WriteFile(hostFile, []byte("hi from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cmd   []string
		args  []string
		env   []string
		files []string
		want  []string
	}{
		{
			name: "cmd and args",
			cmd: []string{"sh", "-c", `echo "foo=$FOO"; echo "id=$HEDGE_INSTANCE_ID"; echo "svc=$HEDGE_SERVICE"; ` +
				`echo "path=$PATH"; echo "host=$(hostname)"; for a in "$@"; do echo "arg=$a"; done`, "argv0"},
			args: []string{"a b", "c"},
			env:  []string{"FOO=bar=baz", "HEDGE_INSTANCE_ID=spoofed"},
			want: []string{"foo=bar=baz", "id=cmd-and-args", "svc=test.svc", "path=/bin", "host=cmd-and-args", "arg=a b", "arg=c"},
		},
		{
			name: "args replace the image command",
			args: []string{"echo", "only", "args"},
			want: []string{"only args"},
		},
		{
			name:  "added files",
			cmd:   []string{"sh", "-c", "cat /hedge/files/greeting.txt; touch /hedge/files/x 2>/dev/null || echo read-only"},
			files: []string{hostFile},
			want:  []string{"hi from the host", "read-only"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := strings.ReplaceAll(tt.name, " ", "-")
			s := spec(id, ref, tt.cmd...)
			s.Service.Args, s.Service.Environment, s.Service.AddedFiles = tt.args, tt.env, tt.files
			s.Service.OneShot = true
			if _, err := d.Start(context.Background(), s); err != nil {
				t.Fatalf("Start: %v", err)
			}
			if e := exits.Wait(t, id); e.Code != 0 {
				t.Errorf("exit = %+v, want 0", e)
			}
			out, err := d.Logs(context.Background(), id, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("container printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestContainerdOutOfMemory(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushServer(t, "server", "v1")
	port := freePort(t)
	s := spec("oom", ref)
	s.Service.Port = fmt.Sprintf("%d:8080", port)
	s.Service.MemoryMB = 32
	if _, err := d.Start(context.Background(), s); err != nil {
		t.Fatalf("Start: %v", err)
	}
	get(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	// The request dies with the server; only the exit matters.
	_, _ = (&httpGetter{}).get(fmt.Sprintf("http://127.0.0.1:%d/alloc?mb=100", port))
	e := exits.Wait(t, "oom")
	if e.Code != 137 || e.Signal != "SIGKILL" || e.Reason != reasonOOM {
		t.Errorf("exit = %+v, want SIGKILL (137), reason %q", e, reasonOOM)
	}
}

func TestContainerdStopEscalatesToSIGKILL(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushBusybox(t, "busybox", "1")
	s := spec("stubborn", ref, "sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.1; done`)
	if _, err := d.Start(context.Background(), s); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitLogs(t, d, "stubborn", "ready")
	const grace = 500 * time.Millisecond
	began := time.Now()
	if err := d.Stop(context.Background(), "stubborn", grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took < grace {
		t.Errorf("Stop took %v, want at least the grace period %v", took, grace)
	}
	if e := exits.Wait(t, "stubborn"); e.Signal != "SIGKILL" || e.Code != 137 || e.Reason != reasonStopped {
		t.Errorf("exit = %+v, want SIGKILL, reason stopped", e)
	}
	if n := len(exits.All("stubborn")); n != 1 {
		t.Errorf("exits reported = %d, want one", n)
	}
}

func TestContainerdStartErrors(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	never, _ := newTestDriver(t, Options{PullPolicy: runtime.PullNever})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushBusybox(t, "busybox", "1")
	tests := []struct {
		name string
		d    *testDriver
		code string
		port string
		want string
		is   error
	}{
		{name: "no such image", d: d, code: reg.Host() + "/nope:1", want: "pull " + reg.Host() + "/nope:1: not found", is: cerrdefs.ErrNotFound},
		{name: "bad reference", d: d, code: "Not/A/Valid:Ref:", want: `code "Not/A/Valid:Ref:" is not a valid image reference`},
		{name: "no code", d: d, code: "", want: "code: want an image reference"},
		{name: "bad port", d: d, code: ref, port: "80:http", want: `port: `},
		{name: "pull never", d: never, code: reg.Host() + "/absent:1", want: "image " + reg.Host() + "/absent:1 is not present and the pull policy is \"never\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec("bad", tt.code, "true")
			s.Service.Port = tt.port
			_, err := tt.d.Start(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v, want an error containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Start = %v, want it to match %v", err, tt.is)
			}
			ctx := namespaces.WithNamespace(context.Background(), tt.d.namespace)
			if _, err := tt.d.client.LoadContainer(ctx, tt.d.containerID("bad")); !cerrdefs.IsNotFound(err) {
				t.Errorf("container after a failed start: %v, want none", err)
			}
		})
	}
	if _, err := d.Start(context.Background(), spec("../x", ref)); err == nil || !strings.Contains(err.Error(), "instance id") {
		t.Errorf("Start with a bad id = %v, want an instance id error", err)
	}
}

func TestContainerdRecoverReattachesAndReports(t *testing.T) {
	needContainerd(t)
	dataDir := t.TempDir()
	d1, exits1 := newTestDriver(t, Options{DataDir: dataDir})
	reg := imagetest.StartRegistry(t)
	server := reg.PushServer(t, "server", "v1")
	busybox := reg.PushBusybox(t, "busybox", "1")
	ctx := context.Background()

	port := freePort(t)
	web := spec("web", server)
	web.Service.Port = fmt.Sprintf("%d:8080", port)
	webTask, err := d1.Start(ctx, web)
	if err != nil {
		t.Fatalf("Start web: %v", err)
	}
	brief := spec("brief", busybox, "sh", "-c", "sleep 1; exit 4")
	if _, err := d1.Start(ctx, brief); err != nil {
		t.Fatalf("Start brief: %v", err)
	}
	// The worker goes away; its containers do not.
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // brief ends meanwhile
	if n := len(exits1.All("brief")); n != 0 {
		t.Fatalf("closed driver reported %d exits", n)
	}

	d2, exits2 := newTestDriver(t, Options{DataDir: dataDir})
	tasks, err := d2.Recover(ctx)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if len(tasks) != 1 || tasks[0].InstanceID != "web" || tasks[0].PID != webTask.PID {
		t.Fatalf("Recover = %+v, want web (pid %d) only", tasks, webTask.PID)
	}
	e := exits2.Wait(t, "brief")
	if !e.CodeKnown || e.Code != 4 || e.Reason != "exited with code 4 "+reasonDown {
		t.Errorf("exit of brief = %+v, want code 4 found by Recover", e)
	}
	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "hello from web\n" {
		t.Errorf("GET after Recover = %q", got)
	}

	// A second Recover neither duplicates nor reports again.
	tasks, err = d2.Recover(ctx)
	if err != nil || len(tasks) != 1 || tasks[0].InstanceID != "web" {
		t.Errorf("second Recover = %+v, %v; want web", tasks, err)
	}
	if n := len(exits2.All("brief")); n != 1 {
		t.Errorf("brief reported %d times, want once", n)
	}
	if err := d2.Stop(ctx, "web", 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if e := exits2.Wait(t, "web"); e.Reason != reasonStopped {
		t.Errorf("exit of web = %+v, want stopped", e)
	}

	// A third driver finds nothing left to report.
	d3, exits3 := newTestDriver(t, Options{DataDir: dataDir})
	if tasks, err := d3.Recover(ctx); err != nil || len(tasks) != 0 {
		t.Errorf("Recover after everything ended = %+v, %v; want nothing", tasks, err)
	}
	if len(exits3.All("web"))+len(exits3.All("brief")) != 0 {
		t.Errorf("exits reported again by a later driver")
	}
	for _, id := range []string{"web", "brief"} {
		tr := traceOf(t, d3, id)
		if err := d3.Remove(ctx, id); err != nil {
			t.Fatalf("Remove %s: %v", id, err)
		}
		assertGone(t, d3, tr)
	}
}

func TestNewUnavailable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "no.sock")
	_, err := New(context.Background(), Options{Address: sock, DataDir: t.TempDir()})
	if !errors.Is(err, runtime.ErrUnavailable) || !strings.Contains(err.Error(), sock) {
		t.Errorf("New = %v, want ErrUnavailable naming %s", err, sock)
	}
}

func TestContainerdPullProgress(t *testing.T) {
	progress := &progressLog{}
	d, _ := newTestDriver(t, Options{OnProgress: progress.OnProgress})
	reg := imagetest.StartRegistry(t)
	// A layer no content store holds yet: containerd shares blobs across
	// namespaces, and other tests (the end-to-end ones, in parallel) pull
	// the server image too, so it would not download that one again.
	reg.PushUniqueServer(t, "server", "slow")
	ctx := namespaces.WithNamespace(context.Background(), d.namespace)
	imgs, err := d.client.ImageService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		if err := d.client.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()); err != nil {
			t.Fatal(err)
		}
	}
	proxy := slowProxy(t, reg.Host())
	ref := proxy + "/server:slow"
	if _, err := d.Start(context.Background(), spec("slow", ref)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	re := regexp.MustCompile(`^pulling ` + regexp.QuoteMeta(ref) + `: (\d+\.\d)/(\d+\.\d) MB$`)
	var partial bool
	for _, m := range progress.All() {
		if g := re.FindStringSubmatch(m); g != nil && g[1] != g[2] && g[2] != "0.0" {
			partial = true
		}
	}
	if !partial {
		t.Errorf("progress = %q, want a %q message with part of the image downloaded", progress.All(), "pulling REF: x/y MB")
	}
}
