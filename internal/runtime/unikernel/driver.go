package unikernel

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/process"
)

// DefaultCgroupParent is the cgroup under which the QEMU processes run; it is
// apart from the process driver's so the two never meet.
const DefaultCgroupParent = "hedge-unikernel"

// quitWait is how long a VM gets to end after the QMP "quit" command before
// it is killed.
const quitWait = 3 * time.Second

// Options configure a Driver.
type Options struct {
	// DataDir holds the driver's state: cache/ for downloaded images,
	// instances/<id>/ for unpacked kernels, and vm/ for the process driver
	// that runs QEMU. Required.
	DataDir    string
	OnProgress runtime.ProgressFunc
	Logger     *slog.Logger
	// QemuPath is the QEMU to use for every VM; its architecture is read
	// from its name (qemu-system-x86_64, qemu-system-aarch64), the host's
	// when the name says neither. Default: qemu-system-<arch> looked up in
	// PATH for each architecture.
	QemuPath string
	// HTTPClient downloads images given as URLs (default: a client with a
	// 10-minute timeout).
	HTTPClient *http.Client
	// CgroupParent is the cgroup under which each VM gets its own
	// (default DefaultCgroupParent).
	CgroupParent string
}

// Driver runs instances as QEMU virtual machines. It implements
// runtime.Driver, runtime.UsageReporter and runtime.Engine.
type Driver struct {
	dataDir    string
	proc       *process.Driver
	procDir    string
	qemu       map[string]string // architecture (GOARCH name) -> QEMU binary
	kvm        func(arch string) bool
	images     *imageCache
	onProgress runtime.ProgressFunc
	log        *slog.Logger
	ownHTTP    *http.Client
	// fwd opens FORWARD for the instance network's bridges.
	fwd runtime.Forwarder

	closed atomic.Bool

	mu  sync.Mutex
	vms map[string]*vm
}

// vm is one running virtual machine: what Stop needs beyond its QEMU
// process.
type vm struct {
	qmp      string
	stopping atomic.Bool
}

// track registers the VM of a started or re-attached QEMU process.
func (d *Driver) track(id string) {
	d.mu.Lock()
	d.vms[id] = &vm{qmp: d.qmpPath(id)}
	d.mu.Unlock()
}

var (
	_ runtime.Driver        = (*Driver)(nil)
	_ runtime.UsageReporter = (*Driver)(nil)
	_ runtime.Engine        = (*Driver)(nil)
)

// New finds QEMU and prepares the data directory. It fails with an error
// wrapping runtime.ErrUnavailable when there is no QEMU.
func New(opts Options) (*Driver, error) {
	dataDir, err := runtime.DataDir(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("unikernel driver: %w", err)
	}
	qemu, err := findQemu(opts.QemuPath)
	if err != nil {
		return nil, fmt.Errorf("unikernel driver: %w", err)
	}
	for _, dir := range []string{filepath.Join(dataDir, "instances"), filepath.Join(dataDir, "cache")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("unikernel driver: %w", err)
		}
	}
	d := &Driver{
		dataDir:    dataDir,
		procDir:    filepath.Join(dataDir, "vm"),
		qemu:       qemu,
		kvm:        kvmUsable,
		onProgress: opts.OnProgress,
		log:        opts.Logger,
		vms:        make(map[string]*vm),
	}
	if d.onProgress == nil {
		d.onProgress = func(string, string) {}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
		d.ownHTTP = client
	}
	d.images = newImageCache(filepath.Join(dataDir, "cache"), client)
	parent := opts.CgroupParent
	if parent == "" {
		parent = DefaultCgroupParent
	}
	d.proc, err = process.New(process.Options{DataDir: d.procDir, Logger: d.log, CgroupParent: parent})
	if err != nil {
		return nil, fmt.Errorf("unikernel driver: %w", err)
	}
	return d, nil
}

// Name is the virtualization this driver provides.
func (d *Driver) Name() string { return api.VirtUnikernel }

// Engine names what runs the VMs.
func (d *Driver) Engine() string { return "qemu" }

// Close ends every Wait. The VMs keep running: a new Driver re-attaches them
// with Recover, from their handles.
func (d *Driver) Close() error {
	d.closed.Store(true)
	err := d.proc.Close()
	if d.ownHTTP != nil {
		d.ownHTTP.CloseIdleConnections()
	}
	return err
}

// Wait waits for the QEMU process to end (through the process driver) and
// tells a stop from a crash.
func (d *Driver) Wait(ctx context.Context, instanceID string) (runtime.Exit, error) {
	e, err := d.proc.Wait(ctx, instanceID)
	if err != nil {
		return e, err
	}
	// QEMU is gone: its TAP, if it had one, serves nothing any more.
	if err := deleteTap(d.tapName(instanceID)); err != nil {
		d.log.Warn("remove the TAP of an ended VM", "instance", instanceID, "error", err)
	}
	d.mu.Lock()
	v := d.vms[instanceID]
	delete(d.vms, instanceID)
	d.mu.Unlock()
	if v != nil && v.stopping.Load() {
		e.Reason = "stopped"
	}
	return e, nil
}

// Start fetches and unpacks the image, then boots it in QEMU. It returns
// once the QEMU process runs.
func (d *Driver) Start(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	id := spec.InstanceID
	if err := runtime.CheckID(id); err != nil {
		return runtime.Task{}, fmt.Errorf("start instance: %w", err)
	}
	task, err := d.start(ctx, spec)
	if err != nil {
		return runtime.Task{}, fmt.Errorf("start instance %s: %w", id, err)
	}
	return task, nil
}

func (d *Driver) start(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	id, svc := spec.InstanceID, &spec.Service
	m, err := d.machine(svc)
	if err != nil {
		return runtime.Task{}, err
	}
	if spec.Network != nil {
		if err := spec.Network.Check(); err != nil {
			return runtime.Task{}, err
		}
		m.tap, m.network = d.tapName(id), spec.Network
	}
	img, err := d.images.unpack(ctx, svc.Code, d.instanceDir(id), func(msg string) { d.onProgress(id, msg) })
	if err != nil {
		return runtime.Task{}, err
	}
	args, err := m.args(id, img, svc)
	if err != nil {
		return runtime.Task{}, err
	}
	if m.tap != "" {
		if err := d.fwd.Allow(spec.Network.Bridge); err != nil {
			return runtime.Task{}, fmt.Errorf("instance network: %w", err)
		}
		if err := createTap(m.tap, spec.Network.Bridge); err != nil {
			return runtime.Task{}, err
		}
	}
	// QEMU is the worker's own program, not the tenant's: the tenant's code
	// runs inside the VM, so QEMU runs outside the process sandbox (Raw),
	// with /dev/kvm and the image cache (ADR 012).
	task, err := d.proc.Start(ctx, runtime.Spec{InstanceID: id, Service: api.ServiceSpec{
		Name: svc.Name, Namespace: svc.Namespace, Virtualization: api.VirtProcess,
		Code: m.qemu, Cmd: args, MemoryMB: m.memoryMB + qemuOverheadMB, VCPUs: svc.VCPUs, Raw: true,
	}})
	if err != nil {
		if m.tap != "" {
			_ = deleteTap(m.tap)
		}
		return runtime.Task{}, err
	}
	d.track(id)
	return task, nil
}

// Stop shuts the VM down the way a host would: an ACPI power-button press
// (QMP system_powerdown), then after grace QMP quit, which ends QEMU at once,
// and SIGKILL if even that fails. With grace <= 0 the VM is killed at once.
// It returns when the Wait in progress has collected the QEMU process.
// Stopping an instance that has already ended is not an error.
func (d *Driver) Stop(ctx context.Context, instanceID string, grace time.Duration) error {
	if err := runtime.CheckID(instanceID); err != nil {
		return fmt.Errorf("stop instance %s: %w: %w", instanceID, runtime.ErrNotFound, err)
	}
	d.mu.Lock()
	v := d.vms[instanceID]
	d.mu.Unlock()
	if v == nil {
		return d.proc.Stop(ctx, instanceID, 0) // nil when known, ErrNotFound when not
	}
	v.stopping.Store(true)
	if grace > 0 {
		// A QEMU that does not take the power-button press is not waited
		// for: it would not take the guest's shutdown any better.
		if err := qmpExecute(ctx, v.qmp, "system_powerdown"); err != nil {
			d.log.Warn("qmp system_powerdown", "instance", instanceID, "error", err)
		} else if ended, err := d.proc.Ended(ctx, instanceID, grace); ended || err != nil {
			return runtime.OpError("stop", instanceID, err)
		}
		if err := qmpExecute(ctx, v.qmp, "quit"); err != nil {
			d.log.Debug("qmp quit", "instance", instanceID, "error", err)
		} else if ended, err := d.proc.Ended(ctx, instanceID, quitWait); ended || err != nil {
			return runtime.OpError("stop", instanceID, err)
		}
	}
	return d.proc.Stop(ctx, instanceID, 0)
}

// Remove deletes what the instance left: the unpacked kernel, the QEMU
// process's directory, log and cgroup. A VM still running is killed first.
// Removing an unknown or already removed instance is not an error.
func (d *Driver) Remove(ctx context.Context, instanceID string) error {
	if runtime.CheckID(instanceID) != nil {
		return nil // such an instance cannot exist
	}
	if err := d.proc.Remove(ctx, instanceID); err != nil {
		return err
	}
	if err := deleteTap(d.tapName(instanceID)); err != nil {
		return fmt.Errorf("remove instance %s: %w", instanceID, err)
	}
	if err := os.RemoveAll(d.instanceDir(instanceID)); err != nil {
		return fmt.Errorf("remove instance %s: %w", instanceID, err)
	}
	return nil
}

// Logs returns the last tailBytes of the VM's serial console, with QEMU's own
// messages.
func (d *Driver) Logs(ctx context.Context, instanceID string, tailBytes int) ([]byte, error) {
	return d.proc.Logs(ctx, instanceID, tailBytes)
}

// Usage reports the CPU time and memory of the QEMU process (guest and
// emulator together).
func (d *Driver) Usage(ctx context.Context, instanceID string) (float64, int64, error) {
	return d.proc.Usage(ctx, instanceID)
}

// Recover re-attaches the QEMU process of handle, through the process
// driver.
func (d *Driver) Recover(ctx context.Context, instanceID string, handle []byte) (runtime.Task, error) {
	t, err := d.proc.Recover(ctx, instanceID, handle)
	switch {
	case err == nil && t.Exited == nil:
		d.track(instanceID)
	case err == nil:
		if derr := deleteTap(d.tapName(instanceID)); derr != nil {
			d.log.Warn("remove the TAP of an ended VM", "instance", instanceID, "error", derr)
		}
	}
	return t, err
}

func (d *Driver) instanceDir(id string) string {
	return filepath.Join(d.dataDir, "instances", id)
}

// qmpPath is where QEMU's QMP socket is: QEMU creates it as "qmp.sock" in
// its working directory, which the process driver makes
// instances/<id>/work under its own data dir. (A relative name keeps QEMU
// clear of the 108-byte limit on socket paths.)
func (d *Driver) qmpPath(id string) string {
	return filepath.Join(d.procDir, "instances", id, "work", qmpSocket)
}
