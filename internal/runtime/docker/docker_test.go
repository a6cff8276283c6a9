package docker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/imagetest"
)

// instanceID makes an instance ID unique to this run, so that tests running
// at the same time against one daemon never meet.
func instanceID(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func shSpec(id, image, script string) runtime.Spec {
	return runtime.Spec{InstanceID: id, Service: api.ServiceSpec{
		Name: "sh", Namespace: "test", Virtualization: api.VirtContainer, Code: image,
		Cmd: []string{"sh", "-c", script},
	}}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestDockerOneShotExitCodes(t *testing.T) {
	image := busyboxImage(t)
	d, exits := newTestDriver(t, Options{})
	tests := []struct {
		name   string
		script string
		code   int
		reason string
	}{
		// The sleep keeps the two streams' lines in order in the log.
		{name: "success", script: "echo out; sleep 0.3; echo err >&2; exit 0", code: 0, reason: "exited with code 0"},
		{name: "failure", script: "echo out; sleep 0.3; echo err >&2; exit 3", code: 3, reason: "exited with code 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := instanceID("oneshot")
			spec := shSpec(id, image, tt.script)
			spec.Service.OneShot = true
			task, err := d.Start(context.Background(), spec)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if task.InstanceID != id || task.StartedAt.IsZero() {
				t.Errorf("Start = %+v, want the instance and its start time", task)
			}
			e := exits.Wait(t, id)
			if !e.CodeKnown || e.Code != tt.code || e.Reason != tt.reason {
				t.Errorf("exit = %+v, want code %d known, reason %q", e, tt.code, tt.reason)
			}
			logs := waitLogs(t, d, id, "out\n", "err\n")
			if logs != "out\nerr\n" {
				t.Errorf("logs = %q, want stdout and stderr demultiplexed, in order", logs)
			}
			if b, err := d.Logs(context.Background(), id, 5); err != nil || string(b) != "err\n" {
				t.Errorf("Logs(tail 5 bytes) = %q, %v; want the last whole line", b, err)
			}
			if err := d.Stop(context.Background(), id, time.Second); err != nil {
				t.Errorf("Stop of an ended instance = %v, want nil", err)
			}
			if n := len(exits.All(id)); n != 1 {
				t.Errorf("%d exits reported, want 1", n)
			}
		})
	}
}

func TestDockerStopGraceAndIdempotence(t *testing.T) {
	image := busyboxImage(t)
	d, exits := newTestDriver(t, Options{})
	ctx := context.Background()
	tests := []struct {
		name   string
		script string
		grace  time.Duration
		signal string
	}{
		{name: "polite container ends on SIGTERM", script: "trap 'exit 143' TERM; echo ready; while true; do sleep 0.1; done", grace: 10 * time.Second, signal: "SIGTERM"},
		{name: "stubborn container is killed after the grace", script: "trap '' TERM; echo ready; while true; do sleep 0.1; done", grace: time.Second, signal: "SIGKILL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := instanceID("stop")
			if _, err := d.Start(ctx, shSpec(id, image, tt.script)); err != nil {
				t.Fatalf("Start: %v", err)
			}
			waitLogs(t, d, id, "ready")
			begin := time.Now()
			if err := d.Stop(ctx, id, tt.grace); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			took := time.Since(begin)
			e := exits.All(id)
			if len(e) != 1 {
				t.Fatalf("exits when Stop returned = %+v, want exactly one", e)
			}
			if e[0].Reason != reasonStopped || e[0].Signal != tt.signal || !e[0].CodeKnown {
				t.Errorf("exit = %+v, want reason %q, signal %s", e[0], reasonStopped, tt.signal)
			}
			if tt.signal == "SIGKILL" && took < tt.grace {
				t.Errorf("Stop took %v, want at least the grace %v before SIGKILL", took, tt.grace)
			}
			if err := d.Stop(ctx, id, time.Second); err != nil {
				t.Errorf("second Stop = %v, want nil", err)
			}
		})
	}
	if err := d.Stop(ctx, "never-started", time.Second); !isNotFound(err) {
		t.Errorf("Stop of an unknown instance = %v, want ErrNotFound", err)
	}
	if _, err := d.Logs(ctx, "never-started", 0); !isNotFound(err) {
		t.Errorf("Logs of an unknown instance = %v, want ErrNotFound", err)
	}
}

func TestDockerCmdArgsEnvAndFiles(t *testing.T) {
	image := busyboxImage(t)
	d, exits := newTestDriver(t, Options{})
	hostFile := filepath.Join(t.TempDir(), "local.conf")
	if err := os.WriteFile(hostFile, []byte("from-host-path"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cfg/remote.txt" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "from-url")
	}))
	defer srv.Close()

	id := instanceID("files")
	spec := runtime.Spec{InstanceID: id, Service: api.ServiceSpec{
		Name: "files", Namespace: "test", Virtualization: api.VirtContainer, Code: image,
		Cmd:         []string{"sh", "-c", `echo "args=$*"; echo "greeting=$GREETING id=$HEDGE_INSTANCE_ID svc=$HEDGE_SERVICE"; cat /hedge/files/local.conf; echo; cat /hedge/files/remote.txt; echo; echo x > /hedge/files/new || echo read-only`, "sh"},
		Args:        []string{"a1", "a2"},
		Environment: []string{"GREETING=hi there"},
		AddedFiles:  []string{hostFile, srv.URL + "/cfg/remote.txt"},
		OneShot:     true,
	}}
	if _, err := d.Start(context.Background(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if e := exits.Wait(t, id); e.Code != 0 {
		t.Errorf("exit = %+v, want 0", e)
	}
	waitLogs(t, d, id,
		"args=a1 a2\n",
		"greeting=hi there id="+id+" svc=test.files\n",
		"from-host-path\n", "from-url\n", "read-only\n")

	bad := spec
	bad.InstanceID = instanceID("files-bad")
	bad.Service.AddedFiles = []string{srv.URL + "/missing.txt"}
	if _, err := d.Start(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "added_files[0]") || !strings.Contains(err.Error(), "404") {
		t.Errorf("Start with a missing added file = %v, want an error naming added_files[0] and the HTTP status", err)
	}
}

func TestDockerWrongImageIsAReadableError(t *testing.T) {
	image := busyboxImage(t)
	registry := imagetest.StartRegistry(t).Host()
	d, _ := newTestDriver(t, Options{})
	never, _ := newTestDriver(t, Options{PullPolicy: runtime.PullNever})
	tests := []struct {
		name string
		d    *testDriver
		code string
		want []string
	}{
		{name: "not a reference", d: d, code: "Not//Valid", want: []string{`code "Not//Valid"`, "not a valid image reference"}},
		{name: "no such registry", d: d, code: "127.0.0.1:1/hedge/nothing:1", want: []string{"pull 127.0.0.1:1/hedge/nothing:1", "connection refused"}},
		{name: "no such image", d: d, code: registry + "/hedge/nothing", want: []string{"pull " + registry + "/hedge/nothing:latest", "not found"}},
		{name: "absent with pull policy never", d: never, code: "127.0.0.1:1/hedge/nothing:1", want: []string{"not present", "never"}},
		{name: "missing executable", d: d, code: image, want: []string{"start container", "no-such-program"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := instanceID("bad")
			spec := shSpec(id, tt.code, "")
			spec.Service.Cmd = []string{"/no-such-program"}
			_, err := tt.d.Start(context.Background(), spec)
			if err == nil {
				t.Fatal("Start succeeded, want an error")
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if left := listOwned(t, tt.d.cli, tt.d.owner); len(left) != 0 {
				t.Errorf("containers left after a failed start: %+v", left)
			}
		})
	}
}

func TestDockerRecoverReattaches(t *testing.T) {
	image := busyboxImage(t)
	dir := t.TempDir()
	first, firstExits := newTestDriver(t, Options{DataDir: dir})
	ctx := context.Background()
	running, ended := instanceID("recover-run"), instanceID("recover-end")
	task, err := first.Start(ctx, shSpec(running, image, "echo up; while true; do sleep 0.1; done"))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := first.Start(ctx, shSpec(ended, image, "sleep 3; exit 7")); err != nil {
		t.Fatalf("Start: %v", err)
	}
	// The worker goes away; its containers do not.
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(firstExits.All(running))+len(firstExits.All(ended)) != 0 {
		t.Fatalf("Close reported exits: %+v %+v", firstExits.All(running), firstExits.All(ended))
	}

	second, exits := newTestDriver(t, Options{DataDir: dir})
	// The second container ends (code 7) before the new driver looks.
	eventually(t, "the second container ended", func() bool {
		for _, c := range listOwned(t, second.cli, second.owner) {
			if c.Labels[runtime.LabelInstance] == ended {
				return c.State == "exited"
			}
		}
		return false
	})
	tasks, err := second.Recover(ctx)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if len(tasks) != 1 || tasks[0].InstanceID != running || tasks[0].PID != task.PID || !tasks[0].StartedAt.Equal(task.StartedAt) {
		t.Fatalf("Recover = %+v, want only %s with pid %d started %v", tasks, running, task.PID, task.StartedAt)
	}
	if e := exits.All(ended); len(e) != 1 || !e[0].CodeKnown || e[0].Code != 7 || !strings.Contains(e[0].Reason, reasonDown) {
		t.Errorf("exit of the container that ended meanwhile = %+v, want code 7 reported once, %q", e, reasonDown)
	}
	// A second Recover reports nothing new and returns the same task.
	tasks, err = second.Recover(ctx)
	if err != nil || len(tasks) != 1 || len(exits.All(ended)) != 1 {
		t.Errorf("second Recover = %+v, %v (exits %+v), want the same task and no new exit", tasks, err, exits.All(ended))
	}
	waitLogs(t, second, running, "up\n")
	if err := second.Stop(ctx, running, time.Second); err != nil {
		t.Fatalf("Stop after Recover: %v", err)
	}
	if e := exits.All(running); len(e) != 1 || e[0].Reason != reasonStopped {
		t.Errorf("exit after Stop = %+v, want one, stopped", e)
	}
}

func TestDockerRemoveLeavesNothing(t *testing.T) {
	image := busyboxImage(t)
	d, exits := newTestDriver(t, Options{})
	ctx := context.Background()
	id := instanceID("remove")
	spec := shSpec(id, image, "while true; do sleep 0.1; done")
	spec.Service.AddedFiles = []string{"/etc/hostname"}
	if _, err := d.Start(ctx, spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := listOwned(t, d.cli, d.owner); len(got) != 1 || got[0].Labels[runtime.LabelInstance] != id || got[0].Labels[runtime.LabelService] != "test.sh" {
		t.Fatalf("managed containers = %+v, want the one of %s with its labels", got, id)
	}
	// Remove of a running instance kills it first.
	if err := d.Remove(ctx, id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if e := exits.All(id); len(e) != 1 {
		t.Errorf("exits = %+v, want one", e)
	}
	if got := listOwned(t, d.cli, d.owner); len(got) != 0 {
		t.Errorf("managed containers after Remove = %+v, want none", got)
	}
	if _, err := os.Stat(d.instanceDir(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance dir after Remove: %v, want it gone", err)
	}
	if err := d.Remove(ctx, id); err != nil {
		t.Errorf("second Remove = %v, want nil", err)
	}
	if err := d.Stop(ctx, id, time.Second); !isNotFound(err) {
		t.Errorf("Stop after Remove = %v, want ErrNotFound", err)
	}
}

func TestDockerHTTPServerPortAndMemoryLimit(t *testing.T) {
	image := serverImage(t)
	progress := &progressLog{}
	d, _ := newTestDriver(t, Options{OnProgress: progress.OnProgress})
	ctx := context.Background()
	id := instanceID("web")
	port := freePort(t)
	spec := runtime.Spec{InstanceID: id, Service: api.ServiceSpec{
		Name: "web", Namespace: "test", Virtualization: api.VirtContainer, Code: image,
		Port: strconv.Itoa(port) + ":8080", MemoryMB: 64, VCPUs: 0.5,
	}}
	task, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if msgs := progress.Of(id); len(msgs) < 2 || msgs[0] != "pulling "+image || !strings.HasSuffix(msgs[len(msgs)-1], " MB") {
		t.Errorf("progress = %q, want the pull announced and then its figures", msgs)
	}
	body := httpGet(t, port, "/")
	if !strings.HasPrefix(body, "hello from") {
		t.Errorf("body = %q, want the server's greeting", body)
	}
	waitLogs(t, d, id, "listening on :8080")

	ins, err := d.cli.ContainerInspect(ctx, d.containerName(id), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	if got := ins.Container.HostConfig.Memory; got != 64<<20 {
		t.Errorf("HostConfig.Memory = %d, want %d", got, 64<<20)
	}
	if got := ins.Container.HostConfig.NanoCPUs; got != 5e8 {
		t.Errorf("HostConfig.NanoCPUs = %d, want %d", got, int64(5e8))
	}
	if limit := cgroupMemoryLimit(t, task.PID); limit != 64<<20 {
		t.Errorf("memory limit in the container's cgroup = %d, want %d", limit, 64<<20)
	}
	httpGet(t, port, "/alloc?mb=20")
	cpu, mem, err := d.Usage(ctx, id)
	if err != nil || mem < 20<<20 || mem > 64<<20 || cpu <= 0 {
		t.Errorf("Usage = %v s, %d B, %v; want some CPU time and 20 to 64 MB", cpu, mem, err)
	}
}

func TestDockerOutOfMemoryIsReported(t *testing.T) {
	image := serverImage(t)
	d, exits := newTestDriver(t, Options{})
	id := instanceID("oom")
	port := freePort(t)
	spec := runtime.Spec{InstanceID: id, Service: api.ServiceSpec{
		Name: "oom", Namespace: "test", Virtualization: api.VirtContainer, Code: image,
		Port: strconv.Itoa(port) + ":8080", MemoryMB: 32,
	}}
	if _, err := d.Start(context.Background(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	httpGet(t, port, "/")
	// The answer never comes: the kernel kills the server first.
	resp, err := plainHTTP.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/alloc?mb=100")
	if err == nil {
		resp.Body.Close()
	}
	e := exits.Wait(t, id)
	if e.Reason != reasonOOM || !e.CodeKnown || e.Code != 137 {
		t.Errorf("exit = %+v, want reason %q, code 137", e, reasonOOM)
	}
}

// plainHTTP opens a new connection per request: a kept-alive connection to a
// container that is then killed would outlive the test (goleak).
var plainHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// httpGet waits for the server on the host port to answer path with 200 and
// returns the body.
func httpGet(t testing.TB, port int, path string) string {
	t.Helper()
	var body string
	eventually(t, "the server answers "+path+" on host port "+strconv.Itoa(port), func() bool {
		resp, err := plainHTTP.Get("http://127.0.0.1:" + strconv.Itoa(port) + path)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	return body
}

// cgroupMemoryLimit reads the memory limit of the cgroup pid is in, on a
// cgroup v1 or v2 host.
func cgroupMemoryLimit(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatalf("cgroup of %d: %v", pid, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			file = filepath.Join("/sys/fs/cgroup", parts[2], "memory.max")
		case strings.Contains(","+parts[1]+",", ",memory,"):
			file = filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes")
		default:
			continue
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return n
	}
	t.Fatalf("no memory cgroup found for pid %d in %q", pid, b)
	return 0
}

func TestDockerPullWithRegistryCredentials(t *testing.T) {
	requireDaemon(t)
	reg := imagetest.StartRegistry(t)
	reg.PushBusybox(t, "hedge/private", "test")
	// A registry that wants a password, in front of the test registry.
	backend, err := url.Parse("http://" + reg.Host())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	guarded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "alice" || pass != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="hedge-test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer guarded.Close()
	host := strings.TrimPrefix(guarded.URL, "http://")
	ref := host + "/hedge/private:test"
	removeImageAtEnd(t, ref)

	writeConfig := func(user, pass string) string {
		path := filepath.Join(t.TempDir(), "config.json")
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		cfg := fmt.Sprintf(`{"auths": {"http://%s/v2/": {"auth": %q}}}`, host, auth)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name   string
		config string
		ok     bool
		refuse string
	}{
		{name: "no credentials", config: "", refuse: "no basic auth credentials"},
		{name: "wrong password", config: writeConfig("alice", "guess"), refuse: "unauthorized"},
		{name: "right password", config: writeConfig("alice", "s3cret"), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, exits := newTestDriver(t, Options{RegistryConfig: tt.config, PullPolicy: runtime.PullAlways})
			id := instanceID("private")
			_, err := d.Start(context.Background(), shSpec(id, ref, "exit 0"))
			if !tt.ok {
				if err == nil || !strings.Contains(err.Error(), "pull "+ref) || !strings.Contains(err.Error(), tt.refuse) {
					t.Errorf("Start = %v, want the pull refused: %s", err, tt.refuse)
				}
				return
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if e := exits.Wait(t, id); e.Code != 0 {
				t.Errorf("exit = %+v, want 0", e)
			}
		})
	}
}

// BenchmarkDockerStart compares the time from asking to running: through the
// driver (Start returns once the container runs) and with `docker run -d` of
// the same image, already present, exec'd as a user would. Each iteration does
// both, one after the other, so that both see the same machine load; the
// figures are reported as driver-ms/start and docker-run-ms/start.
func BenchmarkDockerStart(b *testing.B) {
	image := busyboxImage(b)
	d, _ := newTestDriver(b, Options{})
	ctx := context.Background()
	// Pull once, outside the measurements.
	warm := instanceID("warm")
	if _, err := d.Start(ctx, shSpec(warm, image, "exit 0")); err != nil {
		b.Fatalf("Start: %v", err)
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		b.Logf("no docker CLI: only the driver is measured")
	}
	var viaDriver, viaCLI time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := instanceID("bench")
		begin := time.Now()
		if _, err := d.Start(ctx, shSpec(id, image, "sleep 3600")); err != nil {
			b.Fatalf("Start: %v", err)
		}
		viaDriver += time.Since(begin)
		if err := d.Remove(ctx, id); err != nil {
			b.Fatalf("Remove: %v", err)
		}
		if docker == "" {
			continue
		}
		name := instanceID("bench-cli")
		begin = time.Now()
		out, err := exec.Command(docker, "run", "-d", "--name", name, "--label", runtime.LabelManaged+"=true",
			"--label", runtime.LabelOwner+"="+d.owner, image, "sleep", "3600").CombinedOutput()
		if err != nil {
			b.Fatalf("docker run: %v: %s", err, out)
		}
		viaCLI += time.Since(begin)
		if out, err := exec.Command(docker, "rm", "-f", name).CombinedOutput(); err != nil {
			b.Fatalf("docker rm: %v: %s", err, out)
		}
	}
	b.ReportMetric(float64(viaDriver.Milliseconds())/float64(b.N), "driver-ms/start")
	if docker != "" {
		b.ReportMetric(float64(viaCLI.Milliseconds())/float64(b.N), "docker-run-ms/start")
	}
}
