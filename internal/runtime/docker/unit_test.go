package docker

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/network"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
)

func TestNormalizeRef(t *testing.T) {
	tests := []struct {
		code, want, err string
	}{
		{code: "nginx", want: "docker.io/library/nginx:latest"},
		{code: "curlimages/curl:7.82.0", want: "docker.io/curlimages/curl:7.82.0"},
		{code: "docker.io/library/nginx:latest", want: "docker.io/library/nginx:latest"},
		{code: "127.0.0.1:5000/app", want: "127.0.0.1:5000/app:latest"},
		{code: "ghcr.io/o/app@sha256:" + strings.Repeat("a", 64), want: "ghcr.io/o/app@sha256:" + strings.Repeat("a", 64)},
		{code: "", err: "want an image reference"},
		{code: "Upper/Case", err: `code "Upper/Case" is not a valid image reference`},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			got, err := normalizeRef(tt.code)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("normalizeRef(%q) = %q, %v; want an error saying %q", tt.code, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("normalizeRef(%q) = %q, %v; want %q", tt.code, got, err, tt.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "all", in: "a\nb\n", n: 0, want: "a\nb\n"},
		{name: "more than there is", in: "a\nb\n", n: 10, want: "a\nb\n"},
		{name: "from a line start", in: "one\ntwo\nthree\n", n: 6, want: "three\n"},
		{name: "cut exactly at a line start", in: "one\ntwo\n", n: 4, want: "two\n"},
		{name: "no line start in reach", in: "abcdefgh", n: 3, want: "fgh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tail([]byte(tt.in), tt.n)); got != tt.want {
				t.Errorf("tail(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestPullProgressAddsUpLayers(t *testing.T) {
	var p pullProgress
	steps := []struct {
		layer, status  string
		current, total int64
		changed        bool
	}{
		{"", "Pulling from library/nginx", 0, 0, false},
		{"a", "Pulling fs layer", 0, 0, false},
		{"b", "Pulling fs layer", 0, 0, false},
		{"a", "Downloading", 1_000_000, 4_000_000, true},
		{"b", "Downloading", 500_000, 6_200_000, true},
		{"a", "Download complete", 0, 0, true},
		{"a", "Download complete", 0, 0, false},
	}
	for i, s := range steps {
		if got := p.update(s.layer, s.status, s.current, s.total); got != s.changed {
			t.Errorf("step %d (%s %s): changed = %v, want %v", i, s.layer, s.status, got, s.changed)
		}
	}
	if got := p.String(); got != "4.5/10.2 MB" {
		t.Errorf("progress = %q, want %q", got, "4.5/10.2 MB")
	}
}

func TestRegistryCredentials(t *testing.T) {
	dir := t.TempDir()
	// A credential helper, as docker-credential-* programs are: the server
	// on stdin, JSON on stdout.
	helper := "#!/bin/sh\nread server\nif [ \"$server\" = helped.example.com ]; then\n" +
		"  echo '{\"ServerURL\":\"helped.example.com\",\"Username\":\"bob\",\"Secret\":\"pw2\"}'\nelse\n" +
		"  echo 'credentials not found in native keychain'; exit 1\nfi\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-fake"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	config := filepath.Join(dir, "config.json")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	err := os.WriteFile(config, []byte(`{
		"auths": {
			"https://index.docker.io/v1/": {"auth": "`+b64("hub:pw1")+`"},
			"https://registry.example.com/v2/": {"auth": "`+b64("alice:s3cret")+`"},
			"token.example.com": {"identitytoken": "tok"}
		},
		"credHelpers": {"helped.example.com": "fake", "other.example.com": "fake"}
	}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadCredentials(config)
	if err != nil {
		t.Fatalf("loadCredentials: %v", err)
	}
	tests := []struct {
		ref               string
		user, pass, token string
		server            string
		anonymous         bool
	}{
		{ref: "nginx", user: "hub", pass: "pw1", server: dockerHubKey},
		{ref: "registry.example.com/app:1", user: "alice", pass: "s3cret", server: "registry.example.com"},
		{ref: "token.example.com/app", token: "tok", server: "token.example.com"},
		{ref: "helped.example.com/app", user: "bob", pass: "pw2", server: "helped.example.com"},
		{ref: "other.example.com/app", anonymous: true},
		{ref: "unknown.example.com/app", anonymous: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			ref, _ := normalizeRef(tt.ref)
			enc, err := c.forImage(context.Background(), ref)
			if err != nil {
				t.Fatalf("forImage: %v", err)
			}
			if tt.anonymous {
				if enc != "" {
					t.Errorf("credentials = %q, want none", enc)
				}
				return
			}
			ac, err := authconfig.Decode(enc)
			if err != nil {
				t.Fatalf("decode %q: %v", enc, err)
			}
			if ac.Username != tt.user || ac.Password != tt.pass || ac.IdentityToken != tt.token || ac.ServerAddress != tt.server {
				t.Errorf("credentials = %+v, want user %q password %q token %q for %q", ac, tt.user, tt.pass, tt.token, tt.server)
			}
		})
	}
	if _, err := loadCredentials(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "registry config") {
		t.Errorf("loadCredentials of a missing file = %v, want an error naming the registry config", err)
	}
}

func TestContainerConfig(t *testing.T) {
	d := &Driver{owner: "0wner"}
	tests := []struct {
		name         string
		svc          api.ServiceSpec
		entrypoint   []string
		cmd          []string
		memory, nano int64
		ports        map[string]string // container port -> host port
		privileged   bool
		err          string
	}{
		{name: "image defaults", svc: api.ServiceSpec{}},
		{name: "cmd replaces entrypoint and command", svc: api.ServiceSpec{Cmd: []string{"/app", "-v"}}, entrypoint: []string{"/app", "-v"}, cmd: []string{}},
		{name: "cmd and args", svc: api.ServiceSpec{Cmd: []string{"/app"}, Args: []string{"x"}}, entrypoint: []string{"/app"}, cmd: []string{"x"}},
		{name: "args alone replace the command", svc: api.ServiceSpec{Args: []string{"x", "y"}}, cmd: []string{"x", "y"}},
		{name: "limits", svc: api.ServiceSpec{MemoryMB: 256, VCPUs: 1.5}, memory: 256 << 20, nano: 1_500_000_000},
		{name: "ports", svc: api.ServiceSpec{Port: "8080:80;53:53/udp;9000"}, ports: map[string]string{"80/tcp": "8080", "53/udp": "53", "9000/tcp": "9000"}},
		{name: "privileged", svc: api.ServiceSpec{Privileged: true}, privileged: true},
		{name: "bad port", svc: api.ServiceSpec{Port: "80:http"}, err: "port:"},
		{name: "bad environment", svc: api.ServiceSpec{Environment: []string{"NOVALUE"}}, err: `environment[0] "NOVALUE": want KEY=VALUE`},
		{name: "negative memory", svc: api.ServiceSpec{MemoryMB: -1}, err: "memory -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.svc.Name, tt.svc.Namespace = "web", "shop"
			cfg, host, err := d.containerConfig(runtime.Spec{InstanceID: "i1", Service: tt.svc}, "docker.io/library/x:latest")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("containerConfig = %v, want an error saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("containerConfig: %v", err)
			}
			if !slices.Equal(cfg.Entrypoint, tt.entrypoint) || (cfg.Entrypoint == nil) != (tt.entrypoint == nil) {
				t.Errorf("entrypoint = %#v, want %#v", cfg.Entrypoint, tt.entrypoint)
			}
			if !slices.Equal(cfg.Cmd, tt.cmd) || (cfg.Cmd == nil) != (tt.cmd == nil) {
				t.Errorf("cmd = %#v, want %#v", cfg.Cmd, tt.cmd)
			}
			if host.Memory != tt.memory || host.MemorySwap != tt.memory || host.NanoCPUs != tt.nano {
				t.Errorf("memory %d, swap %d, nano cpus %d; want %d, %d, %d", host.Memory, host.MemorySwap, host.NanoCPUs, tt.memory, tt.memory, tt.nano)
			}
			if host.Privileged != tt.privileged {
				t.Errorf("privileged = %v", host.Privileged)
			}
			if len(host.PortBindings) != len(tt.ports) {
				t.Errorf("port bindings = %v, want %v", host.PortBindings, tt.ports)
			}
			for cport, hport := range tt.ports {
				p := network.MustParsePort(cport)
				if b := host.PortBindings[p]; len(b) != 1 || b[0].HostPort != hport {
					t.Errorf("binding of %s = %+v, want host port %s", cport, b, hport)
				}
				if _, ok := cfg.ExposedPorts[p]; !ok {
					t.Errorf("%s not exposed", cport)
				}
			}
			wantLabels := map[string]string{runtime.LabelManaged: "true", runtime.LabelInstance: "i1", runtime.LabelService: "shop.web", runtime.LabelOwner: "0wner"}
			for k, v := range wantLabels {
				if cfg.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
				}
			}
			if !slices.Contains(cfg.Env, "HEDGE_INSTANCE_ID=i1") || !slices.Contains(cfg.Env, "HEDGE_SERVICE=shop.web") {
				t.Errorf("env = %q, want Hedge's variables", cfg.Env)
			}
			if host.RestartPolicy.Name != "no" || host.LogConfig.Config["max-size"] == "" {
				t.Errorf("restart policy %q, log config %+v; want no restarts by the daemon and bounded logs", host.RestartPolicy.Name, host.LogConfig)
			}
		})
	}
}

func TestNewFailures(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		unavailable bool
		err         string
	}{
		{name: "no daemon answers", opts: Options{DataDir: t.TempDir(), Host: "unix://" + filepath.Join(t.TempDir(), "docker.sock")}, unavailable: true, err: "docker.sock"},
		{name: "no data dir", opts: Options{}, err: "data dir is required"},
		{name: "unknown pull policy", opts: Options{DataDir: t.TempDir(), PullPolicy: "sometimes"}, err: `pull policy "sometimes"`},
		{name: "unreadable registry config", opts: Options{DataDir: t.TempDir(), RegistryConfig: "/nonexistent/config.json"}, err: "registry config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(context.Background(), tt.opts)
			if err == nil {
				d.Close()
				t.Fatal("New succeeded, want an error")
			}
			if errors.Is(err, runtime.ErrUnavailable) != tt.unavailable || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("New = %v; want ErrUnavailable %v and a message saying %q", err, tt.unavailable, tt.err)
			}
		})
	}
}
