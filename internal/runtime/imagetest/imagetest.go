package imagetest

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	_ "embed"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// serverSource is the test server's program (server/main.go), built afresh
// by PushServer so that the image always matches this machine's architecture.
//
//go:embed server/main.go
var serverSource []byte

// busyboxPath is where Debian's busybox-static installs its binary.
const busyboxPath = "/bin/busybox"

// Registry is an in-process OCI registry listening on 127.0.0.1. Container
// engines allow plain HTTP to loopback registries by default, so nothing needs
// configuring on their side.
type Registry struct {
	srv *httptest.Server
}

// StartRegistry starts a registry on a free loopback port; it is stopped when
// the test ends.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return &Registry{srv: srv}
}

// Host is the registry's "127.0.0.1:PORT", the host part of its image
// references.
func (r *Registry) Host() string {
	return strings.TrimPrefix(r.srv.URL, "http://")
}

// PushServer builds the test HTTP server (server/main.go, static, no cgo),
// pushes an image whose only layer is that binary (/server, the entrypoint) as
// name:tag, and returns the image's full reference.
func (r *Registry) PushServer(t testing.TB, name, tag string) string {
	t.Helper()
	return r.pushServer(t, name, tag, nil)
}

// PushUniqueServer is PushServer with a file of random bytes added to the
// layer, so that its digest is new to every content store: a container
// engine must download it even when another test (in another namespace of
// the same containerd) holds the server image already.
func (r *Registry) PushUniqueServer(t testing.TB, name, tag string) string {
	t.Helper()
	noise := make([]byte, 2<<20)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	return r.pushServer(t, name, tag, noise)
}

func (r *Registry) pushServer(t testing.TB, name, tag string, noise []byte) string {
	t.Helper()
	bin := buildServer(t)
	entries := []tarEntry{
		{name: "server", mode: 0o755, body: bin},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	if noise != nil {
		entries = append(entries, tarEntry{name: "noise", mode: 0o644, body: noise})
	}
	layer := newLayer(t, entries)
	cfg := v1.Config{
		Entrypoint:   []string{"/server"},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	}
	return r.push(t, name, tag, cfg, layer)
}

// PushBusybox pushes an image whose only layer is the host's busybox-static
// (/bin/busybox with a symlink per applet: sh, echo, sleep, cat, ...; the
// command is sh) as name:tag and returns its full reference. It skips the test
// when /bin/busybox is absent.
func (r *Registry) PushBusybox(t testing.TB, name, tag string) string {
	t.Helper()
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Skipf("no busybox image: %v (apt-get install busybox-static)", err)
	}
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		t.Fatalf("%s --list: %v", busyboxPath, err)
	}
	entries := []tarEntry{
		{name: "bin/", mode: 0o755, dir: true},
		{name: "etc/", mode: 0o755, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "bin/busybox", mode: 0o755, body: bin},
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			entries = append(entries, tarEntry{name: "bin/" + applet, link: "busybox"})
		}
	}
	cfg := v1.Config{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/bin"},
	}
	return r.push(t, name, tag, cfg, newLayer(t, entries))
}

// push writes a one-layer image for this machine's platform.
func (r *Registry) push(t testing.TB, repo, tag string, cfg v1.Config, layer v1.Layer) string {
	t.Helper()
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: time.Now().UTC().Truncate(time.Second)},
		Config:       cfg,
	})
	if err != nil {
		t.Fatalf("image config: %v", err)
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatalf("image layer: %v", err)
	}
	refText := r.Host() + "/" + repo + ":" + tag
	ref, err := name.ParseReference(refText, name.Insecure)
	if err != nil {
		t.Fatalf("image reference %q: %v", refText, err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", refText, err)
	}
	return refText
}

// buildServer compiles server/main.go in a scratch module and returns the
// binary. The Go build cache makes every build after the first one quick.
func buildServer(t testing.TB) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	files := map[string][]byte{
		"go.mod":  []byte("module hedgetestserver\n\ngo 1.21\n"),
		"main.go": serverSource,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", "server", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test server: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// tarEntry is one file, directory or symlink of a layer.
type tarEntry struct {
	name string
	mode int64
	body []byte
	dir  bool
	link string
}

func newLayer(t testing.TB, entries []tarEntry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Uname: "root", Gname: "root"}
		switch {
		case e.dir:
			h.Typeflag = tar.TypeDir
		case e.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	return layer
}
