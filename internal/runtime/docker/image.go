package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// progressEvery is how often a pull's progress is passed on at most.
const progressEvery = 500 * time.Millisecond

// normalizeRef turns a service's code into a full image reference, the way
// Docker reads it: "nginx" is docker.io/library/nginx:latest.
func normalizeRef(code string) (string, error) {
	if strings.TrimSpace(code) == "" {
		return "", fmt.Errorf("code: want an image reference such as docker.io/library/nginx:latest, got nothing")
	}
	named, err := reference.ParseNormalizedNamed(code)
	if err != nil {
		return "", fmt.Errorf("code %q is not a valid image reference: %w", code, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// ensureImage makes ref present on the daemon as the pull policy says.
func (d *Driver) ensureImage(ctx context.Context, id, ref string) error {
	if d.pullPolicy != runtime.PullAlways {
		_, err := d.cli.ImageInspect(ctx, ref)
		switch {
		case err == nil:
			return nil
		case !cerrdefs.IsNotFound(err):
			return fmt.Errorf("inspect image %s: %w", ref, err)
		case d.pullPolicy == runtime.PullNever:
			return fmt.Errorf("image %s is not present and the pull policy is %q", ref, runtime.PullNever)
		}
	}
	return d.pull(ctx, id, ref)
}

// pull pulls ref, passing its progress to OnProgress as
// "pulling REF: 3.1/10.2 MB".
func (d *Driver) pull(ctx context.Context, id, ref string) error {
	d.onProgress(id, "pulling "+ref)
	opts := client.ImagePullOptions{}
	if d.auth != nil {
		auth, err := d.auth.forImage(ctx, ref)
		if err != nil {
			return fmt.Errorf("pull %s: credentials: %w", ref, err)
		}
		opts.RegistryAuth = auth
	}
	resp, err := d.cli.ImagePull(ctx, ref, opts)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer resp.Close()
	var p pullProgress
	last := time.Now()
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
		if msg.Error != nil {
			return fmt.Errorf("pull %s: %s", ref, msg.Error.Message)
		}
		var current, total int64
		if msg.Progress != nil {
			current, total = msg.Progress.Current, msg.Progress.Total
		}
		if p.update(msg.ID, msg.Status, current, total) && time.Since(last) >= progressEvery {
			last = time.Now()
			d.onProgress(id, "pulling "+ref+": "+p.String())
		}
	}
	if len(p.order) > 0 {
		d.onProgress(id, "pulling "+ref+": "+p.String())
	}
	return nil
}

// pullProgress adds up the layers of one pull.
type pullProgress struct {
	layers map[string]*layerProgress
	order  []string
}

type layerProgress struct{ current, total int64 }

// update takes one status message of the pull; it reports whether the
// figures changed.
func (p *pullProgress) update(layer, status string, current, total int64) bool {
	if layer == "" {
		return false
	}
	if p.layers == nil {
		p.layers = make(map[string]*layerProgress)
	}
	l := p.layers[layer]
	if l == nil {
		l = &layerProgress{}
		p.layers[layer] = l
		p.order = append(p.order, layer)
	}
	before := *l
	switch status {
	case "Downloading":
		l.current, l.total = current, max(total, l.total)
	case "Download complete", "Pull complete", "Verifying Checksum", "Extracting":
		l.current = l.total
	}
	return *l != before
}

// String is "3.1/10.2 MB" (downloaded of known total).
func (p *pullProgress) String() string {
	var current, total int64
	for _, id := range p.order {
		current += p.layers[id].current
		total += p.layers[id].total
	}
	return fmt.Sprintf("%.1f/%.1f MB", float64(current)/1e6, float64(total)/1e6)
}
