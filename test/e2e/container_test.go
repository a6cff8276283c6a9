package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime/imagetest"
)

// containerNamespace is the containerd namespace of the containerd driver's
// containers (containerd.DefaultNamespace; the worker has no flag to change it).
const containerNamespace = "hedge"

// testImages are the test images, pushed once to an in-process registry on
// 127.0.0.1 for every engine's sub-test.
type testImages struct {
	host    string // the registry's 127.0.0.1:PORT
	server  string // imagetest's HTTP server: prints "listening on :$PORT"
	busybox string // busybox-static, command sh
	nginx   string // the server as library/nginx:latest, listening on :80
	curl    string // busybox as curlimages/curl:7.82.0
}

func pushImages(t *testing.T) testImages {
	t.Helper()
	reg := imagetest.StartRegistry(t)
	im := testImages{host: reg.Host()}
	im.server = reg.PushServer(t, "hedge-e2e/server", "v1")
	im.busybox = reg.PushBusybox(t, "hedge-e2e/busybox", "v1")
	im.curl = reg.PushBusybox(t, "curlimages/curl", "7.82.0")
	im.nginx = retag(t, im.server, im.host+"/library/nginx:latest", "PORT=80")
	return im
}

// retag copies image src to dst with env added to its configuration.
func retag(t *testing.T, src, dst string, env ...string) string {
	t.Helper()
	from, err := gcrname.ParseReference(src, gcrname.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	to, err := gcrname.ParseReference(dst, gcrname.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(from)
	if err != nil {
		t.Fatalf("read %s: %v", src, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	cfg.Env = append(append([]string(nil), cfg.Env...), env...)
	img, err = mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(to, img); err != nil {
		t.Fatalf("push %s: %v", dst, err)
	}
	return dst
}

// containerEngine is what a test needs to know of a container engine to
// look behind Hedge's back.
type containerEngine struct {
	name string
	// objects lists what the engine holds that belongs to one of the
	// instances ("container <id>", "task <id>", "snapshot <key>").
	objects func(t *testing.T, instanceIDs []string) []string
	// labelled counts the containers labelled hedge.instance=id.
	labelled func(t *testing.T, id string) int
	// removeImages deletes the test's images (the drivers keep them).
	removeImages func(refs ...string)
	// forceRemove deletes whatever the engine still holds of the given
	// instances (or services: IDs are matched as substrings), behind
	// Hedge's back, so that a failed test leaves nothing running.
	forceRemove func(t *testing.T, ids []string)
}

var engines = []containerEngine{
	{
		name:    "containerd",
		objects: containerdObjects,
		labelled: func(t *testing.T, id string) int {
			// Separate filters are or-ed, a comma ands them.
			return len(strings.Fields(runCmd(t, "ctr", "-n", containerNamespace, "containers", "ls", "-q",
				`labels."hedge.instance"==`+id+`,labels."hedge.managed"==true`)))
		},
		removeImages: func(refs ...string) {
			_ = exec.Command("ctr", append([]string{"-n", containerNamespace, "images", "rm"}, refs...)...).Run()
		},
		forceRemove: func(t *testing.T, ids []string) {
			for _, o := range containerdObjects(t, ids) {
				kind, name, _ := strings.Cut(o, " ")
				args := map[string][]string{"task": {"tasks", "rm", "-f"}, "container": {"containers", "rm"}, "snapshot": {"snapshots", "rm"}}[kind]
				_ = exec.Command("ctr", append(append([]string{"-n", containerNamespace}, args...), name)...).Run()
			}
		},
	},
	{
		name:    "docker",
		objects: dockerObjects,
		labelled: func(t *testing.T, id string) int {
			return len(strings.Fields(runCmd(t, "docker", "ps", "-q", "--filter", "label=hedge.instance="+id, "--filter", "label=hedge.managed=true")))
		},
		removeImages: func(refs ...string) {
			_ = exec.Command("docker", append([]string{"rmi", "--force"}, refs...)...).Run()
		},
		forceRemove: func(t *testing.T, ids []string) {
			for _, o := range dockerObjects(t, ids) {
				_ = exec.Command("docker", "rm", "-f", strings.TrimPrefix(o, "container ")).Run()
			}
		},
	},
}

// containerdObjects lists the containers, tasks and snapshots of the
// driver's namespace whose names hold one of ids.
func containerdObjects(t *testing.T, ids []string) []string {
	t.Helper()
	var out []string
	for _, q := range []struct{ kind, args string }{
		{"container", "containers ls -q"},
		{"task", "tasks ls -q"},
		{"snapshot", "snapshots ls"},
	} {
		for _, line := range strings.Split(runCmd(t, "ctr", append([]string{"-n", containerNamespace}, strings.Fields(q.args)...)...), "\n") {
			if f := strings.Fields(line); len(f) > 0 && mentions(f[0], ids) {
				out = append(out, q.kind+" "+f[0])
			}
		}
	}
	return out
}

// dockerObjects lists the Hedge-managed containers whose name or
// hedge.instance label holds one of ids.
func dockerObjects(t *testing.T, ids []string) []string {
	t.Helper()
	var out []string
	lines := runCmd(t, "docker", "ps", "-a", "--filter", "label=hedge.managed=true", "--format", `{{.Names}} {{.Label "hedge.instance"}}`)
	for _, line := range strings.Split(lines, "\n") {
		if f := strings.Fields(line); len(f) > 0 && mentions(line, ids) {
			out = append(out, "container "+f[0])
		}
	}
	return out
}

// leftovers collects the services a sub-test deployed, so that what a failed
// test left in the engine is removed behind Hedge's back. It is made before
// the stack starts: its cleanup then runs after the stack's processes have
// stopped, when nothing restarts what it removes.
type leftovers struct{ ids []string }

func removeOnFailure(t *testing.T, e containerEngine) *leftovers {
	l := &leftovers{}
	t.Cleanup(func() {
		if t.Failed() && len(l.ids) > 0 {
			e.forceRemove(t, l.ids)
		}
	})
	return l
}

// add records services; their instance IDs are "<service ID>-<n>".
func (l *leftovers) add(svcs map[string]api.Service) {
	for _, s := range svcs {
		l.ids = append(l.ids, s.ID)
	}
}

// needEngine skips the test when the engine's daemon does not answer (CI
// starts both, see .ci/run).
func needEngine(t *testing.T, name string) {
	t.Helper()
	check := map[string][]string{"containerd": {"ctr", "version"}, "docker": {"docker", "info"}}[name]
	if out, err := exec.Command(check[0], check[1:]...).CombinedOutput(); err != nil {
		t.Skipf("%s is not running here (%s: %v): %s", name, strings.Join(check, " "), err, tail(string(out), 300))
	}
}

func runCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mentions(s string, ids []string) bool {
	for _, id := range ids {
		if strings.Contains(s, id) {
			return true
		}
	}
	return false
}

// startContainerStack runs root, one cluster and one worker with the given container
// runtime as separate processes on loopback, and waits until the worker is
// READY and offers virtualization want.
func startContainerStack(t *testing.T, containerRuntime, plainHTTP, want string) *api.Client {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	pw := randomPassword()
	apiAddr, clusterAddr := freeAddr(t), freeAddr(t)
	url := "https://" + apiAddr
	startProc(t, "root", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "root", "--data-dir", filepath.Join(dir, "root"), "--api-addr", apiAddr)
	waitHealthy(t, url, filepath.Join(dir, "root"))
	c := login(t, url, pw)
	ct, err := c.CreateToken(ctx, "cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := c.CreateToken(ctx, "worker", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	startProc(t, "cluster", nil, "cluster", "--data-dir", filepath.Join(dir, "cluster"), "--root", url, "--join-token", ct.Token,
		"--listen", clusterAddr, "--name", "site")
	args := []string{"worker", "--data-dir", filepath.Join(dir, "worker"), "--cluster", "https://" + clusterAddr, "--join-token", wt.Token,
		"--name", "w1", "--heartbeat", "500ms", "--stop-grace", "2s", "--container-runtime", containerRuntime, "--metrics-addr", "",
		// Room for the example's two services of one vcpu each, whatever
		// the machine.
		"--cpus", "8", "--memory-mb", "4096"}
	if plainHTTP != "" {
		args = append(args, "--plain-http-registry", plainHTTP)
	}
	startProc(t, "worker", nil, args...)
	eventually(t, 30*time.Second, "a READY worker that runs "+want, func() (bool, string) {
		ns, err := c.ListNodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, n := range ns {
			if n.State == api.NodeReady && contains(n.Runtimes, want) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", ns)
	})
	return c
}

// msvc is one microservice of a test SLA.
type msvc map[string]any

// slaOf is an SLA with one application per entry of apps, named by its key.
func slaOf(apps map[string][]msvc) []byte {
	var list []any
	for name, ms := range apps {
		for _, m := range ms {
			m["microservice_namespace"] = "e2e"
		}
		list = append(list, map[string]any{
			"application_name": name, "application_namespace": "e2e", "application_desc": "container end-to-end test",
			"microservices": ms,
		})
	}
	b, _ := json.Marshal(map[string]any{"sla_version": "v2.0", "customerID": "Admin", "applications": list})
	return b
}

// submitSLA submits an SLA and returns the application IDs and the services by
// name.
func submitSLA(t *testing.T, c *api.Client, body []byte) ([]string, map[string]api.Service) {
	t.Helper()
	res, err := c.SubmitSLA(context.Background(), body, "application/json")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	var apps []string
	for _, a := range res.Applications {
		apps = append(apps, a.ID)
	}
	byName := map[string]api.Service{}
	for _, s := range res.Services {
		byName[s.Spec.Name] = s
	}
	return apps, byName
}

// waitInstance polls a one-instance service until cond holds for its
// instance. Pulls and restarts with backoff take seconds on a loaded
// machine, hence the minute.
func waitInstance(t *testing.T, c *api.Client, id, what string, cond func(api.Instance) bool) api.Instance {
	t.Helper()
	var in api.Instance
	eventually(t, time.Minute, what, func() (bool, string) {
		s := service(t, c, id)
		if len(s.Instances) != 1 {
			return false, states(s)
		}
		in = s.Instances[0]
		return cond(in), fmt.Sprintf("%s reason=%q exit=%s restarts=%d", in.Status, in.Reason, exitCode(in), in.Restarts)
	})
	return in
}

func exitCode(in api.Instance) string {
	if in.ExitCode == nil {
		return "none"
	}
	return strconv.Itoa(*in.ExitCode)
}

func inState(s api.InstanceState) func(api.Instance) bool {
	return func(in api.Instance) bool { return in.Status == s }
}

// waitServiceLogs polls a service's logs until they hold every one of want.
func waitServiceLogs(t *testing.T, c *api.Client, id string, want ...string) string {
	t.Helper()
	var logs string
	eventually(t, 30*time.Second, fmt.Sprintf("logs with %q", want), func() (bool, string) {
		b, err := c.Logs(context.Background(), id, 0, 1<<16)
		if err != nil {
			return false, err.Error()
		}
		logs = string(b)
		for _, w := range want {
			if !strings.Contains(logs, w) {
				return false, logs
			}
		}
		return true, ""
	})
	return logs
}

// httpGet polls url until it answers 200 (a published port may take a
// moment after RUNNING: docker-proxy, DNAT rules) and returns the body.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	var body string
	client := &http.Client{Timeout: 2 * time.Second}
	eventually(t, 20*time.Second, "an answer from "+url, func() (bool, string) {
		resp, err := client.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK, resp.Status + " " + body
	})
	return body
}

// memoryLimit reads the memory limit of the cgroup of process pid, cgroup v1
// (memory.limit_in_bytes) or v2 (memory.max).
func memoryLimit(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatalf("cgroup of pid %d: %v", pid, err)
	}
	var v1, v2 string
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case contains(strings.Split(parts[1], ","), "memory"):
			v1 = parts[2]
		}
	}
	path := filepath.Join("/sys/fs/cgroup", v2, "memory.max")
	if v1 != "" {
		path = filepath.Join("/sys/fs/cgroup/memory", v1, "memory.limit_in_bytes")
	}
	limit, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("memory limit of pid %d: %v (its /proc/pid/cgroup:\n%s)", pid, err, b)
	}
	return strings.TrimSpace(string(limit))
}

func freeHostPort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// TestE2EContainer deploys container services through root, cluster and a
// worker on each engine (containerd, Docker) from an in-process registry,
// and checks what a user sees through the API against what the engine and
// the kernel show: the published port answers, the memory limit is in the
// container's cgroup, logs, exit codes and restarts are reported, a wrong
// image fails readably, deleting leaves nothing behind, and Oakestra's
// client-server example runs.
func TestE2EContainer(t *testing.T) {
	im := pushImages(t)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			needEngine(t, e.name)
			t.Cleanup(func() { e.removeImages(im.server, im.busybox, im.nginx, im.curl) })
			left := removeOnFailure(t, e)
			c := startContainerStack(t, e.name, im.host, api.VirtContainer)
			containerServices(t, c, e, im, left)
			clientServerExample(t, c, e, im, left)
		})
	}
}

// containerServices deploys a web server, three jobs and a service with a
// wrong image, checks each and deletes them all.
func containerServices(t *testing.T, c *api.Client, e containerEngine, im testImages, left *leftovers) {
	ctx := context.Background()
	port := freeHostPort(t)
	missing := im.host + "/hedge-e2e/nosuch:v1"
	jobCmd := []string{"sh", "-c"}
	apps, svcs := submitSLA(t, c, slaOf(map[string][]msvc{
		"web": {{
			"microservice_name": "web", "virtualization": "container", "code": im.server,
			"port": fmt.Sprintf("%d:9090", port), "memory": 64, "vcpus": 0.5,
			// The server listens on $PORT: if the environment did not
			// reach it, nothing would answer on the published port.
			"environment": []string{"PORT=9090"},
		}},
		"jobs": {
			// cmd replaces the image's command and args follow it: sh -c
			// SCRIPT first second, so $0 and $1 are the args.
			{"microservice_name": "ok", "virtualization": "container", "code": im.busybox, "one_shot": true,
				"cmd": jobCmd, "args": []string{`echo "args=$0,$1 greeting=$GREETING"; echo done; exit 0`, "first", "second"},
				"environment": []string{"GREETING=hello"}},
			{"microservice_name": "failnever", "virtualization": "container", "code": im.busybox, "one_shot": true,
				"restart_policy": "never", "cmd": []string{"sh", "-c", "echo failing; exit 3"}},
			{"microservice_name": "crashloop", "virtualization": "container", "code": im.busybox,
				"cmd": []string{"sh", "-c", "echo crashing; exit 3"}},
		},
		"broken": {{"microservice_name": "broken", "virtualization": "container", "code": missing}},
	}))
	left.add(svcs)
	var ids []string

	web := waitInstance(t, c, svcs["web"].ID, "web RUNNING", inState(api.StateRunning))
	ids = append(ids, web.ID)
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.HasPrefix(got, "hello from ") {
		t.Errorf("web on host port %d answered %q, want the server's hello", port, got)
	}
	waitServiceLogs(t, c, svcs["web"].ID, "listening on :9090")
	if web.PID <= 0 {
		t.Errorf("web instance reports pid %d, want the container's process", web.PID)
	} else if got := memoryLimit(t, web.PID); got != strconv.Itoa(64<<20) {
		t.Errorf("web's cgroup memory limit = %s, want %d (memory: 64 MB)", got, 64<<20)
	}
	if n := e.labelled(t, web.ID); n != 1 {
		t.Errorf("%s holds %d containers labelled hedge.instance=%s, want 1", e.name, n, web.ID)
	}

	ok := waitInstance(t, c, svcs["ok"].ID, "one_shot job COMPLETED", inState(api.StateCompleted))
	ids = append(ids, ok.ID)
	if ok.ExitCode == nil || *ok.ExitCode != 0 {
		t.Errorf("completed job's exit code = %s, want 0", exitCode(ok))
	}
	waitServiceLogs(t, c, svcs["ok"].ID, "args=first,second greeting=hello", "done")

	failed := waitInstance(t, c, svcs["failnever"].ID, "job with restart_policy never FAILED", inState(api.StateFailed))
	ids = append(ids, failed.ID)
	if failed.ExitCode == nil || *failed.ExitCode != 3 || !strings.Contains(failed.Reason, "3") {
		t.Errorf("failed job: exit code %s, reason %q; want 3 and a reason that says so", exitCode(failed), failed.Reason)
	}
	if failed.Restarts != 0 {
		t.Errorf("job with restart_policy never was restarted %d times", failed.Restarts)
	}

	// Every failure of the crashing service is its exit: a restart must not
	// fail on what the previous run left (e.g. "already running").
	var otherFailures []string
	loop := waitInstance(t, c, svcs["crashloop"].ID, "a crashing service restarted twice", func(in api.Instance) bool {
		if in.Status == api.StateFailed && !strings.Contains(in.Reason, "code 3") {
			otherFailures = append(otherFailures, in.Reason)
		}
		return in.Restarts >= 2
	})
	ids = append(ids, loop.ID)
	if len(otherFailures) > 0 {
		t.Errorf("crashing service failed otherwise than by its exit: %q", otherFailures)
	}
	waitInstance(t, c, svcs["crashloop"].ID, "the crash's exit code 3", func(in api.Instance) bool {
		return in.ExitCode != nil && *in.ExitCode == 3
	})

	broken := waitInstance(t, c, svcs["broken"].ID, "a wrong image to FAILED with a reason", func(in api.Instance) bool {
		return in.Status == api.StateFailed && in.Reason != ""
	})
	ids = append(ids, broken.ID)
	if !strings.Contains(broken.Reason, missing) && !strings.Contains(strings.ToLower(broken.Reason), "not found") {
		t.Errorf("wrong image failed with reason %q, want it to name %s or say not found", broken.Reason, missing)
	}

	if held := e.objects(t, ids); len(held) == 0 {
		t.Fatalf("%s holds nothing of instances %v while they exist: the leftover check below would prove nothing", e.name, ids)
	}
	deleteAll(t, c, e, apps, ids)
	if _, err := c.GetService(ctx, svcs["web"].ID); err == nil {
		t.Error("web service still exists after its application was deleted")
	}
}

// deleteAll deletes the applications and waits until the engine holds no
// container, task or snapshot of the instances.
func deleteAll(t *testing.T, c *api.Client, e containerEngine, apps, instanceIDs []string) {
	t.Helper()
	for _, id := range apps {
		if err := c.DeleteApplication(context.Background(), id); err != nil {
			t.Fatalf("delete application %s: %v", id, err)
		}
	}
	eventually(t, 45*time.Second, e.name+" to hold nothing of the deleted instances", func() (bool, string) {
		held := e.objects(t, instanceIDs)
		return len(held) == 0, strings.Join(held, ", ")
	})
}

// clientServerExample deploys Oakestra's examples/oakestra/clientsrvr.json
// as it is, apart from its image references, which point to the test
// registry: nginx is the test server (listening on :80) and curlimages/curl is
// busybox. The curl service's command is left as it is: busybox has no curl,
// so it prints "curl: not found", sleeps 5 s and exits 0, and is restarted
// (the example sets no one_shot); that it reaches RUNNING and its shell's
// output comes back shows the example's cmd runs in its container. Oakestra's
// service IP (rr_ip) is not routed by Hedge, so the client could not reach
// the server at 10.30.55.55 anyway.
func clientServerExample(t *testing.T, c *api.Client, e containerEngine, im testImages, left *leftovers) {
	b, err := os.ReadFile(filepath.Join("testdata", "clientsrvr.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte(`"docker.io/`)); n != 2 {
		t.Fatalf("clientsrvr.json names %d docker.io images, want 2 (nginx and curl)", n)
	}
	body := bytes.ReplaceAll(b, []byte(`"docker.io/`), []byte(`"`+im.host+"/"))
	apps, svcs := submitSLA(t, c, body)
	left.add(svcs)
	nginx := waitInstance(t, c, svcs["nginx"].ID, "nginx RUNNING", inState(api.StateRunning))
	if got := httpGet(t, "http://127.0.0.1:80/"); !strings.HasPrefix(got, "hello from ") {
		t.Errorf("nginx on host port 80 answered %q", got)
	}
	curl := waitInstance(t, c, svcs["curl"].ID, "curl RUNNING", func(in api.Instance) bool {
		return in.Status == api.StateRunning || in.Restarts > 0
	})
	waitServiceLogs(t, c, svcs["curl"].ID, "curl: not found")
	deleteAll(t, c, e, apps, []string{nginx.ID, curl.ID})
}

// TestE2EContainerManyOnOneWorker runs ten containers on one worker and
// watches them for a while: the worker must keep reporting (its node stays
// READY) and none of them may be moved or restarted. Each report samples
// every instance's usage, so a runtime whose usage probe is slow must not
// hold the reports back.
func TestE2EContainerManyOnOneWorker(t *testing.T) {
	const n = 10
	reg := imagetest.StartRegistry(t)
	busybox := reg.PushBusybox(t, "hedge-e2e/busybox", "many")
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			needEngine(t, e.name)
			t.Cleanup(func() { e.removeImages(busybox) })
			left := removeOnFailure(t, e)
			c := startContainerStack(t, e.name, reg.Host(), api.VirtContainer)
			ctx := context.Background()
			apps, svcs := submitSLA(t, c, slaOf(map[string][]msvc{"many": {{
				"microservice_name": "sleeper", "virtualization": "container", "code": busybox, "instances": n,
				"cmd": []string{"sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"}, "memory": 16,
			}}}))
			left.add(svcs)
			id := svcs["sleeper"].ID
			s := waitRunningFor(t, c, id, n, time.Minute)
			// The worker samples usage every 3 s: 10 s covers three rounds.
			until := time.Now().Add(10 * time.Second)
			for time.Now().Before(until) {
				ns, err := c.ListNodes(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, nd := range ns {
					if nd.State != api.NodeReady {
						t.Fatalf("node %s is %s with %d containers: the worker stopped reporting", nd.Name, nd.State, n)
					}
				}
				now := service(t, c, id)
				for i, in := range now.Instances {
					if in.Status != api.StateRunning || in.Restarts != 0 || in.ID != s.Instances[i].ID {
						t.Fatalf("instance %d is %s (restarts %d, id %s, was %s): want all %d left running",
							i, in.Status, in.Restarts, in.ID, s.Instances[i].ID, n)
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			var ids []string
			for _, in := range s.Instances {
				ids = append(ids, in.ID)
			}
			deleteAll(t, c, e, apps, ids)
		})
	}
}

// waitRunningFor waits until the service has n instances, all RUNNING.
func waitRunningFor(t *testing.T, c *api.Client, id string, n int, timeout time.Duration) api.Service {
	t.Helper()
	var s api.Service
	eventually(t, timeout, fmt.Sprintf("%d RUNNING instances", n), func() (bool, string) {
		s = service(t, c, id)
		running := 0
		for _, in := range s.Instances {
			if in.Status == api.StateRunning {
				running++
			}
		}
		return len(s.Instances) == n && running == n, states(s)
	})
	return s
}
