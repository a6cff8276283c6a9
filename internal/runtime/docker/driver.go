package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
)

// Options configure a Driver.
type Options struct {
	// Host is the daemon's address (default $DOCKER_HOST, else
	// unix:///var/run/docker.sock).
	Host string
	// OnProgress is told how an image pull is going.
	OnProgress runtime.ProgressFunc
	Logger     *slog.Logger
	// DataDir holds instances/<id>/ (added files). Required.
	DataDir string
	// RegistryConfig is a Docker-style config.json whose credentials are
	// used for pulls (default: none, anonymous pulls).
	RegistryConfig string
	// PullPolicy is runtime.PullIfNotPresent (default), PullAlways or
	// PullNever.
	PullPolicy string
	// HTTPClient downloads added files given as URLs (default: a client
	// with a 10-minute timeout).
	HTTPClient *http.Client
}

var (
	_ runtime.Driver        = (*Driver)(nil)
	_ runtime.UsageReporter = (*Driver)(nil)
	_ runtime.Engine        = (*Driver)(nil)
)

// Driver runs instances as Docker containers. It implements runtime.Driver,
// runtime.UsageReporter and runtime.Engine.
type Driver struct {
	cli        *client.Client
	dataDir    string
	owner      string
	onProgress runtime.ProgressFunc
	log        *slog.Logger
	pullPolicy string
	auth       *credentials
	http       *http.Client
	ownHTTP    bool
	// netMu serializes making the Docker networks of the instance network.
	netMu sync.Mutex
	// fwd opens FORWARD for the instance network's bridges.
	fwd runtime.Forwarder

	// ctx lives as long as the driver; Close cancels it, which ends every
	// Wait.
	ctx    context.Context
	cancel context.CancelFunc

	tasks runtime.Tasks[*task]
}

// New connects to the daemon and negotiates the API version with it. It fails
// with an error wrapping runtime.ErrUnavailable when the daemon does not
// answer.
func New(ctx context.Context, opts Options) (*Driver, error) {
	dataDir, policy, err := runtime.EngineOptions(opts.DataDir, opts.PullPolicy)
	if err != nil {
		return nil, fmt.Errorf("docker driver: %w", err)
	}
	auth, err := loadCredentials(opts.RegistryConfig)
	if err != nil {
		return nil, fmt.Errorf("docker driver: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "instances"), 0o755); err != nil {
		return nil, fmt.Errorf("docker driver: %w", err)
	}

	clientOpts := []client.Opt{client.FromEnv}
	if opts.Host != "" {
		clientOpts = append(clientOpts, client.WithHost(opts.Host))
	}
	cli, err := client.New(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("docker driver: %w", err)
	}
	pingCtx, cancelPing := context.WithTimeout(ctx, 10*time.Second)
	ping, err := cli.Ping(pingCtx, client.PingOptions{NegotiateAPIVersion: true})
	cancelPing()
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("docker driver: daemon at %s: %w: %w", cli.DaemonHost(), runtime.ErrUnavailable, err)
	}

	sum := sha256.Sum256([]byte(dataDir))
	d := &Driver{
		cli:        cli,
		dataDir:    dataDir,
		owner:      hex.EncodeToString(sum[:4]),
		onProgress: opts.OnProgress,
		log:        opts.Logger,
		pullPolicy: policy,
		auth:       auth,
		http:       opts.HTTPClient,
	}
	if d.onProgress == nil {
		d.onProgress = func(string, string) {}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.http == nil {
		d.http = &http.Client{Timeout: 10 * time.Minute}
		d.ownHTTP = true
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.log.Debug("docker daemon connected", "host", cli.DaemonHost(), "api_version", ping.APIVersion)
	return d, nil
}

// Name is the virtualization this driver provides.
func (d *Driver) Name() string { return api.VirtContainer }

// Engine names what runs the containers.
func (d *Driver) Engine() string { return "docker" }

// Close ends every Wait. The containers keep running (the daemon owns
// them): a new Driver re-attaches them with Recover, from their handles.
func (d *Driver) Close() error {
	if _, ok := d.tasks.Close(); !ok {
		return nil
	}
	d.cancel()
	if d.ownHTTP {
		d.http.CloseIdleConnections()
	}
	return d.cli.Close()
}

// Start pulls the image if the pull policy asks for it, creates the
// instance's container and starts it. It returns once the container has
// started. A container left by an earlier run of the same instance is
// replaced.
func (d *Driver) Start(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	return runtime.StartTask(ctx, &d.tasks, spec, d.start, taskOf)
}

func (d *Driver) start(ctx context.Context, spec runtime.Spec) (*task, error) {
	id := spec.InstanceID
	ref, err := normalizeRef(spec.Service.Code)
	if err != nil {
		return nil, err
	}
	cfg, host, err := d.containerConfig(spec, ref)
	if err != nil {
		return nil, err
	}
	if spec.Network != nil {
		if err := spec.Network.Check(); err != nil {
			return nil, err
		}
	}
	if err := d.ensureImage(ctx, id, ref); err != nil {
		return nil, err
	}
	if err := d.prepareFiles(ctx, id, spec.Service.AddedFiles, host); err != nil {
		return nil, err
	}
	var netCfg *network.NetworkingConfig
	if spec.Network != nil {
		if netCfg, err = d.attachInstanceNetwork(ctx, id, spec.Network, host); err != nil {
			return nil, err
		}
	}

	name := d.containerName(id)
	// A container of an earlier run (an exited one_shot, a crash) holds the
	// name: the new run replaces it.
	if err := d.removeContainer(ctx, name); err != nil {
		return nil, err
	}
	created, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host, NetworkingConfig: netCfg})
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	for _, w := range created.Warnings {
		d.log.Warn("docker warns about the container", "instance", id, "warning", w)
	}
	if _, err := d.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		d.discard(created.ID)
		return nil, fmt.Errorf("start container: %w", err)
	}
	ins, err := d.cli.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	if err != nil {
		d.discard(created.ID)
		return nil, fmt.Errorf("inspect container: %w", err)
	}
	t := newTask(id, created.ID, ins.Container.State)
	if err := d.tasks.Add(id, t); err != nil {
		d.discard(created.ID)
		return nil, err
	}
	return t, nil
}

// discard force-removes a container that was created but cannot be
// waited for. It uses its own context: the caller's may be what failed.
func (d *Driver) discard(containerID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.cli.ContainerRemove(ctx, containerID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
		d.log.Warn("remove failed container", "container", containerID, "error", err)
	}
}

// removeContainer force-removes the container name (and its anonymous
// volumes); a container that does not exist is not an error.
func (d *Driver) removeContainer(ctx context.Context, name string) error {
	_, err := d.cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	return nil
}

// Stop stops the container with `docker stop` semantics: the image's stop
// signal (SIGTERM by default), SIGKILL after grace (rounded up to whole
// seconds, as the daemon counts them; at once when grace <= 0), and returns
// when the Wait in progress has seen the container end. Stopping an instance that has already ended is
// not an error.
func (d *Driver) Stop(ctx context.Context, instanceID string, grace time.Duration) error {
	t, err := d.running(ctx, instanceID)
	if t == nil {
		return runtime.OpError("stop", instanceID, err)
	}
	t.stopping.Store(true)
	seconds := 0
	if grace > 0 {
		seconds = int((grace + time.Second - 1) / time.Second)
	}
	_, err = d.cli.ContainerStop(ctx, t.containerID, client.ContainerStopOptions{Timeout: &seconds})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop instance %s: %w", instanceID, err)
	}
	_, err = d.tasks.Ended(ctx, t, -1)
	return runtime.OpError("stop", instanceID, err)
}

// running returns the supervised task of instanceID; nil and no error when
// the instance is known (its container or directory exists) but not
// running; nil and runtime.ErrNotFound when it is unknown.
func (d *Driver) running(ctx context.Context, instanceID string) (*task, error) {
	return d.tasks.Running(instanceID, func() error {
		if _, err := os.Stat(d.instanceDir(instanceID)); err == nil {
			return nil
		}
		_, err := d.cli.ContainerInspect(ctx, d.containerName(instanceID), client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return runtime.ErrNotFound
		}
		return err
	})
}

// Remove deletes the instance's container with its anonymous volumes, and
// its directory. A container still running is killed first. Removing an
// unknown or already removed instance is not an error.
func (d *Driver) Remove(ctx context.Context, instanceID string) error {
	if ok, err := d.tasks.Release(ctx, instanceID, d.Stop); !ok {
		return err
	}
	if err := d.removeContainer(ctx, d.containerName(instanceID)); err != nil {
		return fmt.Errorf("remove instance %s: %w", instanceID, err)
	}
	if err := os.RemoveAll(d.instanceDir(instanceID)); err != nil {
		return fmt.Errorf("remove instance %s: %w", instanceID, err)
	}
	return nil
}

// containerName is the instance's container name: readable, and unique per
// driver data dir.
func (d *Driver) containerName(id string) string {
	return "hedge-" + id + "-" + d.owner
}

func (d *Driver) instanceDir(id string) string {
	return filepath.Join(d.dataDir, "instances", id)
}

// started reads when and as which PID the container started.
func started(st *container.State) (pid int, at time.Time) {
	if st == nil {
		return 0, time.Now()
	}
	at, err := time.Parse(time.RFC3339Nano, st.StartedAt)
	if err != nil || at.IsZero() || at.Year() < 2000 {
		at = time.Now()
	}
	return st.Pid, at
}
