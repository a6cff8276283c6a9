package containerd

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/sla"
)

func TestNormalizeRef(t *testing.T) {
	tests := []struct {
		name, code, want, err string
	}{
		{name: "short name", code: "nginx", want: "docker.io/library/nginx:latest"},
		{name: "user image", code: "bitnami/redis:7", want: "docker.io/bitnami/redis:7"},
		{name: "registry with port", code: "127.0.0.1:5000/app:1", want: "127.0.0.1:5000/app:1"},
		{name: "digest", code: "alpine@sha256:" + strings.Repeat("a", 64), want: "docker.io/library/alpine@sha256:" + strings.Repeat("a", 64)},
		{name: "empty", code: " ", err: "code: want an image reference"},
		{name: "upper case", code: "Nginx", err: `code "Nginx" is not a valid image reference`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normalizeRef(tt.code)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("normalizeRef(%q) = %q, %v; want error %q", tt.code, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("normalizeRef(%q) = %q, %v; want %q", tt.code, got, err, tt.want)
			}
		})
	}
}

func TestPlainHTTP(t *testing.T) {
	r, err := newRegistries("", []string{"registry.lan", "10.0.0.5:5000"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:5000", true},
		{"127.0.0.2:5000", true},
		{"localhost:5000", true},
		{"[::1]:5000", true},
		{"registry.lan", true},
		{"registry.lan:443", true},
		{"10.0.0.5:5000", true},
		{"10.0.0.5:6000", false},
		{"registry-1.docker.io", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got, _ := r.isPlainHTTP(tt.host); got != tt.want {
				t.Errorf("isPlainHTTP(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	cfg := map[string]any{"auths": map[string]any{
		"https://index.docker.io/v1/": map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("hub:secret"))},
		"registry.lan:5000":           map[string]string{"username": "u", "password": "p"},
		"https://token.example/v2/":   map[string]string{"identitytoken": "tok"},
		"broken.example":              map[string]string{"auth": "!!"},
	}}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := newRegistries(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, user, secret string
		err                bool
	}{
		{host: "registry-1.docker.io", user: "hub", secret: "secret"},
		{host: "registry.lan:5000", user: "u", secret: "p"},
		{host: "token.example", secret: "tok"},
		{host: "unknown.example"},
		{host: "broken.example", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			user, secret, err := r.credentials(tt.host)
			if (err != nil) != tt.err || user != tt.user || secret != tt.secret {
				t.Errorf("credentials(%q) = %q, %q, %v; want %q, %q, error=%v", tt.host, user, secret, err, tt.user, tt.secret, tt.err)
			}
		})
	}
	if _, err := newRegistries(filepath.Join(t.TempDir(), "absent.json"), nil); err == nil {
		t.Error("newRegistries with a missing config file succeeded, want an error")
	}
}

func TestCheckHostPorts(t *testing.T) {
	if err := checkHostPorts([]sla.PortMapping{{Host: 80, Container: 80, Protocol: "tcp"}}); err != nil {
		t.Errorf("identity mapping refused: %v", err)
	}
	err := checkHostPorts([]sla.PortMapping{{Host: 8080, Container: 80, Protocol: "tcp"}})
	if err == nil || !strings.Contains(err.Error(), "port 8080:80/tcp") {
		t.Errorf("translating mapping = %v, want an error naming it", err)
	}
}

func TestEnviron(t *testing.T) {
	s := runtime.Spec{InstanceID: "i-1", Service: api.ServiceSpec{Name: "web", Namespace: "shop", Environment: []string{"A=1", "B=x=y"}}}
	got, err := environ(s)
	want := "A=1|B=x=y|HEDGE_INSTANCE_ID=i-1|HEDGE_SERVICE=shop.web"
	if err != nil || strings.Join(got, "|") != want {
		t.Errorf("environ = %q, %v; want %s", got, err, want)
	}
	s.Service.Environment = []string{"NOVALUE"}
	if _, err := environ(s); err == nil || !strings.Contains(err.Error(), "environment[0]") {
		t.Errorf("environ with a bad entry = %v, want an error naming environment[0]", err)
	}
}

func TestConfList(t *testing.T) {
	b, err := confList("hedge0", "10.87.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string           `json:"name"`
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, p := range conf.Plugins {
		types = append(types, p["type"].(string))
	}
	if conf.Name != cniNetwork || strings.Join(types, ",") != "bridge,portmap" {
		t.Errorf("conf list = %s, want network %q with bridge, portmap", b, cniNetwork)
	}
}

func TestNewNetworkOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		err  string
		none bool
	}{
		{name: "host", opts: Options{Network: NetworkHost}, none: true},
		{name: "unknown mode", opts: Options{Network: "overlay"}, err: `network "overlay"`},
		{name: "no plugins, auto", opts: Options{CNIBinDirs: []string{t.TempDir()}}, none: true},
		{name: "no plugins, bridge asked", opts: Options{Network: NetworkBridge, CNIBinDirs: []string{t.TempDir()}}, err: "CNI plugins bridge, host-local, portmap, loopback not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := newNetwork(tt.opts, discardLogger())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("newNetwork = %v, want error %q", err, tt.err)
				}
				return
			}
			if err != nil || (n == nil) != tt.none {
				t.Errorf("newNetwork = %v, %v; want host network=%v", n, err, tt.none)
			}
		})
	}
}
