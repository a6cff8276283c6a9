package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/fetch"
	"github.com/hedgeorch/hedge/internal/runtime/logfile"
)

// Defaults for Options.
const (
	DefaultLogLimit         = 1 << 20
	DefaultLogCheckInterval = 3 * time.Second
	DefaultCgroupParent     = "hedge"
)

// defaultPath is the PATH given to instances when the worker has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options configure a Driver.
type Options struct {
	// DataDir holds the driver's state: instances/<id>/{work,output.log}
	// and cache/ for downloaded code. Required.
	DataDir string
	Logger  *slog.Logger
	// LogLimit is about how many bytes of output are kept per instance
	// (default 1 MiB).
	LogLimit int64
	// LogCheckInterval is how often log sizes are checked (default 3 s).
	LogCheckInterval time.Duration
	// CgroupParent is the cgroup, relative to each hierarchy's root, under
	// which instances get theirs (default "hedge").
	CgroupParent string
	// HTTPClient downloads code given as a URL (default: a client with a
	// 10-minute timeout).
	HTTPClient *http.Client
	// Sandbox confines the instances (ADR 012); by default each runs as a
	// user of its own in namespaces of its own. A service marked Raw runs
	// outside it.
	Sandbox Sandbox

	// cgroupRoot replaces /sys/fs/cgroup in tests.
	cgroupRoot string
}

// Driver runs instances as processes. It implements runtime.Driver and
// runtime.UsageReporter.
type Driver struct {
	dataDir  string
	log      *slog.Logger
	logLimit int64
	logEvery time.Duration
	cg       *cgroups
	code     *fetch.Cache
	// ownClient is the HTTP client the driver made itself, so Close may
	// close its idle connections.
	ownClient *http.Client
	// pidfds is whether the kernel has pidfds (Linux 5.3 and later).
	pidfds  bool
	devNull *os.File
	sandbox Sandbox
	uids    *uidPool

	// ctx lives as long as the driver: Close cancels it, which ends every
	// Wait and the log keeper.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	tasks runtime.Tasks[*task]
	// usageQuiet and trimQuiet skip the per-instance cgroup and log reads
	// while no instance has run.
	usageQuiet, trimQuiet quietMark
}

var (
	_ runtime.Driver        = (*Driver)(nil)
	_ runtime.UsageReporter = (*Driver)(nil)
)

// New prepares the data directory and cgroups and starts the driver's one
// background goroutine (log bounding). Close stops it.
func New(opts Options) (*Driver, error) {
	dataDir, err := runtime.DataDir(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	parent := opts.CgroupParent
	if parent == "" {
		parent = DefaultCgroupParent
	}
	parent = strings.Trim(filepath.Clean("/"+parent), "/")
	if parent == "" {
		return nil, fmt.Errorf("process driver: cgroup parent %q: want a cgroup name such as %q", opts.CgroupParent, DefaultCgroupParent)
	}
	for _, dir := range []string{filepath.Join(dataDir, "instances"), filepath.Join(dataDir, "cache")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("process driver: %w", err)
		}
	}
	if err := checkNetwork(opts.Sandbox.Network); err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	if opts.Sandbox.UIDs.Count == 0 {
		opts.Sandbox.UIDs = DefaultUIDs
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	d := &Driver{
		dataDir:  dataDir,
		log:      opts.Logger,
		logLimit: opts.LogLimit,
		logEvery: opts.LogCheckInterval,
		devNull:  devNull,
		sandbox:  opts.Sandbox,
		uids:     newUIDPool(opts.Sandbox.UIDs),
	}
	d.adoptUIDs()
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.logLimit <= 0 {
		d.logLimit = DefaultLogLimit
	}
	if d.logEvery <= 0 {
		d.logEvery = DefaultLogCheckInterval
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
		d.ownClient = client
	}
	d.code = fetch.NewCache(filepath.Join(dataDir, "cache"), client, fetch.WithMode(0o755))
	root := opts.cgroupRoot
	if root == "" {
		root = defaultCgroupRoot
	}
	d.cg = newCgroups(root, parent, d.log)
	if fd, err := unix.PidfdOpen(os.Getpid(), 0); err == nil {
		d.pidfds = true
		_ = unix.Close(fd)
	} else {
		d.log.Warn("kernel has no pidfds: each instance holds a thread while waited for", "error", err)
	}
	d.wg.Add(1)
	go d.trimLoop()
	return d, nil
}

// Name is the virtualization this driver provides.
func (d *Driver) Name() string { return api.VirtProcess }

// Close stops the driver's goroutine and ends every Wait with an error. It
// leaves the instances running (they belong to the node, not to this driver
// value): a new Driver re-attaches them with Recover, from their handles.
func (d *Driver) Close() error {
	tasks, ok := d.tasks.Close()
	if !ok {
		return nil
	}
	d.cancel()
	for _, t := range tasks {
		t.close()
	}
	d.wg.Wait()
	if d.ownClient != nil {
		d.ownClient.CloseIdleConnections()
	}
	return d.devNull.Close()
}

// Start runs the instance and returns once its process exists. Problems with
// cgroups never fail a start: the instance then runs without limits.
func (d *Driver) Start(ctx context.Context, spec runtime.Spec) (runtime.Task, error) {
	return runtime.StartTask(ctx, &d.tasks, spec, d.start, taskOf)
}

func (d *Driver) start(ctx context.Context, spec runtime.Spec) (*task, error) {
	id, svc := spec.InstanceID, &spec.Service
	code, err := resolveCode(ctx, d.code, svc.Code)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(d.instanceDir(id), "work")
	env, err := environ(work, spec)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(d.logPath(id), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	cgroupDir, err := d.cg.create(id, limits{memoryBytes: svc.MemoryMB << 20, vcpus: svc.VCPUs})
	if err != nil {
		d.cg.fail(id, err)
	}
	if cgroupDir != nil {
		defer cgroupDir.Close()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	argv := make([]string, 0, 1+len(svc.Cmd)+len(svc.Args))
	argv = append(append(append(argv, code), svc.Cmd...), svc.Args...)
	path := code
	pidfd := -1
	sys := &syscall.SysProcAttr{Setpgid: true} // no Pdeathsig: instances outlive the worker
	files := []uintptr{d.devNull.Fd(), logFile.Fd(), logFile.Fd()}
	sandboxed := d.sandboxed(svc.Raw)
	var sb *sandboxStart
	if sandboxed {
		sb, err = d.prepareSandbox(id, code, work, argv, cgroupDir)
		if err != nil {
			if cgroupDir != nil {
				cgroupDir.Close()
			}
			d.removeCgroups(id)
			return nil, err
		}
		defer sb.close()
		path, argv, sys.Cloneflags = sb.path, sb.argv, sb.flags
		files = append(files, sb.files()...)
	}
	if d.pidfds {
		sys.PidFD = &pidfd
	}
	if cg := sb.cgroup(cgroupDir); cg != nil {
		sys.UseCgroupFD, sys.CgroupFD = true, int(cg.Fd())
	}
	attr := &syscall.ProcAttr{
		Dir:   work,
		Env:   env,
		Files: files,
		Sys:   sys,
	}
	pid, err := forkExec(path, argv, attr)
	if err != nil && sys.UseCgroupFD {
		// clone3 into the cgroup may be refused (e.g. a v2 cgroup that is
		// not a valid domain); run without the cgroup rather than not at all.
		sys.UseCgroupFD = false
		if pid, err = forkExec(path, argv, attr); err == nil {
			d.cg.fail(id, errors.New("start inside the instance cgroup refused"))
		}
	}
	if err != nil {
		if cgroupDir != nil {
			cgroupDir.Close()
		}
		d.removeCgroups(id) // the log stays, for Remove (it may hold earlier runs)
		return nil, fmt.Errorf("exec %s: %w", code, err)
	}
	startedAt := time.Now()
	joinLater := cgroupDir == nil && d.cg.enabled()
	if joinLater {
		if err := d.cg.join(sb.joinFirst(id), pid); err != nil {
			d.cg.fail(id, err)
		}
	}

	t := &task{id: id, pid: pid, pgid: pid, startedAt: startedAt, child: true, sandboxed: sandboxed, done: make(chan struct{})}
	if pidfd >= 0 {
		_ = unix.SetNonblock(pidfd, true)
		t.pidfd = os.NewFile(uintptr(pidfd), "pidfd")
	}
	if sb != nil {
		if err := sb.wait(ctx); err != nil {
			d.abandon(t)
			d.removeCgroups(id)
			return nil, fmt.Errorf("exec %s: %w", code, err)
		}
		if joinLater {
			d.joinProgram(id, pid)
		}
	}
	if _, t.startTicks, err = procStat(pid); err != nil {
		// Without its start time the task could not be told from a later
		// process with its PID after a worker restart: do not leave it.
		d.abandon(t)
		return nil, fmt.Errorf("read start time: %w", err)
	}

	if err := d.tasks.Add(id, t); err != nil {
		d.abandon(t)
		return nil, err
	}
	return t, nil
}

// abandon kills and reaps a task that was started but cannot be waited for.
func (d *Driver) abandon(t *task) {
	_ = unix.Kill(-t.pgid, unix.SIGKILL)
	t.reap()
	if t.pidfd != nil {
		_ = t.pidfd.Close()
	}
}

// forkExec starts a process, retrying while its executable is "busy": a
// freshly downloaded file may still be open for writing in a child forked
// concurrently by another start (until that child execs).
func forkExec(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	for try := 0; ; try++ {
		pid, _, err := syscall.StartProcess(path, argv, attr)
		if !errors.Is(err, syscall.ETXTBSY) || try == 20 {
			return pid, err
		}
		time.Sleep(time.Duration(try+1) * time.Millisecond)
	}
}

// environ builds the instance's environment: a minimal base, the service's
// own variables over it, and Hedge's variables over everything.
func environ(workDir string, spec runtime.Spec) ([]string, error) {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	service := spec.Service.Name
	if spec.Service.Namespace != "" {
		service = spec.Service.Namespace + "." + service
	}
	var env []string
	index := make(map[string]int)
	set := func(k, v string) {
		if i, ok := index[k]; ok {
			env[i] = k + "=" + v
			return
		}
		index[k] = len(env)
		env = append(env, k+"="+v)
	}
	set("PATH", path)
	set("HOME", workDir)
	for i, kv := range spec.Service.Environment {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("environment[%d] %q: want KEY=VALUE", i, kv)
		}
		set(k, v)
	}
	set("HEDGE_INSTANCE_ID", spec.InstanceID)
	set("HEDGE_SERVICE", service)
	return env, nil
}

// Stop sends SIGTERM to the instance's process group, SIGKILL after grace
// (at once if grace <= 0), and returns when the Wait in progress has
// collected the process. Stopping an instance that has already ended is not an
// error.
func (d *Driver) Stop(ctx context.Context, instanceID string, grace time.Duration) error {
	t, err := d.running(instanceID)
	if t == nil {
		return runtime.OpError("stop", instanceID, err)
	}
	t.stopping.Store(true)
	if grace > 0 {
		t.signal(unix.SIGTERM)
		if ended, err := d.tasks.Ended(ctx, t, grace); ended || err != nil {
			return runtime.OpError("stop", instanceID, err)
		}
	}
	t.signal(unix.SIGKILL)
	_, err = d.tasks.Ended(ctx, t, -1)
	return runtime.OpError("stop", instanceID, err)
}

// Ended waits up to within for the instance's process to have ended and been
// collected by Wait; it reports whether it has. An instance that is not
// running has ended. It is for drivers that wrap this one and stop their
// instances their own way first (runtime/unikernel).
func (d *Driver) Ended(ctx context.Context, instanceID string, within time.Duration) (bool, error) {
	t, ok := d.tasks.Get(instanceID)
	if !ok {
		return true, nil
	}
	return d.tasks.Ended(ctx, t, within)
}

// running returns the supervised task of instanceID; nil and no error when
// the instance is known (its directory exists) but not running; nil and
// runtime.ErrNotFound when it is unknown.
func (d *Driver) running(instanceID string) (*task, error) {
	return d.tasks.Running(instanceID, func() error {
		if _, err := os.Stat(d.instanceDir(instanceID)); err != nil {
			return runtime.ErrNotFound
		}
		return nil
	})
}

// Remove deletes the instance's directory (work dir, logs) and cgroup. An
// instance still running is killed first: through its task when it has one,
// else (a start cut short before its handle was kept) through its cgroup.
// Removing an unknown or already removed instance is not an error.
func (d *Driver) Remove(ctx context.Context, instanceID string) error {
	if ok, err := d.tasks.Release(ctx, instanceID, d.Stop); !ok {
		return err
	}
	if err := d.cg.remove(instanceID); err != nil {
		return fmt.Errorf("remove instance %s: %w", instanceID, err)
	}
	if err := d.cg.remove(initCgroup(instanceID)); err != nil {
		return fmt.Errorf("remove instance %s: %w", instanceID, err)
	}
	if err := os.RemoveAll(d.instanceDir(instanceID)); err != nil {
		return fmt.Errorf("remove instance %s: %w", instanceID, err)
	}
	d.uids.release(instanceID)
	return nil
}

// Logs returns the last tailBytes (all when tailBytes <= 0) of the instance's
// combined output, from the start of a line when possible. The output of an
// ended instance stays readable until Remove.
func (d *Driver) Logs(ctx context.Context, instanceID string, tailBytes int) ([]byte, error) {
	if _, err := d.running(instanceID); err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", instanceID, err)
	}
	b, err := logfile.Tail(d.logPath(instanceID), tailBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", instanceID, err)
	}
	return b, nil
}

// Usage reads the instance's CPU time and memory from its cgroup. Without
// cgroups it returns an error wrapping runtime.ErrUnavailable.
//
// Idle instances cost next to nothing: while the parent cgroup's CPU time
// stands still no instance has run, so the figures read last time are still
// true; and while an instance's own CPU time stands still its memory cannot
// grow, so it is read again only every memoryRefresh calls (to see it
// shrink).
func (d *Driver) Usage(ctx context.Context, instanceID string) (cpuSeconds float64, memoryBytes int64, err error) {
	t, err := d.running(instanceID)
	if err != nil {
		return 0, 0, fmt.Errorf("usage of instance %s: %w", instanceID, err)
	}
	if !d.cg.enabled() {
		return 0, 0, fmt.Errorf("usage of instance %s: cgroups: %w", instanceID, runtime.ErrUnavailable)
	}
	if t == nil {
		cpu, mem, err := d.cg.usage(instanceID)
		if err != nil {
			return 0, 0, fmt.Errorf("usage of instance %s: %w", instanceID, err)
		}
		return cpu, mem, nil
	}
	quiet := d.usageQuiet.still(d.cg, time.Second)
	t.usageMu.Lock()
	defer t.usageMu.Unlock()
	cpu := t.cpuSeconds
	if !quiet || t.memoryAge == 0 {
		if cpu, err = d.cg.cpu(instanceID); err != nil {
			return 0, 0, fmt.Errorf("usage of instance %s: %w", instanceID, err)
		}
	}
	if cpu != t.cpuSeconds || t.memoryAge >= memoryRefresh || t.memoryAge == 0 {
		mem, err := d.cg.memory(instanceID)
		if err != nil {
			return 0, 0, fmt.Errorf("usage of instance %s: %w", instanceID, err)
		}
		t.memoryBytes, t.memoryAge = mem, 0
	}
	t.cpuSeconds = cpu
	t.memoryAge++
	return cpu, t.memoryBytes, nil
}

// memoryRefresh is how many Usage calls an idle instance's memory figure is
// kept for before it is read again.
const memoryRefresh = 10

// quietMark tells whether any instance has run since the last look: the
// parent cgroup's CPU time, read at most once per round.
type quietMark struct {
	mu    sync.Mutex
	at    time.Time
	cpu   float64
	known bool
	quiet bool
}

// still reads the parent cgroup's CPU time, unless it did so less than round
// ago, and reports whether it stood still since the read before. Without a
// readable figure nothing is quiet.
func (m *quietMark) still(cg *cgroups, round time.Duration) bool {
	if cg.outside.Load() {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known && time.Since(m.at) < round {
		return m.quiet
	}
	cpu, err := cg.parentCPU()
	if err != nil {
		m.known, m.quiet = false, false
		return false
	}
	m.quiet = m.known && cpu == m.cpu
	m.cpu, m.at, m.known = cpu, time.Now(), true
	return m.quiet
}

// Update changes a running instance's cgroup limits (pressure control).
func (d *Driver) Update(ctx context.Context, instanceID string, r api.Resources) error {
	if _, err := d.running(instanceID); err != nil {
		return fmt.Errorf("update instance %s: %w", instanceID, err)
	}
	if err := d.cg.setLimits(instanceID, limits{memoryBytes: r.MemoryMB << 20, vcpus: r.VCPUs}); err != nil {
		return fmt.Errorf("update instance %s: %w", instanceID, err)
	}
	return nil
}

func (d *Driver) instanceDir(id string) string {
	return filepath.Join(d.dataDir, "instances", id)
}

func (d *Driver) logPath(id string) string {
	return filepath.Join(d.instanceDir(id), "output.log")
}
