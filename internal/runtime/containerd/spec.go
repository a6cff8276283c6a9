package containerd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/fetch"
)

// FilesDir is where a service's added files appear inside its containers.
const FilesDir = "/hedge/files"

// cpuPeriod is the CFS period of the CPU quota, in microseconds (the
// kernel's default).
const cpuPeriod = 100000

// specOpts turn the SLA fields into the container's OCI spec. SLA semantics
// (the same as the Docker driver's): cmd, when set, replaces the image's
// entrypoint and command (Oakestra's behaviour) and args follow it; without
// cmd, args replace the image's command after its entrypoint; memory is a
// hard limit in MB (swap included where the kernel accounts swap); vcpus a CPU
// quota; privileged gives every capability and device.
func (d *Driver) specOpts(img client.Image, spec runtime.Spec, env []string, files []specs.Mount) []oci.SpecOpts {
	svc := &spec.Service
	var opts []oci.SpecOpts
	switch {
	case len(svc.Cmd) > 0:
		args := append(append([]string(nil), svc.Cmd...), svc.Args...)
		opts = append(opts, oci.WithImageConfig(img), oci.WithProcessArgs(args...))
	default:
		opts = append(opts, oci.WithImageConfigArgs(img, svc.Args))
	}
	opts = append(opts,
		withArgsRequired,
		oci.WithEnv(env),
		oci.WithHostname(hostname(spec.InstanceID)),
		oci.WithMounts(files),
	)
	if svc.MemoryMB > 0 {
		limit := svc.MemoryMB << 20
		opts = append(opts, oci.WithMemoryLimit(uint64(limit)))
		if d.swapLimit {
			opts = append(opts, oci.WithMemorySwap(limit))
		}
	}
	if svc.VCPUs > 0 {
		quota := max(int64(svc.VCPUs*cpuPeriod), 1000) // the kernel's minimum is 1 ms
		opts = append(opts, oci.WithCPUCFS(quota, cpuPeriod))
	}
	if svc.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	} else {
		opts = append(opts, seccomp.WithDefaultProfile())
	}
	return opts
}

// withArgsRequired refuses a spec with nothing to run, with a message a
// user can act on (runc's would be about an empty args array).
func withArgsRequired(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process == nil || len(s.Process.Args) == 0 {
		return errors.New("nothing to run: the image has no entrypoint or command, and the service sets no cmd")
	}
	return nil
}

// hostname is the container's host name: the instance ID, cut to the
// kernel's 64-byte limit.
func hostname(id string) string {
	if len(id) > 63 {
		return id[:63]
	}
	return id
}

// checkLimits rejects resource fields that cannot be limits.
func checkLimits(svc *api.ServiceSpec) error {
	if svc.MemoryMB < 0 || svc.MemoryMB > math.MaxInt64>>20 {
		return fmt.Errorf("memory %d: want a number of MB, 0 for no limit", svc.MemoryMB)
	}
	if svc.VCPUs < 0 || math.IsNaN(svc.VCPUs) || math.IsInf(svc.VCPUs, 0) || svc.VCPUs > 1e6 {
		return fmt.Errorf("vcpus %v: want a number of cores, 0 for no limit", svc.VCPUs)
	}
	return nil
}

// serviceName is "namespace.name", as HEDGE_SERVICE and the hedge.service
// label show it.
func serviceName(svc *api.ServiceSpec) string {
	if svc.Namespace != "" {
		return svc.Namespace + "." + svc.Name
	}
	return svc.Name
}

// environ is the service's environment with Hedge's variables over it; the
// image's own environment stays underneath.
func environ(spec runtime.Spec) ([]string, error) {
	env := make([]string, 0, len(spec.Service.Environment)+2)
	for i, kv := range spec.Service.Environment {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("environment[%d] %q: want KEY=VALUE", i, kv)
		}
		env = append(env, kv)
	}
	return append(env, "HEDGE_INSTANCE_ID="+spec.InstanceID, "HEDGE_SERVICE="+serviceName(&spec.Service)), nil
}

// swapAccounted reports whether the kernel accounts swap in memory cgroups,
// so that memory and swap can be limited together (cgroup v2 always does;
// v1 only with swapaccount=1).
func swapAccounted() bool {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		_, err := os.Stat("/sys/fs/cgroup/memory.swap.max")
		return err == nil || hasSwapMaxInChildren()
	}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

// hasSwapMaxInChildren looks for memory.swap.max one level down: the root
// cgroup of a v2 hierarchy has no memory files of its own.
func hasSwapMaxInChildren() bool {
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/memory.swap.max")
	return len(matches) > 0
}

// prepareFiles copies the service's added files into the instance directory
// (instances/<id>/files) and returns the read-only bind mount of that
// directory at FilesDir. Each entry is an absolute host path or an http(s)
// URL; the file keeps its base name, and two entries with the same base name
// are refused.
func (d *Driver) prepareFiles(ctx context.Context, id string, files []string) ([]specs.Mount, error) {
	dir := filepath.Join(d.instanceDir(id), "files")
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("added files: %w", err)
	}
	if len(files) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("added files: %w", err)
	}
	names := make(map[string]int)
	for i, f := range files {
		name, err := fetch.AddFile(ctx, d.http, dir, f)
		if err != nil {
			return nil, fmt.Errorf("added_files[%d] %q: %w", i, f, err)
		}
		if j, dup := names[name]; dup {
			return nil, fmt.Errorf("added_files[%d] %q: base name %q is already used by added_files[%d]", i, f, name, j)
		}
		names[name] = i
	}
	return []specs.Mount{{Destination: FilesDir, Type: "bind", Source: dir, Options: []string{"rbind", "ro"}}}, nil
}

// Update changes the limits of a running instance (pressure control tightens
// and restores them); zero fields lift a limit. The container's spec keeps
// the SLA's limits, so a restart of the instance starts from them again.
func (d *Driver) Update(ctx context.Context, instanceID string, r api.Resources) error {
	if r.MemoryMB < 0 || r.VCPUs < 0 || math.IsNaN(r.VCPUs) || math.IsInf(r.VCPUs, 0) {
		return fmt.Errorf("update instance %s: limits %+v: want memory and vcpus >= 0", instanceID, r)
	}
	t, err := d.running(ctx, instanceID)
	if err != nil {
		return fmt.Errorf("update instance %s: %w", instanceID, err)
	}
	if t == nil || t.exited.Load() {
		return fmt.Errorf("update instance %s: not running", instanceID)
	}
	memory, quota := int64(-1), int64(-1) // -1: unlimited
	if r.MemoryMB > 0 {
		memory = r.MemoryMB << 20
	}
	if r.VCPUs > 0 {
		quota = max(int64(r.VCPUs*cpuPeriod), 1000)
	}
	period := uint64(cpuPeriod)
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &memory},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
	}
	if d.swapLimit {
		swap := memory
		res.Memory.Swap = &swap
	}
	if err := t.task.Update(d.withNamespace(ctx), client.WithResources(res)); err != nil {
		return fmt.Errorf("update instance %s: %w", instanceID, err)
	}
	return nil
}
