package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path"
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
			labelManaged:  "true",
			labelInstance: spec.InstanceID,
			labelService:  service,
			labelOwner:    d.owner,
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
		name, err := d.addFile(ctx, dir, f)
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

// addFile copies one added file into dir and returns its base name.
func (d *Driver) addFile(ctx context.Context, dir, src string) (string, error) {
	if u, err := url.Parse(src); err == nil && (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")) {
		name := path.Base(u.Path)
		if name == "/" || name == "." || name == "" {
			return "", errors.New("the URL's path has no file name")
		}
		return name, fetch.Download(ctx, d.http, src, filepath.Join(dir, name), 0o644, nil)
	}
	if !filepath.IsAbs(src) {
		return "", errors.New("want an absolute host path or an http(s) URL")
	}
	name := filepath.Base(src)
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	return name, writeFile(filepath.Join(dir, name), in, fi.Mode().Perm())
}

// writeFile copies r into a new file dst with mode perm.
func writeFile(dst string, r io.Reader, perm fs.FileMode) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
