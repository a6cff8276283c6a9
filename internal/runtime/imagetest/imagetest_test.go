package imagetest

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestPushServer(t *testing.T) {
	reg := StartRegistry(t)
	ref := reg.PushServer(t, "server", "v1")
	if want := reg.Host() + "/server:v1"; ref != want || !strings.HasPrefix(ref, "127.0.0.1:") {
		t.Fatalf("PushServer = %q, want %q on 127.0.0.1", ref, want)
	}
	files := pulledFiles(t, ref)
	bin, ok := files["server"]
	if !ok {
		t.Fatalf("layer holds %v, want /server", keys(files))
	}
	img := pull(t, ref)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/server" || cfg.OS != "linux" || cfg.Architecture == "" {
		t.Errorf("config = %+v, want entrypoint /server for linux", cfg)
	}

	// The binary in the image is the test server: run it here.
	path := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(path)
	cmd.Env = []string{fmt.Sprintf("PORT=%d", port), "HEDGE_INSTANCE_ID=inst-7"}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if want := fmt.Sprintf("listening on :%d\n", port); err != nil || line != want {
		t.Fatalf("server printed %q, %v; want %q", line, err, want)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if got := httpGet(t, base+"/"); got != "hello from inst-7\n" {
		t.Errorf("GET / = %q", got)
	}
	if got := httpGet(t, base+"/alloc?mb=8"); got != "allocated 8 MB\n" {
		t.Errorf("GET /alloc = %q", got)
	}
}

func TestPushBusybox(t *testing.T) {
	reg := StartRegistry(t)
	ref := reg.PushBusybox(t, "busybox", "1")
	files := pulledFiles(t, ref)
	for _, f := range []string{"bin/busybox", "bin/sh", "bin/echo", "bin/sleep", "bin/cat"} {
		if _, ok := files[f]; !ok {
			t.Errorf("busybox image has no %s", f)
		}
	}
}

func pull(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return img
}

// pulledFiles pulls ref back from the registry and returns the files of its
// only layer by path (symlinks with no content).
func pulledFiles(t *testing.T, ref string) map[string][]byte {
	t.Helper()
	layers, err := pull(t, ref).Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers of %s = %d, %v; want one", ref, len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
