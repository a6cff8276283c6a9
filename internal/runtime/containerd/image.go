package containerd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// progressEvery is how often a pull's progress is passed on at most.
const progressEvery = 500 * time.Millisecond

// normalizeRef turns a service's code into a full image reference, the way
// Docker reads it: "nginx" is docker.io/library/nginx:latest.
func normalizeRef(code string) (string, error) {
	if strings.TrimSpace(code) == "" {
		return "", errors.New("code: want an image reference such as docker.io/library/nginx:latest, got nothing")
	}
	named, err := reference.ParseDockerRef(code)
	if err != nil {
		return "", fmt.Errorf("code %q is not a valid image reference: %w", code, err)
	}
	return named.String(), nil
}

// ensureImage makes ref present and unpacked as the pull policy says.
func (d *Driver) ensureImage(ctx context.Context, id, ref string) (client.Image, error) {
	if d.pullPolicy != runtime.PullAlways {
		img, err := d.client.GetImage(ctx, ref)
		switch {
		case err == nil:
			if err := d.unpack(ctx, img); err != nil {
				return nil, err
			}
			return img, nil
		case !cerrdefs.IsNotFound(err):
			return nil, fmt.Errorf("look up image %s: %w", ref, err)
		case d.pullPolicy == runtime.PullNever:
			return nil, fmt.Errorf("image %s is not present and the pull policy is %q", ref, runtime.PullNever)
		}
	}
	return d.pull(ctx, id, ref)
}

// unpack makes sure the image's layers are in the driver's snapshotter (an
// image pulled by someone else may only be in the content store).
func (d *Driver) unpack(ctx context.Context, img client.Image) error {
	ok, err := img.IsUnpacked(ctx, d.snapshotter)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, d.snapshotter); err != nil {
		return fmt.Errorf("unpack %s: %w", img.Name(), err)
	}
	return nil
}

// pull fetches and unpacks ref, passing its progress to OnProgress as
// "pulling REF: 3.1/10.2 MB".
func (d *Driver) pull(ctx context.Context, id, ref string) (client.Image, error) {
	d.onProgress(id, "pulling "+ref)
	p := &pullProgress{sizes: make(map[digest.Digest]int64)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.reportProgress(ctx, id, ref, p, stop)
	}()
	img, err := d.client.Pull(ctx, ref,
		client.WithPullUnpack,
		client.WithPullSnapshotter(d.snapshotter),
		client.WithResolver(d.registries.resolver()),
		client.WithImageHandler(images.HandlerFunc(func(_ context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
			p.add(desc)
			return nil, nil
		})),
	)
	close(stop)
	wg.Wait()
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("pull %s: %w", ref, cerrdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return img, nil
}

// reportProgress passes the pull's progress on every progressEvery until stop
// is closed.
func (d *Driver) reportProgress(ctx context.Context, id, ref string, p *pullProgress, stop <-chan struct{}) {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	cs := d.client.ContentStore()
	last := ""
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		active := make(map[digest.Digest]int64)
		if statuses, err := cs.ListStatuses(ctx); err == nil {
			for _, st := range statuses {
				active[st.Expected] = st.Offset
			}
		}
		var current, total int64
		for dgst, size := range p.snapshot() {
			total += size
			if off, ok := active[dgst]; ok {
				current += off
			} else if _, err := cs.Info(ctx, dgst); err == nil {
				current += size
			}
		}
		if msg := fmt.Sprintf("pulling %s: %.1f/%.1f MB", ref, float64(current)/1e6, float64(total)/1e6); total > 0 && msg != last {
			last = msg
			d.onProgress(id, msg)
		}
	}
}

// pullProgress collects the descriptors (manifests, config, layers) of a
// pull as containerd dispatches them.
type pullProgress struct {
	mu    sync.Mutex
	sizes map[digest.Digest]int64
}

func (p *pullProgress) add(desc ocispec.Descriptor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sizes[desc.Digest] = desc.Size
}

func (p *pullProgress) snapshot() map[digest.Digest]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[digest.Digest]int64, len(p.sizes))
	for k, v := range p.sizes {
		out[k] = v
	}
	return out
}

// registries says how registries are reached: which ones over plain HTTP,
// and with which credentials.
type registries struct {
	configPath string
	plainHTTP  map[string]bool
}

func newRegistries(configPath string, plainHTTP []string) (*registries, error) {
	r := &registries{configPath: configPath, plainHTTP: make(map[string]bool)}
	for _, h := range plainHTTP {
		r.plainHTTP[strings.TrimSpace(h)] = true
	}
	if configPath != "" {
		if _, err := r.readConfig(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// resolver is made for each pull, so that a changed config file needs no
// worker restart.
func (r *registries) resolver() remotes.Resolver {
	opts := []docker.RegistryOpt{docker.WithPlainHTTP(r.isPlainHTTP)}
	if r.configPath != "" {
		opts = append(opts, docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(r.credentials))))
	}
	return docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(opts...)})
}

// isPlainHTTP reports whether host is reached over HTTP: a loopback host, or
// one listed in Options.PlainHTTP (with or without its port).
func (r *registries) isPlainHTTP(host string) (bool, error) {
	if ok, err := docker.MatchLocalhost(host); err == nil && ok {
		return true, nil
	}
	if r.plainHTTP[host] {
		return true, nil
	}
	if i := strings.LastIndexByte(host, ':'); i > 0 && !strings.HasSuffix(host, "]") {
		return r.plainHTTP[host[:i]], nil
	}
	return false, nil
}

// registryConfig is the part of a Docker config.json that holds credentials.
type registryConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
}

func (r *registries) readConfig() (*registryConfig, error) {
	b, err := os.ReadFile(r.configPath)
	if err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	var cfg registryConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("registry config %s: %w", r.configPath, err)
	}
	return &cfg, nil
}

// credentials returns the user name and secret for host from the config's
// auths (keys may be URLs or plain host names; Docker Hub is known by
// several names). An identity token is returned with an empty user name,
// which containerd sends as a refresh token.
func (r *registries) credentials(host string) (string, string, error) {
	cfg, err := r.readConfig()
	if err != nil {
		return "", "", err
	}
	want := map[string]bool{host: true}
	if host == "registry-1.docker.io" || host == "docker.io" || host == "index.docker.io" {
		want["docker.io"], want["index.docker.io"], want["registry-1.docker.io"] = true, true, true
	}
	for key, e := range cfg.Auths {
		h := key
		if _, rest, ok := strings.Cut(h, "://"); ok {
			h = rest
		}
		h, _, _ = strings.Cut(h, "/")
		if !want[h] {
			continue
		}
		if e.IdentityToken != "" {
			return "", e.IdentityToken, nil
		}
		if e.Auth == "" {
			return e.Username, e.Password, nil
		}
		raw, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return "", "", fmt.Errorf("registry config: auth of %s is not base64: %w", key, err)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return "", "", fmt.Errorf("registry config: auth of %s: want base64 of user:password", key)
		}
		return user, pass, nil
	}
	return "", "", nil
}
