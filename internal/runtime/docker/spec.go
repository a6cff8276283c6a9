package docker

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/fetch"
	"github.com/hedgeorch/hedge/internal/sla"
)

// FilesDir is where a service's added files appear inside its containers.
const FilesDir = "/hedge/files"

// Container log bounds: json-file keeps at most logMaxFiles files of
// logMaxSize each per container, so a chatty instance cannot fill the node.
const (
	logMaxSize  = "10m"
	logMaxFiles = "2"
)

// containerConfig turns the SLA fields into the container's configuration.
// SLA semantics: cmd, when set, replaces the image's entrypoint and command
// (Oakestra's behaviour); args replace the image's command (after cmd, or
// after the image's entrypoint when there is no cmd); memory is a hard limit
// in MB (no extra swap); vcpus a CPU quota.
func (d *Driver) containerConfig(spec runtime.Spec, ref string) (*container.Config, *container.HostConfig, error) {
	svc := &spec.Service
	env, err := environ(spec)
	if err != nil {
		return nil, nil, err
	}
	ports, err := sla.ParsePorts(svc.Port)
	if err != nil {
		return nil, nil, fmt.Errorf("port: %w", err)
	}
	if svc.MemoryMB < 0 {
		return nil, nil, fmt.Errorf("memory %d: want a number of MB, 0 for no limit", svc.MemoryMB)
	}
	if svc.VCPUs < 0 || math.IsNaN(svc.VCPUs) || math.IsInf(svc.VCPUs, 0) {
		return nil, nil, fmt.Errorf("vcpus %v: want a number of cores, 0 for no limit", svc.VCPUs)
	}
	service := svc.Name
	if svc.Namespace != "" {
		service = svc.Namespace + "." + service
	}
	cfg := &container.Config{
		Image: ref,
		Env:   env,
		Labels: map[string]string{
			runtime.LabelManaged:  "true",
			runtime.LabelInstance: spec.InstanceID,
			runtime.LabelService:  service,
			runtime.LabelOwner:    d.owner,
		},
	}
	if len(svc.Cmd) > 0 {
		cfg.Entrypoint = append([]string(nil), svc.Cmd...)
		cfg.Cmd = append([]string{}, svc.Args...)
	} else if len(svc.Args) > 0 {
		cfg.Cmd = append([]string(nil), svc.Args...)
	}
	host := &container.HostConfig{
		Privileged:    svc.Privileged,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": logMaxSize, "max-file": logMaxFiles}},
	}
	if svc.MemoryMB > 0 {
		host.Memory = svc.MemoryMB << 20
		host.MemorySwap = host.Memory
	}
	if svc.VCPUs > 0 {
		host.NanoCPUs = int64(svc.VCPUs * 1e9)
	}
	if len(ports) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		host.PortBindings = network.PortMap{}
		for _, m := range ports {
			p, ok := network.PortFrom(uint16(m.Container), network.IPProtocol(m.Protocol))
			if !ok {
				return nil, nil, fmt.Errorf("port: bad protocol %q", m.Protocol)
			}
			cfg.ExposedPorts[p] = struct{}{}
			host.PortBindings[p] = append(host.PortBindings[p], network.PortBinding{HostPort: fmt.Sprint(m.Host)})
		}
	}
	return cfg, host, nil
}

// environ is the service's environment with Hedge's variables over it; the
// image's own environment stays underneath (the daemon merges it).
func environ(spec runtime.Spec) ([]string, error) {
	service := spec.Service.Name
	if spec.Service.Namespace != "" {
		service = spec.Service.Namespace + "." + service
	}
	env := make([]string, 0, len(spec.Service.Environment)+2)
	for i, kv := range spec.Service.Environment {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("environment[%d] %q: want KEY=VALUE", i, kv)
		}
		env = append(env, kv)
	}
	return append(env, "HEDGE_INSTANCE_ID="+spec.InstanceID, "HEDGE_SERVICE="+service), nil
}

// prepareFiles copies the service's added files into the instance directory
// (instances/<id>/files) and mounts that directory read-only at FilesDir.
// Each entry is an absolute host path or an http(s) URL; the file keeps its
// base name, and two entries with the same base name are refused.
func (d *Driver) prepareFiles(ctx context.Context, id string, files []string, host *container.HostConfig) error {
	dir := filepath.Join(d.instanceDir(id), "files")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("added files: %w", err)
	}
	if len(files) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("added files: %w", err)
	}
	names := make(map[string]int)
	for i, f := range files {
		name, err := fetch.AddFile(ctx, d.http, dir, f)
		if err != nil {
			return fmt.Errorf("added_files[%d] %q: %w", i, f, err)
		}
		if j, dup := names[name]; dup {
			return fmt.Errorf("added_files[%d] %q: base name %q is already used by added_files[%d]", i, f, name, j)
		}
		names[name] = i
	}
	host.Binds = append(host.Binds, dir+":"+FilesDir+":ro")
	return nil
}
