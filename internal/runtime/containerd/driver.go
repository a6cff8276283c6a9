package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	clog "github.com/containerd/log"
	"github.com/sirupsen/logrus"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/sla"
)

// Defaults for Options.
const (
	DefaultAddress          = "/run/containerd/containerd.sock"
	DefaultNamespace        = "hedge"
	DefaultSnapshotter      = "overlayfs"
	DefaultLogLimit         = 1 << 20
	DefaultLogCheckInterval = 3 * time.Second
)

// Options configure a Driver.
type Options struct {
	// Address is containerd's socket (default DefaultAddress).
	Address string
	// Namespace is the containerd namespace of the driver's containers and
	// images (default DefaultNamespace).
	Namespace string
	// DataDir holds instances/<id>/ (output.log, added files,
	// network.json). Required.
	DataDir string
	// OnProgress is told how an image pull is going.
	OnProgress runtime.ProgressFunc
	Logger     *slog.Logger
	// RegistryConfig is a Docker-style config.json whose "auths" are used
	// for pulls (default: none, anonymous pulls). It is read at every pull.
	RegistryConfig string
	// PlainHTTP lists registry hosts ("host" or "host:port") reached over
	// plain HTTP. Loopback registries (localhost, 127.0.0.0/8, ::1) always
	// are, as with Docker.
	PlainHTTP []string
	// PullPolicy is runtime.PullIfNotPresent (default), PullAlways or
	// PullNever.
	PullPolicy string
	// Snapshotter unpacks images and holds container file systems (default
	// DefaultSnapshotter).
	Snapshotter string
	// Network says how containers are networked: NetworkBridge, NetworkHost,
	// or "" to use the bridge when the CNI plugins are installed and the
	// host's network otherwise. See docs/adr/004-container-networking.md.
	Network string
	// CNIBinDirs are searched for the CNI plugins (default DefaultCNIBinDirs).
	CNIBinDirs []string
	// Subnet is the bridge network's IPv4 range (default DefaultSubnet).
	Subnet string
	// Bridge is the name of the host's bridge device (default DefaultBridge).
	Bridge string
	// NetNSDir holds the instances' pinned network namespaces (default
	// DefaultNetNSDir).
	NetNSDir string
	// LogLimit is about how many bytes of output are kept per instance
	// (default DefaultLogLimit).
	LogLimit int64
	// LogCheckInterval is how often log sizes are checked (default
	// DefaultLogCheckInterval).
	LogCheckInterval time.Duration
	// HTTPClient downloads added files given as URLs (default: a client
	// with a 10-minute timeout).
	HTTPClient *http.Client
}

var (
	_ runtime.Driver        = (*Driver)(nil)
	_ runtime.UsageReporter = (*Driver)(nil)
	_ runtime.Engine        = (*Driver)(nil)
	_ runtime.Updater       = (*Driver)(nil)
)

// Driver runs instances as containerd containers. It implements
// runtime.Driver, runtime.UsageReporter, runtime.Engine and runtime.Updater.
type Driver struct {
	client      *client.Client
	address     string
	namespace   string
	snapshotter string
	dataDir     string
	owner       string
	onProgress  runtime.ProgressFunc
	log         *slog.Logger
	pullPolicy  string
	registries  *registries
	net         *network // nil: containers share the host's network
	// cniDirs and nsDir serve the instance network (runtime.Spec.Network)
	// whatever the driver's own network mode.
	cniDirs []string
	nsDir   string
	// fwd opens FORWARD for the instance network's bridges.
	fwd      runtime.Forwarder
	http     *http.Client
	ownHTTP  bool
	logLimit int64
	logEvery time.Duration
	// clog carries the driver's logger into the containerd client.
	clog *clog.Entry
	// swapLimit is whether the kernel accounts swap, so that the memory
	// limit can cover memory and swap together.
	swapLimit bool

	// ctx lives as long as the driver and carries its namespace; Close
	// cancels it, which ends every Wait and the log keeper.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	tasks runtime.Tasks[*task]
}

// New connects to containerd and prepares the data directory and the
// network. It fails with an error wrapping runtime.ErrUnavailable when the
// daemon does not answer on its socket.
func New(ctx context.Context, opts Options) (*Driver, error) {
	dataDir, policy, err := runtime.EngineOptions(opts.DataDir, opts.PullPolicy)
	if err != nil {
		return nil, fmt.Errorf("containerd driver: %w", err)
	}
	address := opts.Address
	if address == "" {
		address = DefaultAddress
	}
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if err := identifiers.Validate(ns); err != nil {
		return nil, fmt.Errorf("containerd driver: namespace %q: %w", ns, err)
	}
	regs, err := newRegistries(opts.RegistryConfig, opts.PlainHTTP)
	if err != nil {
		return nil, fmt.Errorf("containerd driver: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "instances"), 0o755); err != nil {
		return nil, fmt.Errorf("containerd driver: %w", err)
	}

	cli, err := connect(ctx, address, ns)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(dataDir))
	d := &Driver{
		client:      cli,
		address:     address,
		namespace:   ns,
		snapshotter: opts.Snapshotter,
		dataDir:     dataDir,
		owner:       hex.EncodeToString(sum[:4]),
		onProgress:  opts.OnProgress,
		log:         opts.Logger,
		pullPolicy:  policy,
		registries:  regs,
		http:        opts.HTTPClient,
		logLimit:    opts.LogLimit,
		logEvery:    opts.LogCheckInterval,
		swapLimit:   swapAccounted(),
		cniDirs:     opts.CNIBinDirs,
		nsDir:       opts.NetNSDir,
	}
	if len(d.cniDirs) == 0 {
		d.cniDirs = DefaultCNIBinDirs
	}
	if d.nsDir == "" {
		d.nsDir = DefaultNetNSDir
	}
	if d.snapshotter == "" {
		d.snapshotter = DefaultSnapshotter
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
	if d.logLimit <= 0 {
		d.logLimit = DefaultLogLimit
	}
	if d.logEvery <= 0 {
		d.logEvery = DefaultLogCheckInterval
	}
	d.net, err = newNetwork(opts, d.log)
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("containerd driver: %w", err)
	}
	d.clog = clientLogger(d.log)
	d.ctx, d.cancel = context.WithCancel(clog.WithLogger(namespaces.WithNamespace(context.Background(), ns), d.clog))
	d.wg.Add(1)
	go d.trimLoop()
	return d, nil
}

// connect opens a client and checks that the daemon answers.
func connect(ctx context.Context, address, ns string) (*client.Client, error) {
	if _, err := os.Stat(address); err != nil {
		return nil, fmt.Errorf("containerd driver: socket %s: %w: %w", address, runtime.ErrUnavailable, err)
	}
	cli, err := client.New(address, client.WithDefaultNamespace(ns))
	if err != nil {
		return nil, fmt.Errorf("containerd driver: socket %s: %w: %w", address, runtime.ErrUnavailable, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Version(vctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("containerd driver: daemon at %s: %w: %w", address, runtime.ErrUnavailable, err)
	}
	return cli, nil
}

// Name is the virtualization this driver provides.
func (d *Driver) Name() string { return api.VirtContainer }

// Engine names what runs the containers.
func (d *Driver) Engine() string { return "containerd" }

// Close ends every Wait. The containers keep running (their shims own
// them): a new Driver re-attaches them with Recover, from their handles.
func (d *Driver) Close() error {
	if _, ok := d.tasks.Close(); !ok {
		return nil
	}
	d.cancel()
	d.wg.Wait()
	if d.ownHTTP {
		d.http.CloseIdleConnections()
	}
	return d.client.Close()
}

// Start pulls the image if the pull policy asks for it, creates the
// instance's container (with its network, limits and files) and starts its
// task. It returns once the task runs. What an earlier run of the same
// instance left (an exited one_shot, a crash) is replaced; its output stays
// in the log.
func (d *Driver) Start(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	return runtime.StartTask(d.withNamespace(ctx), &d.tasks, spec, d.start, taskOf)
}

func (d *Driver) start(ctx context.Context, spec runtime.Spec) (_ *task, err error) {
	id, svc := spec.InstanceID, &spec.Service
	// Everything that can be refused is checked before anything is pulled.
	ref, err := normalizeRef(svc.Code)
	if err != nil {
		return nil, err
	}
	ports, err := sla.ParsePorts(svc.Port)
	if err != nil {
		return nil, fmt.Errorf("port: %w", err)
	}
	if spec.Network != nil {
		if err := spec.Network.Check(); err != nil {
			return nil, err
		}
	} else if d.net == nil {
		if err := checkHostPorts(ports); err != nil {
			return nil, err
		}
	}
	if err := checkLimits(svc); err != nil {
		return nil, err
	}
	env, err := environ(spec)
	if err != nil {
		return nil, err
	}

	// The lease keeps what is pulled and created from containerd's garbage
	// collector until the container refers to it.
	ctx, done, err := d.client.WithLease(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()

	img, err := d.ensureImage(ctx, id, ref)
	if err != nil {
		return nil, err
	}
	if err := d.destroy(ctx, id); err != nil {
		return nil, fmt.Errorf("remove the earlier run: %w", err)
	}
	defer func() {
		if err != nil {
			d.discard(id)
		}
	}()
	if err := os.MkdirAll(d.instanceDir(id), 0o755); err != nil {
		return nil, err
	}
	files, err := d.prepareFiles(ctx, id, svc.AddedFiles)
	if err != nil {
		return nil, err
	}
	cid := d.containerID(id)
	netOpts, netReady, err := d.attachNetwork(ctx, id, ports, spec.Network)
	if err != nil {
		return nil, err
	}
	// Runs before the discard above: the network must be set up (or have
	// failed) before it can be torn down.
	defer func() {
		if err != nil {
			_ = netReady()
		}
	}()
	specOpts := append(d.specOpts(img, spec, env, files), netOpts...)
	container, err := d.client.NewContainer(ctx, cid,
		client.WithImage(img),
		client.WithSnapshotter(d.snapshotter),
		client.WithNewSnapshot(cid, img),
		client.WithContainerLabels(d.labels(spec)),
		client.WithNewSpec(specOpts...),
	)
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	info, err := container.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	ctask, err := container.NewTask(ctx, cio.LogFile(d.logPath(id)))
	if err != nil {
		return nil, fmt.Errorf("create task: %w", err)
	}
	// Waiting starts before the task does, so that an instance that exits
	// at once (a one_shot) is not missed. The wait lives as long as the
	// driver, not as long as this call.
	exitC, err := ctask.Wait(d.ctx)
	if err != nil {
		return nil, fmt.Errorf("wait for task: %w", err)
	}
	if err := netReady(); err != nil {
		return nil, err
	}
	if err := ctask.Start(ctx); err != nil {
		return nil, fmt.Errorf("start task: %w", err)
	}
	t := &task{id: id, containerID: cid, task: ctask, createdAt: info.CreatedAt, pid: int(ctask.Pid()),
		startedAt: time.Now(), exitC: exitC, done: make(chan struct{})}
	if err := d.tasks.Add(id, t); err != nil {
		return nil, err
	}
	return t, nil
}

// labels are the container's hedge.* labels.
func (d *Driver) labels(spec runtime.Spec) map[string]string {
	return map[string]string{
		runtime.LabelManaged:  "true",
		runtime.LabelInstance: spec.InstanceID,
		runtime.LabelService:  serviceName(&spec.Service),
		runtime.LabelOwner:    d.owner,
	}
}

// discard removes whatever a failed start left. It uses its own context: the
// caller's may be what failed.
func (d *Driver) discard(id string) {
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	if err := d.destroy(context.WithoutCancel(ctx), id); err != nil {
		d.log.Warn("clean up after a failed start", "instance", id, "error", err)
	}
}

// destroy deletes the instance's task (killing it), its container with its
// snapshot, and its network. What does not exist is not an error. The
// instance directory (log) stays.
func (d *Driver) destroy(ctx context.Context, id string) error {
	cid := d.containerID(id)
	c, err := d.client.LoadContainer(ctx, cid)
	switch {
	case err == nil:
		if err := deleteTask(ctx, c); err != nil {
			return err
		}
		if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("delete container %s: %w", cid, err)
		}
	case !cerrdefs.IsNotFound(err):
		return fmt.Errorf("load container %s: %w", cid, err)
	}
	// A snapshot without its container: a start interrupted in between.
	if err := d.client.SnapshotService(d.snapshotter).Remove(ctx, cid); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove snapshot %s: %w", cid, err)
	}
	return d.detachNetwork(ctx, id)
}

// deleteTask deletes the container's task, killing it first if it runs.
func deleteTask(ctx context.Context, c client.Container) error {
	t, err := c.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load task of %s: %w", c.ID(), err)
	}
	if _, err := t.Delete(ctx, client.WithProcessKill); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("delete task of %s: %w", c.ID(), err)
	}
	return nil
}

// Stop sends SIGTERM to the container's init process, SIGKILL to all its
// processes after grace (at once if grace <= 0), and returns when the Wait
// in progress has seen the task end. Stopping an instance that has already ended is not an error.
func (d *Driver) Stop(ctx context.Context, instanceID string, grace time.Duration) error {
	t, err := d.running(ctx, instanceID)
	if t == nil {
		return runtime.OpError("stop", instanceID, err)
	}
	t.stopping.Store(true)
	ctx = d.withNamespace(ctx)
	if grace > 0 {
		if err := kill(ctx, t, syscall.SIGTERM); err != nil {
			return runtime.OpError("stop", instanceID, err)
		}
		if ended, err := d.tasks.Ended(ctx, t, grace); ended || err != nil {
			return runtime.OpError("stop", instanceID, err)
		}
	}
	if err := kill(ctx, t, syscall.SIGKILL, client.WithKillAll); err != nil {
		return runtime.OpError("stop", instanceID, err)
	}
	_, err = d.tasks.Ended(ctx, t, -1)
	return runtime.OpError("stop", instanceID, err)
}

// kill signals a task; a task that has already ended (whose shim may be
// going away with it) is not an error.
func kill(ctx context.Context, t *task, sig syscall.Signal, opts ...client.KillOpts) error {
	if t.exited.Load() {
		return nil
	}
	err := t.task.Kill(ctx, sig, opts...)
	if err != nil && !cerrdefs.IsNotFound(err) && !t.exited.Load() {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	return nil
}

// running returns the supervised task of instanceID; nil and no error when
// the instance is known (its directory or container exists) but not running;
// nil and runtime.ErrNotFound when it is unknown.
func (d *Driver) running(ctx context.Context, instanceID string) (*task, error) {
	return d.tasks.Running(instanceID, func() error {
		if _, err := os.Stat(d.instanceDir(instanceID)); err == nil {
			return nil
		}
		_, err := d.client.LoadContainer(d.withNamespace(ctx), d.containerID(instanceID))
		if cerrdefs.IsNotFound(err) {
			return runtime.ErrNotFound
		}
		return err
	})
}

// Remove deletes the instance's task, container, snapshot, network and
// directory. A task still running is killed first. Removing an unknown or
// already removed instance is not an error. The image stays, for the next
// instance that needs it.
func (d *Driver) Remove(ctx context.Context, instanceID string) error {
	if ok, err := d.tasks.Release(ctx, instanceID, d.Stop); !ok {
		return err
	}
	if err := d.destroy(d.withNamespace(ctx), instanceID); err != nil {
		return fmt.Errorf("remove instance %s: %w", instanceID, err)
	}
	if err := os.RemoveAll(d.instanceDir(instanceID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove instance %s: %w", instanceID, err)
	}
	return nil
}

// withNamespace gives ctx the driver's namespace and logger.
func (d *Driver) withNamespace(ctx context.Context) context.Context {
	return clog.WithLogger(namespaces.WithNamespace(ctx, d.namespace), d.clog)
}

// containerID is the instance's container (and snapshot) ID: readable, and
// unique per driver data dir.
func (d *Driver) containerID(id string) string {
	return id + "-" + d.owner
}

func (d *Driver) instanceDir(id string) string {
	return filepath.Join(d.dataDir, "instances", id)
}

func (d *Driver) logPath(id string) string {
	return filepath.Join(d.instanceDir(id), "output.log")
}

// clientLogger routes what the containerd client logs (through the context,
// with logrus) to the driver's logger at debug level: a registry's 404 while
// resolving an image is already in the error Start returns.
func clientLogger(log *slog.Logger) *clog.Entry {
	l := logrus.New()
	l.Out = io.Discard
	l.Level = logrus.DebugLevel
	l.AddHook(slogHook{log: log})
	return logrus.NewEntry(l)
}

type slogHook struct{ log *slog.Logger }

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	args := make([]any, 0, 2*len(e.Data))
	for k, v := range e.Data {
		args = append(args, k, v)
	}
	h.log.Debug("containerd client: "+e.Message, args...)
	return nil
}
