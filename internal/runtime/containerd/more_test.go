package containerd

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/imagetest"
)

func TestContainerdHostNetwork(t *testing.T) {
	d, _ := newTestDriver(t, Options{Network: NetworkHost})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushServer(t, "server", "v1")
	port := freePort(t)

	refused := spec("translated", ref)
	refused.Service.Port = fmt.Sprintf("%d:8080", port)
	if _, err := d.Start(context.Background(), refused); err == nil || !strings.Contains(err.Error(), "share the host's network") {
		t.Errorf("Start with a translated port on the host network = %v, want a refusal", err)
	}

	s := spec("hostnet", ref)
	s.Service.Port = fmt.Sprint(port)
	s.Service.Environment = []string{fmt.Sprintf("PORT=%d", port)}
	if _, err := d.Start(context.Background(), s); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "hello from hostnet\n" {
		t.Errorf("GET = %q, want the server's hello", got)
	}
}

func TestContainerdLogsStayBounded(t *testing.T) {
	const limit = 64 << 10
	d, _ := newTestDriver(t, Options{LogLimit: limit, LogCheckInterval: 50 * time.Millisecond})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushBusybox(t, "busybox", "1")
	s := spec("chatty", ref, "sh", "-c", `i=0; while :; do i=$((i+1)); echo "line $i of a chatty instance that fills its log"; done`)
	if _, err := d.Start(context.Background(), s); err != nil {
		t.Fatalf("Start: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	var biggest int64
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(d.logPath("chatty")); err == nil {
			biggest = max(biggest, fi.Size())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Between two checks the log grows by whatever the instance writes in
	// 50 ms; a few MB of slack is plenty, unbounded would be far more.
	if biggest == 0 || biggest > 8<<20 {
		t.Errorf("log grew to %d bytes with a limit of %d", biggest, limit)
	}
	b, err := d.Logs(context.Background(), "chatty", 200)
	if err != nil || !strings.HasPrefix(string(b), "line ") {
		t.Errorf("Logs tail = %q, %v; want whole recent lines", b, err)
	}
}

func TestContainerdUsageOfEndedInstance(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushBusybox(t, "busybox", "1")
	if _, err := d.Start(context.Background(), spec("done", ref, "true")); err != nil {
		t.Fatal(err)
	}
	exits.Wait(t, "done")
	if _, _, err := d.Usage(context.Background(), "done"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("Usage of an ended instance = %v, want not running", err)
	}
}

func TestContainerdPrivateRegistry(t *testing.T) {
	needContainerd(t)
	reg := imagetest.StartRegistry(t)
	reg.PushBusybox(t, "private", "1")
	host := authProxy(t, reg.Host(), "alice", "s3cret")
	ref := host + "/private:1"

	cfg := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	if err := os.WriteFile(cfg, []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	anonymous, _ := newTestDriver(t, Options{})
	if _, err := anonymous.Start(context.Background(), spec("anon", ref, "true")); err == nil || !strings.Contains(err.Error(), "pull "+ref) {
		t.Errorf("Start without credentials = %v, want a pull error", err)
	}
	d, exits := newTestDriver(t, Options{RegistryConfig: cfg})
	if _, err := d.Start(context.Background(), spec("authed", ref, "true")); err != nil {
		t.Fatalf("Start with credentials: %v", err)
	}
	if e := exits.Wait(t, "authed"); e.Code != 0 {
		t.Errorf("exit = %+v", e)
	}
}

func TestContainerdUpdateLimits(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	reg := imagetest.StartRegistry(t)
	ref := reg.PushServer(t, "server", "v1")
	s := spec("limited", ref)
	s.Service.MemoryMB, s.Service.VCPUs = 64, 0.5
	s.Service.Environment = []string{fmt.Sprintf("PORT=%d", freePort(t))}
	if _, err := d.Start(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	cg := cgroupDir(t, d, "limited")
	memory := func() string { return readCgroupFile(t, "memory/"+cg+"/memory.limit_in_bytes", cg+"/memory.max") }
	cpu := func() string { return readCgroupFile(t, "cpu/"+cg+"/cpu.cfs_quota_us", cg+"/cpu.max") }

	tests := []struct {
		name       string
		limits     api.Resources
		mem, quota string
	}{
		{name: "tighten", limits: api.Resources{MemoryMB: 32, VCPUs: 0.25}, mem: strconv.Itoa(32 << 20), quota: "25000"},
		{name: "restore", limits: api.Resources{MemoryMB: 64, VCPUs: 0.5}, mem: strconv.Itoa(64 << 20), quota: "50000"},
		{name: "lift", limits: api.Resources{}, mem: "unlimited", quota: "unlimited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := d.Update(context.Background(), "limited", tt.limits); err != nil {
				t.Fatalf("Update: %v", err)
			}
			if got := memory(); !sameLimit(got, tt.mem) {
				t.Errorf("memory limit = %s, want %s", got, tt.mem)
			}
			if got := cpu(); !sameLimit(got, tt.quota) {
				t.Errorf("cpu quota = %s, want %s", got, tt.quota)
			}
		})
	}
	if err := d.Update(context.Background(), "nope", api.Resources{}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Update of an unknown instance = %v, want ErrNotFound", err)
	}
}

// sameLimit compares a cgroup file's value with a limit, "unlimited" being
// "max" (v2), -1 (v1 quota) or the page-rounded maximum (v1 memory).
func sameLimit(got, want string) bool {
	if want != "unlimited" {
		return strings.HasPrefix(got, want)
	}
	return strings.HasPrefix(got, "max") || got == "-1" || got == "9223372036854771712"
}

// The subnet's masquerading and FORWARD rules are set once, however many
// times a driver starts, and are really in the kernel's tables.
func TestSubnetRulesOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for iptables")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("no iptables")
	}
	const subnet = "10.199.77.0/24"
	t.Cleanup(func() {
		_ = exec.Command("iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-s", subnet, "!", "-d", subnet, "-j", "MASQUERADE").Run()
		_ = exec.Command("iptables", "-w", "-D", "FORWARD", "-s", subnet, "-j", "ACCEPT").Run()
		_ = exec.Command("iptables", "-w", "-D", "FORWARD", "-d", subnet, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT").Run()
	})
	for range 2 {
		if err := subnetRules(subnet); err != nil {
			t.Fatal(err)
		}
	}
	count := func(args ...string) int {
		out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).Output()
		if err != nil {
			t.Fatalf("iptables %v: %v", args, err)
		}
		return strings.Count(string(out), subnet)
	}
	if n := count("-t", "nat", "-S", "POSTROUTING"); n != 2 { // -s and ! -d on one rule
		t.Errorf("POSTROUTING mentions %s %d times, want one MASQUERADE rule", subnet, n)
	}
	if n := count("-S", "FORWARD"); n != 2 {
		t.Errorf("FORWARD mentions %s %d times, want two rules", subnet, n)
	}
}
