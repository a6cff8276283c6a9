package pressure

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Defaults of DockerOptions, FRACTAL's first-level limits.
const (
	DefaultDockerCPUs        = 0.5
	DefaultDockerMemoryBytes = 1 << 30
	DefaultDockerStopTimeout = 10 * time.Second
)

// cpuPeriod is the CFS period used when a limit is set as a quota (µs).
const cpuPeriod = 100_000

// DockerOptions configure a DockerActuator.
type DockerOptions struct {
	// Host is the daemon's address ("tcp://10.0.0.5:2376",
	// "unix:///var/run/docker.sock"); empty: $DOCKER_HOST, else the local
	// socket.
	Host string
	// CertDir holds ca.pem, cert.pem and key.pem for a daemon that wants
	// TLS client authentication, as $DOCKER_CERT_PATH does for the docker
	// CLI; empty: $DOCKER_CERT_PATH and $DOCKER_TLS_VERIFY apply.
	CertDir string
	// CPUs is the most a limited container may use, in cores (default
	// DefaultDockerCPUs).
	CPUs float64
	// MemoryBytes is a limited container's memory cap, swap included
	// (default DefaultDockerMemoryBytes).
	MemoryBytes int64
	// StopTimeout is how long an evicted container has to stop before it
	// is killed (default DefaultDockerStopTimeout).
	StopTimeout time.Duration
	// Only restricts the actuator to the containers that carry every one of
	// these labels (say com.docker.compose.project=edge); empty: all of the
	// host's containers.
	Only map[string]string
	// Logger receives one line per action on a container.
	Logger *slog.Logger
	// StateFile keeps what the actuator changed (the limits it replaced,
	// the containers it stopped), so that after a restart of the process
	// Restore can still undo it; empty: memory only.
	StateFile string
}

// DockerActuator acts on the containers of one Docker host through the
// Engine API, authenticated as its client is configured (unix socket
// permissions, or TLS with CertDir).
//
// It orders containers by the integer label LabelPriority (default 0) and
// never touches the monitoring: containers labelled LabelRole=RoleMonitoring,
// and any whose image or command names glances (FRACTAL's exporter carries
// no label). Containers labelled LabelPressure=PressureExempt are left alone
// too.
//
// What it changed is written to DockerOptions.StateFile, so that a restart
// loses nothing: RestorePending then tells the controller to restore.
type DockerActuator struct {
	cli         *client.Client
	cpus        float64
	memory      int64
	stopTimeout time.Duration
	only        client.Filters
	log         *slog.Logger
	// hostMemory and hostCPUs stand for "unlimited", which the Engine API
	// cannot set again once a limit was set.
	hostMemory int64
	hostCPUs   int

	// mu makes actions one at a time: each reads the containers, then
	// changes them.
	mu sync.Mutex
	// saved holds the limits containers had before Limit, by ID.
	saved map[string]limits
	// stopped are the containers Evict stopped, in order.
	stopped []victim
	// stateFile keeps saved and stopped across restarts ("" for none).
	stateFile string
}

var _ Actuator = (*DockerActuator)(nil)

// limits are the resource fields Limit changes.
type limits struct {
	NanoCPUs, CPUQuota, CPUPeriod int64
	Memory, MemorySwap            int64
}

func limitsOf(r container.Resources) limits {
	return limits{NanoCPUs: r.NanoCPUs, CPUQuota: r.CPUQuota, CPUPeriod: r.CPUPeriod, Memory: r.Memory, MemorySwap: r.MemorySwap}
}

// cores is the CPU limit in cores, 0 for none.
func (l limits) cores() float64 {
	switch {
	case l.NanoCPUs > 0:
		return float64(l.NanoCPUs) / 1e9
	case l.CPUQuota > 0:
		return float64(l.CPUQuota) / float64(cmp.Or(l.CPUPeriod, cpuPeriod))
	}
	return 0
}

// victim is a container that Evict stopped.
type victim struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// dockerState is what the state file holds.
type dockerState struct {
	Saved   map[string]limits `json:"saved"`
	Stopped []victim          `json:"stopped"`
}

// NewDockerActuator connects to the daemon, negotiating the API version (a
// Debian dockerd 20.10 speaks 1.41), and reads the host's size.
func NewDockerActuator(ctx context.Context, opts DockerOptions) (*DockerActuator, error) {
	cpus, memory := cmp.Or(opts.CPUs, DefaultDockerCPUs), cmp.Or(opts.MemoryBytes, DefaultDockerMemoryBytes)
	if cpus <= 0 || memory < 6<<20 {
		return nil, fmt.Errorf("docker actuator: limits of %v cpus and %d bytes: want cpus > 0 and memory of at least 6 MiB (the daemon's minimum): %w", cpus, memory, ErrInvalid)
	}
	clientOpts := []client.Opt{client.FromEnv}
	if opts.Host != "" {
		clientOpts = append(clientOpts, client.WithHost(opts.Host))
	}
	if opts.CertDir != "" {
		clientOpts = append(clientOpts, client.WithTLSClientConfig(
			filepath.Join(opts.CertDir, "ca.pem"), filepath.Join(opts.CertDir, "cert.pem"), filepath.Join(opts.CertDir, "key.pem")))
	}
	cli, err := client.New(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("docker actuator: %w", err)
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("docker actuator: daemon at %s: %w", cli.DaemonHost(), err)
	}
	a := &DockerActuator{
		stateFile:   opts.StateFile,
		cli:         cli,
		cpus:        cpus,
		memory:      memory,
		stopTimeout: cmp.Or(opts.StopTimeout, DefaultDockerStopTimeout),
		log:         opts.Logger,
		hostMemory:  info.Info.MemTotal,
		hostCPUs:    info.Info.NCPU,
		saved:       make(map[string]limits),
		only:        make(client.Filters),
	}
	for k, v := range opts.Only {
		a.only.Add("label", k+"="+v)
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("docker_host", cli.DaemonHost())
	if err := a.load(); err != nil {
		_ = cli.Close()
		return nil, err
	}
	return a, nil
}

// load reads the state file, if there is one.
func (a *DockerActuator) load() error {
	if a.stateFile == "" {
		return nil
	}
	data, err := os.ReadFile(a.stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("docker actuator: state: %w", err)
	}
	var st dockerState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("docker actuator: state file %s: %w", a.stateFile, err)
	}
	maps.Copy(a.saved, st.Saved)
	a.stopped = st.Stopped
	return nil
}

// persist writes the state file (atomically), after every change. A write
// that fails is logged: the action itself was done.
func (a *DockerActuator) persist() {
	if a.stateFile == "" {
		return
	}
	data, _ := json.Marshal(dockerState{Saved: a.saved, Stopped: a.stopped})
	tmp := a.stateFile + ".tmp"
	err := os.WriteFile(tmp, data, 0o600)
	if err == nil {
		err = os.Rename(tmp, a.stateFile)
	}
	if err != nil {
		a.log.Error("docker actuator: cannot keep its state; a restart would forget what to restore", "file", a.stateFile, "err", err)
	}
}

// RestorePending reports whether limits or stopped containers are left to
// restore, from before a restart of the process (RestorePender).
func (a *DockerActuator) RestorePending(string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.saved) > 0 || len(a.stopped) > 0
}

// Close closes the connection to the daemon.
func (a *DockerActuator) Close() error { return a.cli.Close() }

// candidate is a running container the actuator may act on.
type candidate struct {
	id, name string
	priority int
	created  int64
}

// candidates lists the running containers that may be limited or evicted,
// lowest priority first, then newest first (it has done the least work).
func (a *DockerActuator) candidates(ctx context.Context) ([]candidate, error) {
	res, err := a.cli.ContainerList(ctx, client.ContainerListOptions{Filters: a.only})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []candidate
	for _, c := range res.Items {
		name := containerName(c.ID, c.Names)
		if isMonitoring(c.Labels, c.Image, c.Command) || c.Labels[LabelPressure] == PressureExempt {
			continue
		}
		prio := 0
		if v, ok := c.Labels[LabelPriority]; ok {
			if prio, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				a.log.Warn("container priority is not an integer, taking 0", "container", name, "label", LabelPriority, "value", v)
				prio = 0
			}
		}
		out = append(out, candidate{id: c.ID, name: name, priority: prio, created: c.Created})
	}
	slices.SortFunc(out, func(x, y candidate) int {
		return cmp.Or(cmp.Compare(x.priority, y.priority), cmp.Compare(y.created, x.created), strings.Compare(x.name, y.name))
	})
	return out, nil
}

// isMonitoring says whether a container is the monitoring itself.
func isMonitoring(labels map[string]string, image, command string) bool {
	return labels[LabelRole] == RoleMonitoring ||
		strings.Contains(strings.ToLower(image), "glances") || strings.Contains(strings.ToLower(command), "glances")
}

func containerName(id string, names []string) string {
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return id[:min(12, len(id))]
}

// Limit caps the CPU and memory of every container of the lowest priority
// present (never loosening a tighter limit), saving their limits for
// Restore.
func (a *DockerActuator) Limit(ctx context.Context, node string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cands, err := a.candidates(ctx)
	if err != nil {
		return fmt.Errorf("limit %s: %w", node, err)
	}
	if len(cands) == 0 {
		a.log.Info("nothing to limit", "node", node)
		return nil
	}
	var errs []error
	for _, c := range cands {
		if c.priority != cands[0].priority {
			break
		}
		if err := a.limit(ctx, node, c); err != nil {
			errs = append(errs, fmt.Errorf("limit %s: container %s: %w", node, c.name, err))
		}
	}
	return errors.Join(errs...)
}

func (a *DockerActuator) limit(ctx context.Context, node string, c candidate) error {
	insp, err := a.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	if insp.Container.HostConfig == nil {
		return errors.New("inspect: no host config")
	}
	cur := limitsOf(insp.Container.HostConfig.Resources)
	if _, ok := a.saved[c.id]; !ok {
		a.saved[c.id] = cur
		a.persist()
	}
	var upd container.Resources
	changed := false
	if cores := cur.cores(); cores == 0 || cores > a.cpus {
		changed = true
		if cur.NanoCPUs > 0 {
			upd.NanoCPUs = int64(a.cpus * 1e9)
		} else {
			// A quota, unlike NanoCPUs, can be lifted again (-1).
			upd.CPUPeriod = cmp.Or(cur.CPUPeriod, cpuPeriod)
			upd.CPUQuota = max(1000, int64(a.cpus*float64(upd.CPUPeriod)))
		}
	}
	if cur.Memory == 0 || cur.Memory > a.memory {
		changed = true
		upd.Memory, upd.MemorySwap = a.memory, a.memory
	}
	if !changed {
		a.log.Info("container already within limits", "node", node, "container", c.name, "priority", c.priority)
		return nil
	}
	if _, err := a.cli.ContainerUpdate(ctx, c.id, client.ContainerUpdateOptions{Resources: &upd}); err != nil {
		return err
	}
	a.log.Info("container limited", "node", node, "container", c.name, "priority", c.priority, "cpus", a.cpus, "memory_bytes", a.memory)
	return nil
}

// Taint records the taint in the log: the Engine API cannot refuse new
// containers, and Hedge places nothing on a Docker host of a nodes file, so
// the controller's level is the taint.
func (a *DockerActuator) Taint(ctx context.Context, node string) error {
	a.log.Info("docker host tainted; the daemon itself cannot refuse new containers", "node", node)
	return nil
}

// Evict stops the running container of lowest priority (the newest among
// equals) and returns its name; "" when none is left.
func (a *DockerActuator) Evict(ctx context.Context, node string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cands, err := a.candidates(ctx)
	if err != nil {
		return "", fmt.Errorf("evict on %s: %w", node, err)
	}
	if len(cands) == 0 {
		a.log.Info("nothing left to evict", "node", node)
		return "", nil
	}
	c := cands[0]
	timeout := int(a.stopTimeout.Round(time.Second) / time.Second)
	if _, err := a.cli.ContainerStop(ctx, c.id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		return "", fmt.Errorf("evict on %s: stop container %s: %w", node, c.name, err)
	}
	a.stopped = append(a.stopped, victim{ID: c.id, Name: c.name})
	a.persist()
	a.log.Info("container evicted", "node", node, "container", c.name, "priority", c.priority)
	return c.name, nil
}

// Restore puts back the limits Limit changed and starts again the
// containers Evict stopped, the last stopped first. Containers removed in
// the meantime are forgotten; the others that fail are tried again by the
// next Restore. A limit that was "none" comes back as the whole host (all
// its memory; a CPU quota of -1), the closest the Engine API allows.
func (a *DockerActuator) Restore(ctx context.Context, node string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	ids := make([]string, 0, len(a.saved))
	for id := range a.saved {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		name, err := a.restoreLimits(ctx, id, a.saved[id])
		switch {
		case cerrdefs.IsNotFound(err):
			a.log.Info("limited container is gone", "node", node, "container", id[:min(12, len(id))])
		case err != nil:
			errs = append(errs, fmt.Errorf("restore %s: limits of container %s: %w", node, name, err))
			continue
		default:
			a.log.Info("container limits restored", "node", node, "container", name)
		}
		delete(a.saved, id)
	}
	var left []victim
	for i := len(a.stopped) - 1; i >= 0; i-- {
		v := a.stopped[i]
		_, err := a.cli.ContainerStart(ctx, v.ID, client.ContainerStartOptions{})
		switch {
		case cerrdefs.IsNotFound(err):
			a.log.Info("evicted container is gone", "node", node, "container", v.Name)
		case err != nil:
			errs = append(errs, fmt.Errorf("restore %s: start container %s: %w", node, v.Name, err))
			left = append([]victim{v}, left...)
		default:
			a.log.Info("evicted container started again", "node", node, "container", v.Name)
		}
	}
	a.stopped = left
	a.persist()
	return errors.Join(errs...)
}

// restoreLimits sets a container's limits back to saved and returns its
// name.
func (a *DockerActuator) restoreLimits(ctx context.Context, id string, saved limits) (string, error) {
	insp, err := a.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return id, err
	}
	name := strings.TrimPrefix(insp.Container.Name, "/")
	if insp.Container.HostConfig == nil {
		return name, errors.New("inspect: no host config")
	}
	cur := limitsOf(insp.Container.HostConfig.Resources)
	if cur == saved {
		return name, nil
	}
	var upd container.Resources
	switch {
	case saved.NanoCPUs > 0:
		upd.NanoCPUs = saved.NanoCPUs
	case saved.CPUQuota != 0:
		upd.CPUQuota, upd.CPUPeriod = saved.CPUQuota, saved.CPUPeriod
	case cur.CPUQuota > 0:
		upd.CPUQuota = -1
	case cur.NanoCPUs > 0:
		upd.NanoCPUs = int64(a.hostCPUs) * 1e9
	}
	// Memory goes up before swap may become unlimited: the kernel refuses
	// a memory limit over the current memory+swap limit.
	upd.Memory = cmp.Or(saved.Memory, a.hostMemory)
	upd.MemorySwap = upd.Memory
	if saved.MemorySwap >= upd.Memory {
		upd.MemorySwap = saved.MemorySwap
	}
	if _, err := a.cli.ContainerUpdate(ctx, id, client.ContainerUpdateOptions{Resources: &upd}); err != nil {
		return name, err
	}
	if saved.MemorySwap <= 0 {
		swap := container.Resources{MemorySwap: -1}
		if _, err := a.cli.ContainerUpdate(ctx, id, client.ContainerUpdateOptions{Resources: &swap}); err != nil {
			return name, err
		}
	}
	return name, nil
}
