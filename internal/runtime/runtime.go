package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
)

// ErrNotFound is wrapped by drivers when an instance ID is unknown to them.
var ErrNotFound = errdefs.New(errdefs.ErrNotFound, "not found")

// ErrUnavailable is wrapped by drivers when the runtime itself (a daemon, a
// kernel feature such as cgroups) cannot be used, as opposed to a failure of
// one instance.
var ErrUnavailable = errdefs.New(errdefs.ErrUnavailable, "runtime unavailable")

// Spec is what to run: one instance of a service.
type Spec struct {
	InstanceID string
	Service    api.ServiceSpec
	// Network, when set, is the instance's address on the instance network
	// (internal/overlay): container and unikernel drivers attach the
	// instance to Bridge with Address. Nil means the driver's own default
	// network (and always for processes, which share the host's).
	Network *Network
}

// Network is an instance's place on the instance network.
type Network struct {
	// Address is the instance's address with its prefix ("10.18.1.5/24").
	Address string
	// Gateway is the worker's address on Bridge, the instance's default
	// route and DNS server.
	Gateway string
	// Bridge is the worker's bridge device for instances ("hedge0").
	Bridge string
	// DNS are the name servers the instance gets (Gateway first).
	DNS []string
}

// Task describes a started (or re-attached) instance.
type Task struct {
	InstanceID string
	PID        int
	StartedAt  time.Time
	// Handle is the driver's own account of the task (which process,
	// container or VM it is), opaque to everyone else. The worker persists
	// it when Start returns and gives it back to Recover after a restart.
	Handle []byte
	// Exited is set by Recover for a task that ended while nobody watched:
	// it is how the task ended, and there is nothing to Wait for.
	Exited *Exit
}

// Exit is how an instance ended.
type Exit struct {
	// Code is the exit status; for a process killed by a signal it is
	// 128+signal, as a shell's $? would show it.
	Code int
	// CodeKnown is false when the exit code cannot be known, for example for
	// a process re-attached after a worker restart (it is not the worker's
	// child, so the worker cannot collect its status).
	CodeKnown bool
	// Signal names the signal that killed the process ("SIGKILL"), if any.
	Signal string
	At     time.Time
	// Reason is a short human-readable account ("exited with code 3",
	// "stopped", "exited while the worker was down").
	Reason string
}

// Driver runs service instances on a worker. It is implemented by
// runtime/process, runtime/unikernel and the container drivers, and used by
// the worker, which owns the bookkeeping: which instances exist (it persists
// each Task.Handle), that an instance is started or recovered at most once
// at a time, and that each exit is acted on once. A driver only starts,
// waits, stops, removes and recovers. See docs/adr/007-worker-owns-task-handles.md.
//
// Instance IDs are valid by CheckID; callers check them (drivers may build
// paths and names from them). For one instance, the caller never calls
// Start or Recover while an earlier Start or Recover of it has not been
// followed by the end of Wait. All methods are safe for concurrent use.
type Driver interface {
	// Name is the virtualization the driver provides, e.g. "process".
	Name() string
	// Start starts the instance and returns once it is running. What an
	// earlier run of the same instance left behind is replaced.
	Start(ctx context.Context, spec Spec) (Task, error)
	// Wait blocks until the started or re-attached task ends and returns
	// how. It is called once per Start or re-attaching Recover. When ctx
	// ends first (or the driver is closed) it returns an error and the task
	// goes on running, for a later Recover.
	Wait(ctx context.Context, instanceID string) (Exit, error)
	// Stop asks the instance to end (SIGTERM, or the engine's stop
	// signal), kills it after grace (at once when grace <= 0), and returns
	// once it has ended, which needs the Wait in progress to collect it.
	// Stopping an instance that is not running returns nil.
	Stop(ctx context.Context, instanceID string, grace time.Duration) error
	// Remove deletes everything the instance left (process, container,
	// directory, cgroup, logs), killing it if it still runs. It is given
	// only the ID, so it also sweeps a start interrupted before its handle
	// was persisted; removing what does not exist is not an error.
	Remove(ctx context.Context, instanceID string) error
	// Logs returns the last tailBytes of the instance's combined stdout and
	// stderr.
	Logs(ctx context.Context, instanceID string, tailBytes int) ([]byte, error)
	// Recover re-attaches the task described by handle (from an earlier
	// Start, possibly by another driver value before a worker restart)
	// and returns it. For a task that ended while nobody watched it
	// returns Task.Exited instead, and keeps nothing of it. Recover starts
	// nothing.
	Recover(ctx context.Context, instanceID string, handle []byte) (Task, error)
}

// maxIDLength leaves room in containerd's 76-character identifiers for the
// "-<owner>" suffix the container drivers add.
const maxIDLength = 76 - 9

// CheckID is the one grammar of instance IDs, which every driver can use as a
// directory, cgroup, container and VM name: 1 to 67 letters or digits,
// separated by single '.', '_' or '-' (the root makes 24 hex digits). It
// returns an error wrapping ErrInvalidID that says what is wanted.
func CheckID(id string) error {
	ok := len(id) > 0 && len(id) <= maxIDLength
	sep := true // at the start, and after a separator, a letter or digit must come
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			sep = false
		case c == '.' || c == '_' || c == '-':
			ok = !sep
			sep = true
		default:
			ok = false
		}
	}
	if !ok || sep {
		return fmt.Errorf("instance id %q: %w: want 1 to %d letters or digits, separated by single '.', '_' or '-'", id, ErrInvalidID, maxIDLength)
	}
	return nil
}

// ErrInvalidID is wrapped by CheckID.
var ErrInvalidID = errdefs.New(errdefs.ErrInvalid, "invalid instance id")

// UsageReporter is implemented by drivers that can measure what each instance
// uses (from its cgroup). Callers find it by type assertion on a Driver.
type UsageReporter interface {
	// Usage returns the CPU time consumed so far and the memory in use now.
	Usage(ctx context.Context, instanceID string) (cpuSeconds float64, memoryBytes int64, err error)
}

// ProgressFunc is called by drivers while a Start is under way (an image pull,
// a download) with a short message for the instance's status, such as
// "pulling docker.io/library/nginx:latest: 3.1/10.2 MB". The worker shows it as
// the instance's reason while it is STARTING.
type ProgressFunc func(instanceID, message string)

// Engine is optional (type-assert): a driver that serves a virtualization
// through a particular engine names it, e.g. "containerd" or "docker" for
// "container". Workers report it so users can see what runs their instances.
type Engine interface {
	Engine() string
}

// Updater is optional (type-assert): a driver that can change the limits of a
// running instance, used by pressure control to tighten and restore them.
// Zero fields mean unlimited.
type Updater interface {
	Update(ctx context.Context, instanceID string, limits api.Resources) error
}

// Labels the container drivers set on every container they create.
const (
	LabelManaged  = "hedge.managed"
	LabelInstance = "hedge.instance"
	LabelService  = "hedge.service"
	// LabelOwner holds a digest of the driver's data directory: two workers
	// that share one engine (tests, a developer's machine, several workers
	// on one host) must not touch each other's containers.
	LabelOwner = "hedge.owner"
)

// Image pull policies of the container engines.
const (
	PullIfNotPresent = "if-not-present"
	PullAlways       = "always"
	PullNever        = "never"
)

// EngineOptions checks what every container engine's driver is given: its
// data directory (made absolute) and its pull policy (see PullPolicy).
func EngineOptions(dataDir, pullPolicy string) (dir, policy string, err error) {
	if dir, err = DataDir(dataDir); err != nil {
		return "", "", err
	}
	if policy, err = PullPolicy(pullPolicy); err != nil {
		return "", "", err
	}
	return dir, policy, nil
}

// PullPolicy checks a pull policy; "" means PullIfNotPresent.
func PullPolicy(p string) (string, error) {
	switch p {
	case "":
		return PullIfNotPresent, nil
	case PullIfNotPresent, PullAlways, PullNever:
		return p, nil
	}
	return "", fmt.Errorf("pull policy %q: want %s, %s or %s", p, PullIfNotPresent, PullAlways, PullNever)
}
