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
}

// Task describes a started (or re-attached) instance.
type Task struct {
	InstanceID string
	PID        int
	StartedAt  time.Time
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

// ExitFunc is called once per task, from the driver's goroutine, when the task
// ends (also when it was stopped). It should return quickly: the driver's
// supervision of that task waits for it.
type ExitFunc func(instanceID string, e Exit)

// Driver runs service instances on a worker. It is implemented by
// runtime/process and by the container drivers. All methods are safe for
// concurrent use.
type Driver interface {
	// Name is the virtualization the driver provides, e.g. "process".
	Name() string
	// Start starts the instance and returns once it is running.
	Start(ctx context.Context, spec Spec) (Task, error)
	// Stop asks the instance to end (SIGTERM to its process group), kills it
	// after grace (SIGKILL) and returns when it is gone. It must be
	// idempotent: stopping an instance that has already ended returns nil.
	Stop(ctx context.Context, instanceID string, grace time.Duration) error
	// Remove deletes what the instance left behind (directory, cgroup,
	// logs). It is called after Stop and must be idempotent.
	Remove(ctx context.Context, instanceID string) error
	// Logs returns the last tailBytes of the instance's combined stdout and
	// stderr.
	Logs(ctx context.Context, instanceID string, tailBytes int) ([]byte, error)
	// Recover is called after a worker restart: it re-attaches the tasks that
	// are still alive and returns them, and calls ExitFunc for those that
	// ended meanwhile. It must not start anything.
	Recover(ctx context.Context) ([]Task, error)
}

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

// Image pull policies of the container engines.
const (
	PullIfNotPresent = "if-not-present"
	PullAlways       = "always"
	PullNever        = "never"
)

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
