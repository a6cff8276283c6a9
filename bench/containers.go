package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/hedgeorch/hedge/api"
)

// containersN is how many containers the containers scenario starts per
// engine, through Hedge and through the engine's own CLI each. Its own flag,
// because -n is sized for process latency (100) and a container is costlier.
var containersN = flag.Int("containers-n", 10, "containers: containers started per engine, through Hedge and bare each")

// Target from the issue that asked for container runtimes: Hedge's start
// latency within 1.2x of the bare engine's.
const targetContainerRatio = 1.2

// containerMemoryMB is the memory limit of every container the scenario
// starts, through Hedge and bare alike, so that both do the same cgroup work.
const containerMemoryMB = 16

// containerPoll is the shortest polling period of the containers scenario: a
// container takes hundreds of ms to start, so 10 ms is fine enough, and
// polling faster would take CPU from the worker, in the same process, on a
// small machine.
const containerPoll = 10 * time.Millisecond

// containerScript is what every container of the scenario runs: it costs
// nothing and ends within a second of SIGTERM (a plain sleep, as the
// container's PID 1, would ignore it and make every removal wait for the
// stop grace).
const containerScript = "trap 'exit 0' TERM; while :; do sleep 1; done"

// busyboxBinary is where Debian's busybox-static installs its binary: the
// image's only file.
const busyboxBinary = "/bin/busybox"

// bareEngine is a container engine driven through its own CLI, as a user
// would start a container without Hedge.
type bareEngine struct {
	name string
	// probe succeeds when the daemon answers.
	probe []string
	// run starts container name of image ref, detached, and returns once
	// it runs (`ctr run -d`, `docker run -d`).
	run func(ctx context.Context, ref, name, marker string) error
	// remove force-removes the containers (and their tasks and
	// snapshots).
	remove func(names []string) error
	// removeImage deletes the image, which Hedge's drivers keep.
	removeImage func(ref string) error
}

// containerEngines are the engines the scenario compares Hedge with. Hedge's
// containerd driver keeps its images in the "hedge" namespace: `ctr run`
// uses that namespace, so that both start from the same, present image.
var containerEngines = []bareEngine{
	{
		name:  "containerd",
		probe: []string{"ctr", "version"},
		run: func(ctx context.Context, ref, name, marker string) error {
			return command(ctx, "ctr", "-n", "hedge", "run", "-d", "--memory-limit", strconv.Itoa(containerMemoryMB<<20),
				"--env", marker, ref, name, "sh", "-c", containerScript)
		},
		remove: func(names []string) error {
			var errs []error
			for _, n := range names {
				// `task rm -f` kills and deletes the task, `containers rm`
				// the container with its snapshot.
				_ = command(context.Background(), "ctr", "-n", "hedge", "tasks", "rm", "-f", n)
				errs = append(errs, command(context.Background(), "ctr", "-n", "hedge", "containers", "rm", n))
			}
			return errors.Join(errs...)
		},
		removeImage: func(ref string) error {
			return command(context.Background(), "ctr", "-n", "hedge", "images", "rm", ref)
		},
	},
	{
		name:  "docker",
		probe: []string{"docker", "info"},
		run: func(ctx context.Context, ref, name, marker string) error {
			return command(ctx, "docker", "run", "-d", "--name", name, "--memory", fmt.Sprintf("%dm", containerMemoryMB),
				"--env", marker, ref, "sh", "-c", containerScript)
		},
		remove: func(names []string) error {
			if len(names) == 0 {
				return nil
			}
			return command(context.Background(), "docker", append([]string{"rm", "-f"}, names...)...)
		},
		removeImage: func(ref string) error {
			return command(context.Background(), "docker", "rmi", ref)
		},
	},
}

// command runs a CLI and returns its output in the error when it fails.
func command(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// containers measures the start latency of a container whose image is
// already present, per engine: through Hedge (`hedge up --container-runtime
// X`, from just before the POST of the SLA to the first GET that shows the
// instance RUNNING) and through the engine's CLI (`ctr run -d`, `docker run
// -d`, from exec to exit), the two alternating in the same run. An engine
// whose daemon does not answer is skipped with a warning.
func containers(ctx context.Context, l *lab, cfg config) ([]figure, error) {
	ref, stop, err := pushSleepImage(l.marker)
	if err != nil {
		return nil, err
	}
	defer stop()
	var figs []figure
	var errs []error
	for _, e := range containerEngines {
		if err := command(ctx, e.probe[0], e.probe[1:]...); err != nil {
			l.log.Warn("container engine not running; skipped", "engine", e.name, "err", err)
			continue
		}
		f, err := containersOn(ctx, l, cfg, e, ref)
		figs = append(figs, f...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.name, err))
		}
		if err := e.removeImage(ref); err != nil {
			l.log.Debug("remove the bench image", "engine", e.name, "err", err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return figs, errors.Join(errs...)
}

// containersOn measures one engine. Each sample starts from the same state,
// nothing of the bench running: a container through Hedge, then the same
// through the engine's CLI, then both are removed.
func containersOn(ctx context.Context, l *lab, cfg config, e bareEngine, ref string) (figs []figure, err error) {
	scenario := "containers " + e.name
	d, err := l.startUpWith(ctx, "ctr-"+e.name, "--container-runtime", e.name, "--metrics-addr", "")
	if err != nil {
		return nil, err
	}
	defer d.stop()
	// The bare containers carry a marker of their own: deleteApps waits
	// until no process with the run's marker is left.
	bareMarker := "HEDGE_BENCH_BARE=" + strings.TrimPrefix(l.marker, "HEDGE_BENCH_RUN=")
	var apps, instances, bare []string
	cleanup := func() error {
		err := errors.Join(e.remove(bare), l.deleteApps(d, apps, instances, nil))
		apps, instances, bare = nil, nil, nil
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()

	var hedge, started, cli []time.Duration
	// Sample -1 pulls the image through Hedge and warms the CLI; it is not
	// counted.
	for i := -1; i < *containersN; i++ {
		app := "ctrwarmup"
		if i >= 0 {
			app = fmt.Sprintf("ctr%03d", i)
		}
		t0 := time.Now()
		res, err := d.client.SubmitSLA(ctx, containerSLA(app, ref, l.marker), "application/json")
		if err != nil {
			return nil, fmt.Errorf("submit SLA %d: %w", i, err)
		}
		apps = append(apps, res.Applications[0].ID)
		svc, err := waitRunning(ctx, d.client, res.Services[0].ID, 1, max(cfg.pollPeriod, containerPoll), time.Minute)
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w (instance reason: %s)", i, err, reasons(svc))
		}
		took := time.Since(t0)
		in := svc.Instances[0]
		instances = append(instances, in.ID)

		name := fmt.Sprintf("hedge-bench-%s-%d", strings.TrimPrefix(l.marker, "HEDGE_BENCH_RUN="), i+1)
		b0 := time.Now()
		err = e.run(ctx, ref, name, bareMarker)
		bareTook := time.Since(b0)
		bare = append(bare, name) // it may exist even when the CLI failed
		if err != nil {
			return nil, err
		}
		if err := cleanup(); err != nil {
			return nil, err
		}
		if i < 0 {
			continue
		}
		hedge, cli = append(hedge, took), append(cli, bareTook)
		if in.StartedAt != nil {
			started = append(started, in.StartedAt.Sub(t0))
		}
	}

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	bareName := map[string]string{"containerd": "ctr run -d", "docker": "docker run -d"}[e.name]
	hp, bp := percentile(hedge, 50), percentile(cli, 50)
	figs = []figure{
		{Scenario: scenario, Name: "Hedge submit->RUNNING p50", Value: ms(hp), Unit: "ms"},
		{Scenario: scenario, Name: "Hedge submit->RUNNING p90", Value: ms(percentile(hedge, 90)), Unit: "ms"},
	}
	if len(started) == len(hedge) {
		figs = append(figs, figure{Scenario: scenario, Name: "Hedge submit->container started p50", Value: ms(percentile(started, 50)), Unit: "ms"})
	}
	return append(figs,
		figure{Scenario: scenario, Name: bareName + " p50", Value: ms(bp), Unit: "ms"},
		figure{Scenario: scenario, Name: bareName + " p90", Value: ms(percentile(cli, 90)), Unit: "ms"},
		figure{Scenario: scenario, Name: "Hedge / " + bareName + " (p50)", Value: float64(hp) / float64(bp), Unit: "x", Max: targetContainerRatio},
		figure{Scenario: scenario, Name: "containers measured (each)", Value: float64(len(hedge)), Unit: ""},
	), nil
}

// reasons lists the reasons of a service's instances, to explain a start
// that did not come.
func reasons(s api.Service) string {
	var out []string
	for _, in := range s.Instances {
		out = append(out, fmt.Sprintf("%s %q", in.Status, in.Reason))
	}
	return strings.Join(out, ", ")
}

// startUpWith runs `hedge up` with extra arguments and waits until its node
// is READY.
func (l *lab) startUpWith(ctx context.Context, name string, extra ...string) (*deployment, error) {
	pw := randomHex(12)
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	clusterAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"up", "--data-dir", filepath.Join(l.dir, name), "--api-addr", apiAddr,
		"--cluster-addr", clusterAddr, "--name", name}, extra...)
	up, err := l.start("up", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, args...)
	if err != nil {
		return nil, err
	}
	d := &deployment{tiers: []*server{up}}
	if d.client, err = login(ctx, up, "https://"+apiAddr, pw, filepath.Join(l.dir, name)); err != nil {
		return nil, err
	}
	return d, d.waitNodes(ctx, 1)
}

// containerSLA is an SLA with one container service running containerScript
// from image ref, carrying marker in its environment.
func containerSLA(app, ref, marker string) []byte {
	ms := map[string]any{
		"microservice_name":      "sleeper",
		"microservice_namespace": "bench",
		"virtualization":         api.VirtContainer,
		"code":                   ref,
		"cmd":                    []string{"sh", "-c", containerScript},
		"environment":            []string{marker},
		"memory":                 containerMemoryMB,
	}
	sla := map[string]any{
		"sla_version": "v2.0",
		"customerID":  "Admin",
		"applications": []any{map[string]any{
			"application_name":      app,
			"application_namespace": "bench",
			"application_desc":      "hedge bench",
			"microservices":         []any{ms},
		}},
	}
	b, _ := json.Marshal(sla) // maps of strings and numbers always encode
	return b
}

// pushSleepImage starts an in-process registry on 127.0.0.1 (engines reach
// loopback registries over plain HTTP without configuration) and pushes an
// image whose only layer is the host's busybox-static, with sh and sleep as
// links to it. It returns the image's reference and a function that stops
// the registry.
func pushSleepImage(marker string) (string, func(), error) {
	bin, err := os.ReadFile(busyboxBinary)
	if err != nil {
		return "", nil, fmt.Errorf("the bench image is busybox-static: %w (apt-get install busybox-static)", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
		{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))},
		{Name: "bin/sleep", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777},
		{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777},
	}
	for _, h := range entries {
		h.ModTime = time.Unix(0, 0)
		if err := tw.WriteHeader(h); err != nil {
			return "", nil, fmt.Errorf("bench image: %w", err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(bin); err != nil {
				return "", nil, fmt.Errorf("bench image: %w", err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return "", nil, fmt.Errorf("bench image: %w", err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		return "", nil, fmt.Errorf("bench image: %w", err)
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: goruntime.GOARCH, OS: "linux",
		Config: v1.Config{Cmd: []string{"sh", "-c", containerScript}, Env: []string{"PATH=/bin"}},
	})
	if err == nil {
		img, err = mutate.AppendLayers(img, layer)
	}
	if err != nil {
		return "", nil, fmt.Errorf("bench image: %w", err)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	// The tag is the run's: an image of an earlier run on the same port
	// cannot stand in for this one.
	ref := strings.TrimPrefix(srv.URL, "http://") + "/hedge-bench/sleep:" + strings.TrimPrefix(marker, "HEDGE_BENCH_RUN=")
	tag, err := gcrname.ParseReference(ref, gcrname.Insecure)
	if err == nil {
		err = remote.Write(tag, img)
	}
	if err != nil {
		srv.Close()
		return "", nil, fmt.Errorf("push the bench image %s: %w", ref, err)
	}
	return ref, srv.Close, nil
}
