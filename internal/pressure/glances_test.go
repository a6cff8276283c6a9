package pressure

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/metrics/glances"
)

// Bodies as Glances 3.3.1.1 writes them (trimmed of nothing: extra fields
// must be ignored).
const (
	glancesCPU  = `{"total": 86.3, "user": 70.1, "nice": 0.0, "system": 14.2, "idle": 13.7, "iowait": 0.0, "irq": 0.0, "softirq": 2.0, "steal": 0.0, "guest": 0.0, "guest_nice": 0.0, "time_since_update": 2.01, "cpucore": 4, "ctx_switches": 12034, "interrupts": 8123, "soft_interrupts": 5012, "syscalls": 0}`
	glancesMem  = `{"total": 8253050880, "available": 1650610176, "percent": 80.0, "used": 6602440704, "free": 1650610176, "active": 4210053120, "inactive": 2771935232, "buffers": 190631936, "cached": 2031566848, "shared": 70828032}`
	glancesLoad = `{"min1": 6.12, "min5": 4.01, "min15": 2.5, "cpucore": 4}`
	glancesFS   = `[{"device_name": "/dev/sda1", "fs_type": "ext4", "mnt_point": "/", "size": 100, "used": 42, "free": 58, "percent": 42.0, "key": "mnt_point"},
	                {"device_name": "/dev/sdb1", "fs_type": "xfs", "mnt_point": "/data", "size": 100, "used": 91, "free": 9, "percent": 91.0, "key": "mnt_point"},
	                {"device_name": "/dev/loop3", "fs_type": "squashfs", "mnt_point": "/snap/core/1", "size": 100, "used": 100, "free": 0, "percent": 100.0, "key": "mnt_point"}]`
)

// fakeGlances serves plugins from bodies; a missing plugin answers 400 as
// Glances 3 does. It checks the bearer token when one is set.
func fakeGlances(t *testing.T, token string, bodies map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, ok := bodies[strings.TrimPrefix(r.URL.Path, "/api/3/")]
		if !ok {
			http.Error(w, "Unknown plugin", http.StatusBadRequest)
			return
		}
		if body == "500" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUnitGlancesSource(t *testing.T) {
	all := map[string]string{"cpu": glancesCPU, "mem": glancesMem, "load": glancesLoad, "fs": glancesFS}
	without := func(plugin string) map[string]string {
		m := map[string]string{}
		for k, v := range all {
			if k != plugin {
				m[k] = v
			}
		}
		return m
	}
	with := func(plugin, body string) map[string]string {
		m := without(plugin)
		m[plugin] = body
		return m
	}
	nan := math.NaN()
	tests := []struct {
		name   string
		bodies map[string]string
		mounts []string
		want   Sample
		err    string
	}{
		{name: "all plugins", bodies: all, want: Sample{CPUPercent: 86.3, MemoryPercent: 80, Load1: 6.12, Cores: 4, DiskPercent: 91}},
		{name: "only the root file system", bodies: all, mounts: []string{"/"}, want: Sample{CPUPercent: 86.3, MemoryPercent: 80, Load1: 6.12, Cores: 4, DiskPercent: 42}},
		{name: "no fs plugin", bodies: without("fs"), want: Sample{CPUPercent: 86.3, MemoryPercent: 80, Load1: 6.12, Cores: 4, DiskPercent: nan}},
		{name: "no file system listed", bodies: with("fs", "[]"), want: Sample{CPUPercent: 86.3, MemoryPercent: 80, Load1: 6.12, Cores: 4, DiskPercent: nan}},
		{name: "no load plugin", bodies: without("load"), want: Sample{CPUPercent: 86.3, MemoryPercent: 80, Load1: nan, Cores: 4, DiskPercent: 91}},
		{name: "no cpu plugin", bodies: without("cpu"), err: "sample edge-1: glances: not found"},
		{name: "mem fails", bodies: with("mem", "500"), err: "sample edge-1:"},
		{name: "fs fails", bodies: with("fs", "500"), err: "500"},
		{name: "garbage", bodies: with("cpu", "<html>"), err: "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeGlances(t, "s3cret", tt.bodies)
			src := GlancesSource{Client: &glances.Client{BaseURL: srv.URL, Token: "s3cret", HTTPClient: srv.Client()}, MountPoints: tt.mounts}
			got, err := src.Sample(context.Background(), "edge-1")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Sample = %+v, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sample: %v", err)
			}
			if !sameSample(got, tt.want) {
				t.Errorf("Sample = %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("wrong token", func(t *testing.T) {
		srv := fakeGlances(t, "s3cret", all)
		_, err := GlancesSource{Client: &glances.Client{BaseURL: srv.URL, Token: "nope"}}.Sample(context.Background(), "edge-1")
		if !errors.Is(err, glances.ErrUnauthorized) {
			t.Errorf("Sample with a wrong token = %v, want glances.ErrUnauthorized", err)
		}
	})
	t.Run("no client", func(t *testing.T) {
		if _, err := (GlancesSource{}).Sample(context.Background(), "edge-1"); err == nil {
			t.Error("Sample without a client succeeded")
		}
	})
}

func sameSample(a, b Sample) bool {
	eq := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return a.At.Equal(b.At) && a.Cores == b.Cores && eq(a.CPUPercent, b.CPUPercent) && eq(a.MemoryPercent, b.MemoryPercent) &&
		eq(a.Load1, b.Load1) && eq(a.DiskPercent, b.DiskPercent)
}

// TestUnitGlancesSourceFeedsTheController checks the whole path: a Glances
// endpoint over its thresholds gets the node limited.
func TestUnitGlancesSourceFeedsTheController(t *testing.T) {
	srv := fakeGlances(t, "", map[string]string{"cpu": glancesCPU, "mem": glancesMem, "load": glancesLoad})
	act := &fakeActuator{}
	clk := &clock{t: t0}
	c := NewController(Policy{Default: Thresholds{CPUPercent: 80, LoadPerCore: 1.5}, MinPressure: -1}, WithNow(clk.Now))
	c.Watch(Target{Node: "gimli", Source: GlancesSource{Client: &glances.Client{BaseURL: srv.URL}}, Actuator: act})
	c.Cycle(context.Background())
	if got := c.Levels()["gimli"]; got != Limited {
		t.Fatalf("level = %v, want limited", got)
	}
	e := c.Events(time.Time{})[0]
	if e.Metric != MetricCPU || e.Value != 86.3 || e.Threshold != 80 || !e.At.Equal(t0) {
		t.Errorf("event = %+v, want cpu 86.3 over 80 at the controller's clock (cpu 1.08 of its threshold beats load 1.02)", e)
	}
}

// TestGlancesDaemonSample reads a real `glances -w` (Debian's glances
// package), as FRACTAL's metrics exporter runs it. It is skipped only when
// glances is not installed.
func TestGlancesDaemonSample(t *testing.T) {
	bin, err := exec.LookPath("glances")
	if err != nil {
		t.Skip("glances is not installed (apt-get install glances)")
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-w", "--disable-webui", "-B", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "1")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start glances: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	client := &glances.Client{BaseURL: "http://127.0.0.1:" + strconv.Itoa(port), HTTPClient: &http.Client{Timeout: 10 * time.Second}}
	src := GlancesSource{Client: client}
	var s Sample
	deadline := time.Now().Add(90 * time.Second)
	for {
		s, err = src.Sample(context.Background(), "localhost")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("glances never answered: %v\n%s", err, out.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if s.Cores < 1 || s.CPUPercent < 0 || s.CPUPercent > 100 || s.MemoryPercent <= 0 || s.MemoryPercent > 100 || s.Load1 < 0 {
		t.Errorf("sample from glances = %+v, want sane cpu, memory, load and cores", s)
	}
	if !math.IsNaN(s.DiskPercent) && (s.DiskPercent < 0 || s.DiskPercent > 100) {
		t.Errorf("disk = %v, want a percentage or NaN", s.DiskPercent)
	}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
