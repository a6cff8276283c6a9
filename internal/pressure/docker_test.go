package pressure

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// The tests below need a Docker daemon (CI installs docker.io and starts
// dockerd). They skip only when none is configured on the machine; a daemon
// that is there but does not answer fails them. Every container they make
// carries a label unique to the test, and the actuator is scoped to it
// (DockerOptions.Only), so tests of other packages sharing the daemon are
// never touched.

func dockerPresent() bool {
	if os.Getenv("DOCKER_HOST") != "" {
		return true
	}
	_, err := os.Stat("/var/run/docker.sock")
	return err == nil
}

// dockerEnv is a test's view of the daemon: a client, a busybox image and
// the label that scopes the test's containers.
type dockerEnv struct {
	cli   *client.Client
	image string
	scope map[string]string
}

func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	if !dockerPresent() {
		t.Skip("no Docker daemon on this machine (no $DOCKER_HOST, no /var/run/docker.sock)")
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	env := &dockerEnv{cli: cli, scope: map[string]string{"hedge.test": "pressure-" + hex.EncodeToString(b[:])}}
	t.Cleanup(func() {
		res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "hedge.test="+env.scope["hedge.test"])})
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, c := range res.Items {
			if _, err := cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
				t.Errorf("cleanup: remove %s: %v", c.ID, err)
			}
		}
		_ = cli.Close()
	})
	env.image = importBusybox(t, cli)
	return env
}

// importBusybox imports an image holding busybox-static and returns its
// reference.
func importBusybox(t *testing.T, cli *client.Client) string {
	t.Helper()
	const ref = "hedge-test/pressure-busybox:dev"
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed to build the test image (apt-get install busybox-static): %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	_, _ = tw.Write(bb)
	for _, c := range []string{"sh", "sleep"} {
		_ = tw.WriteHeader(&tar.Header{Name: "bin/" + c, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	_ = tw.Close()
	res, err := cli.ImageImport(context.Background(), client.ImageImportSource{Source: &buf, SourceName: "-"}, ref, client.ImageImportOptions{Changes: []string{"ENV PATH=/bin"}})
	if err != nil {
		t.Fatalf("import image: %v", err)
	}
	defer res.Close()
	_, _ = bytes.NewBuffer(nil).ReadFrom(res)
	return ref
}

// run starts a sleeping container with labels (plus the scope) and
// resources, and returns its ID.
func (e *dockerEnv) run(t *testing.T, name string, labels map[string]string, res container.Resources, cmd ...string) string {
	t.Helper()
	all := map[string]string{}
	for k, v := range e.scope {
		all[k] = v
	}
	for k, v := range labels {
		all[k] = v
	}
	if len(cmd) == 0 {
		cmd = []string{"sleep", "3600"}
	}
	// Stop at once on SIGTERM: sleep as PID 1 would ignore it.
	cmd = append([]string{"sh", "-c", `trap "exit 0" TERM; "$@" & wait`, "sh"}, cmd...)
	ctx := context.Background()
	created, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       e.scope["hedge.test"] + "-" + name,
		Config:     &container.Config{Image: e.image, Cmd: cmd, Labels: all},
		HostConfig: &container.HostConfig{Resources: res},
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := e.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return created.ID
}

func (e *dockerEnv) name(n string) string { return e.scope["hedge.test"] + "-" + n }

func (e *dockerEnv) inspect(t *testing.T, id string) container.InspectResponse {
	t.Helper()
	res, err := e.cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return res.Container
}

func (e *dockerEnv) limitsOf(t *testing.T, id string) limits {
	t.Helper()
	return limitsOf(e.inspect(t, id).HostConfig.Resources)
}

func (e *dockerEnv) running(t *testing.T, id string) bool {
	t.Helper()
	return e.inspect(t, id).State.Running
}

// logBuffer collects what the actuator logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

const mib = 1 << 20

func TestDockerActuatorLimitEvictRestore(t *testing.T) {
	env := newDockerEnv(t)
	ctx := context.Background()
	lowLimits := container.Resources{NanoCPUs: 1_500_000_000, Memory: 768 * mib}
	low := env.run(t, "low", nil, lowLimits) // priority 0 by default
	high := env.run(t, "high", map[string]string{LabelPriority: "10"}, container.Resources{})
	// Lower priorities than low's, but never to be touched.
	exempt := env.run(t, "exempt", map[string]string{LabelPriority: "-5", LabelPressure: PressureExempt}, container.Resources{})
	monitor := env.run(t, "monitor", map[string]string{LabelPriority: "-9", LabelRole: RoleMonitoring}, container.Resources{})
	exporter := env.run(t, "exporter", map[string]string{LabelPriority: "-9"}, container.Resources{}, "sh", "-c", "exec sleep 3600", "glances")
	untouched := []string{exempt, monitor, exporter}
	before := map[string]limits{}
	for _, id := range append([]string{low, high}, untouched...) {
		before[id] = env.limitsOf(t, id)
	}

	logs := &logBuffer{}
	a, err := NewDockerActuator(ctx, DockerOptions{
		CPUs: 0.5, MemoryBytes: 256 * mib, StopTimeout: 5 * time.Second, Only: env.scope,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatalf("NewDockerActuator: %v", err)
	}
	defer a.Close()

	// Limit: only the lowest priority, tightened.
	if err := a.Limit(ctx, "gimli"); err != nil {
		t.Fatalf("Limit: %v", err)
	}
	want := limits{NanoCPUs: 500_000_000, Memory: 256 * mib, MemorySwap: 256 * mib}
	if got := env.limitsOf(t, low); got != want {
		t.Errorf("low after Limit = %+v, want %+v", got, want)
	}
	for _, id := range append([]string{high}, untouched...) {
		if got := env.limitsOf(t, id); got != before[id] {
			t.Errorf("%s after Limit = %+v, want it unchanged %+v", env.inspect(t, id).Name, got, before[id])
		}
	}
	if err := a.Limit(ctx, "gimli"); err != nil { // idempotent
		t.Fatalf("second Limit: %v", err)
	}
	if err := a.Taint(ctx, "gimli"); err != nil {
		t.Fatalf("Taint: %v", err)
	}

	// Evict: low first, then high, then nothing (the rest is exempt).
	for _, want := range []string{env.name("low"), env.name("high"), ""} {
		got, err := a.Evict(ctx, "gimli")
		if err != nil || got != want {
			t.Fatalf("Evict = %q, %v; want %q", got, err, want)
		}
	}
	if env.running(t, low) || env.running(t, high) {
		t.Errorf("evicted containers still run: low %v, high %v", env.running(t, low), env.running(t, high))
	}
	for _, id := range untouched {
		if !env.running(t, id) {
			t.Errorf("%s was stopped; it must never be", env.inspect(t, id).Name)
		}
	}

	// Restore: both run again, low with its old limits.
	if err := a.Restore(ctx, "gimli"); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !env.running(t, low) || !env.running(t, high) {
		t.Errorf("after Restore: low running %v, high running %v; want both", env.running(t, low), env.running(t, high))
	}
	for _, id := range []string{low, high} {
		if got := env.limitsOf(t, id); got != before[id] {
			t.Errorf("%s after Restore = %+v, want its old limits %+v", env.inspect(t, id).Name, got, before[id])
		}
	}
	if err := a.Restore(ctx, "gimli"); err != nil { // nothing left to do
		t.Fatalf("second Restore: %v", err)
	}
	for _, w := range []string{"container limited", "container evicted", "evicted container started again", "container limits restored", env.name("low")} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("actuator log lacks %q:\n%s", w, logs.String())
		}
	}
}

func TestDockerActuatorLimitShapes(t *testing.T) {
	env := newDockerEnv(t)
	ctx := context.Background()
	a, err := NewDockerActuator(ctx, DockerOptions{CPUs: 0.5, MemoryBytes: 256 * mib, Only: env.scope})
	if err != nil {
		t.Fatalf("NewDockerActuator: %v", err)
	}
	defer a.Close()
	info, err := env.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	host := info.Info.MemTotal
	tests := []struct {
		name     string
		res      container.Resources
		limited  limits
		restored limits
	}{
		{
			name:    "no limits: a quota, lifted again with -1; memory comes back as the host's",
			res:     container.Resources{},
			limited: limits{CPUQuota: 50_000, CPUPeriod: 100_000, Memory: 256 * mib, MemorySwap: 256 * mib},
			// The Engine API cannot set "no memory limit" again.
			restored: limits{CPUQuota: -1, CPUPeriod: 100_000, Memory: host, MemorySwap: -1},
		},
		{
			name:     "a CPU quota stays a quota",
			res:      container.Resources{CPUQuota: 150_000, CPUPeriod: 100_000, Memory: 512 * mib, MemorySwap: -1},
			limited:  limits{CPUQuota: 50_000, CPUPeriod: 100_000, Memory: 256 * mib, MemorySwap: 256 * mib},
			restored: limits{CPUQuota: 150_000, CPUPeriod: 100_000, Memory: 512 * mib, MemorySwap: -1},
		},
		{
			name:     "tighter limits are never loosened",
			res:      container.Resources{NanoCPUs: 250_000_000, Memory: 128 * mib},
			limited:  limits{NanoCPUs: 250_000_000, Memory: 128 * mib, MemorySwap: 256 * mib},
			restored: limits{NanoCPUs: 250_000_000, Memory: 128 * mib, MemorySwap: 256 * mib},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := env.run(t, "shape", nil, tt.res)
			defer func() {
				_, _ = env.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
			}()
			if err := a.Limit(ctx, "edge"); err != nil {
				t.Fatalf("Limit: %v", err)
			}
			if got := env.limitsOf(t, id); got != tt.limited {
				t.Errorf("after Limit = %+v, want %+v", got, tt.limited)
			}
			if err := a.Restore(ctx, "edge"); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if got := env.limitsOf(t, id); got != tt.restored {
				t.Errorf("after Restore = %+v, want %+v", got, tt.restored)
			}
		})
	}
}

func TestDockerActuatorForgetsRemovedContainers(t *testing.T) {
	env := newDockerEnv(t)
	ctx := context.Background()
	a, err := NewDockerActuator(ctx, DockerOptions{Only: env.scope, StopTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("NewDockerActuator: %v", err)
	}
	defer a.Close()
	id := env.run(t, "gone", nil, container.Resources{})
	if err := a.Limit(ctx, "edge"); err != nil {
		t.Fatalf("Limit: %v", err)
	}
	if got, err := a.Evict(ctx, "edge"); err != nil || got != env.name("gone") {
		t.Fatalf("Evict = %q, %v", got, err)
	}
	if _, err := env.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(ctx, "edge"); err != nil {
		t.Fatalf("Restore with the container gone = %v, want nil", err)
	}
	if len(a.saved) != 0 || len(a.stopped) != 0 {
		t.Errorf("actuator still remembers %d limits, %d stopped containers", len(a.saved), len(a.stopped))
	}
}

func TestUnitDockerActuatorRejectsBadLimits(t *testing.T) {
	for _, opts := range []DockerOptions{{CPUs: -1}, {MemoryBytes: 1 << 20}} {
		if _, err := NewDockerActuator(context.Background(), opts); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewDockerActuator(%+v) = %v, want ErrInvalid", opts, err)
		}
	}
}

func TestDockerActuatorUnreachableDaemon(t *testing.T) {
	_, err := NewDockerActuator(context.Background(), DockerOptions{Host: "unix:///nonexistent/docker.sock"})
	if err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Errorf("NewDockerActuator on a missing socket = %v, want an error naming it", err)
	}
}

func TestUnitIsMonitoring(t *testing.T) {
	tests := []struct {
		name           string
		labels         map[string]string
		image, command string
		want           bool
	}{
		{name: "labelled", labels: map[string]string{LabelRole: RoleMonitoring}, image: "busybox", want: true},
		{name: "glances image", image: "nicolargo/glances:latest", want: true},
		{name: "fractal exporter runs glances", image: "metrics-exporter", command: "/bin/sh -c glances -w", want: true},
		{name: "ordinary", labels: map[string]string{LabelRole: "web"}, image: "nginx", command: "nginx -g daemon off;", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isMonitoring(tt.labels, tt.image, tt.command); got != tt.want {
				t.Errorf("isMonitoring = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDockerActuatorStateSurvivesARestart: with a state file, an actuator
// built after the first one is gone (a cluster restarted) knows what is
// left to restore, and restores it: the old limits and the stopped
// container.
func TestDockerActuatorStateSurvivesARestart(t *testing.T) {
	env := newDockerEnv(t)
	ctx := context.Background()
	low := env.run(t, "low", nil, container.Resources{NanoCPUs: 1_500_000_000, Memory: 768 * mib})
	other := env.run(t, "other", map[string]string{LabelPriority: "5"}, container.Resources{})
	before, beforeOther := env.limitsOf(t, low), env.limitsOf(t, other)
	state := filepath.Join(t.TempDir(), "docker-state.json")
	opts := DockerOptions{CPUs: 0.5, MemoryBytes: 256 * mib, StopTimeout: 5 * time.Second, Only: env.scope, StateFile: state}

	first, err := NewDockerActuator(ctx, opts)
	if err != nil {
		t.Fatalf("NewDockerActuator: %v", err)
	}
	if first.RestorePending("gimli") {
		t.Fatal("a fresh actuator has something to restore")
	}
	if err := first.Limit(ctx, "gimli"); err != nil {
		t.Fatalf("Limit: %v", err)
	}
	if got, err := first.Evict(ctx, "gimli"); err != nil || got != env.name("low") {
		t.Fatalf("Evict = %q, %v", got, err)
	}
	first.Close()

	second, err := NewDockerActuator(ctx, opts)
	if err != nil {
		t.Fatalf("NewDockerActuator after the restart: %v", err)
	}
	defer second.Close()
	if !second.RestorePending("gimli") {
		t.Fatal("after a restart the actuator forgot what it changed")
	}
	if err := second.Restore(ctx, "gimli"); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !env.running(t, low) || env.limitsOf(t, low) != before || env.limitsOf(t, other) != beforeOther {
		t.Errorf("after Restore: low running %v with %+v, want its old %+v", env.running(t, low), env.limitsOf(t, low), before)
	}
	if second.RestorePending("gimli") {
		t.Error("still pending after Restore")
	}

	// A state file that is not JSON is an error naming it, not a silent
	// fresh start.
	if err := os.WriteFile(state, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDockerActuator(ctx, opts); err == nil || !strings.Contains(err.Error(), state) {
		t.Errorf("corrupt state file: err = %v, want one naming %s", err, state)
	}
}
