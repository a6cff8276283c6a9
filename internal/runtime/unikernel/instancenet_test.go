package unikernel

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
	"github.com/hedgeorch/hedge/internal/runtime/unikernel/kerneltest"
)

// TestUnikernelInstanceNetwork boots a VM on an instance network (a bridge
// holding the gateway address, as internal/overlay makes it): QEMU uses a
// TAP on the bridge, the guest is told its address on the kernel command
// line, the TAP goes when the VM stops, and after a worker restart
// (Recover) Remove leaves no TAP behind. The test kernel has no network
// stack, so what the guest does with its address is not checked here.
func TestUnikernelInstanceNetwork(t *testing.T) {
	br := runtimetest.NewBridge(t, "hut")
	dir := t.TempDir()
	d1, exits := newTestDriver(t, Options{DataDir: dir})
	kernel := helloImage(t)
	ctx := context.Background()
	n := br.Network(7, br.Gateway.String())
	tap := d1.tapName("vm-n")

	withPort := vmSpec("vm-p", kernel)
	withPort.Network = n
	withPort.Service.Port = "8080:80"
	if _, err := d1.Start(ctx, withPort); !errors.Is(err, runtime.ErrInvalidNetwork) || !strings.Contains(err.Error(), "port") {
		t.Errorf("Start with a port on the instance network = %v, want a refusal naming the port", err)
	}

	s := vmSpec("vm-n", kernel)
	s.Network = n
	task, err := d1.Start(ctx, s)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitLogs(t, d1, "vm-n", banner)
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(task.PID), "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.ReplaceAll(string(cmdline), "\x00", " ")
	for _, want := range []string{
		"-netdev tap,id=net0,ifname=" + tap + ",script=no,downscript=no",
		"ip=" + n.Prefix().Addr().String() + "::" + n.Gateway + ":255.255.255.0::eth0:off:" + n.Gateway,
		"netdev.ip=" + n.Address + ":" + n.Gateway,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("QEMU's command line lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "user,id=net0") {
		t.Errorf("QEMU's command line still has the user-mode network:\n%s", line)
	}
	if ports := br.Ports(t); !slices.Equal(ports, []string{tap}) {
		t.Errorf("bridge ports = %v, want the VM's TAP %s", ports, tap)
	}

	// A stopped VM keeps no TAP.
	if err := d1.Stop(ctx, "vm-n", 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if e := exits.All("vm-n"); len(e) != 1 {
		t.Fatalf("exits = %+v, want one", e)
	}
	if ports := br.Ports(t); len(ports) != 0 {
		t.Errorf("bridge ports after Stop = %v, want none", ports)
	}

	// Started again, then the worker restarts: a new driver re-attaches
	// the VM and removes it, TAP and all.
	if _, err := d1.Start(ctx, s); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	d2, _ := newTestDriver(t, Options{DataDir: dir})
	if tasks, err := d2.Recover(ctx); err != nil || len(tasks) != 1 {
		t.Fatalf("Recover = %+v, %v; want the VM", tasks, err)
	}
	if ports := br.Ports(t); !slices.Equal(ports, []string{tap}) {
		t.Errorf("bridge ports after Recover = %v, want the VM's TAP %s", ports, tap)
	}
	if err := d2.Remove(ctx, "vm-n"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	br.CheckClean(t)
	if _, err := os.Stat(filepath.Join("/sys/class/net", tap)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("TAP %s after Remove: %v, want it gone", tap, err)
	}
	if pids := qemuOf("vm-n"); len(pids) != 0 {
		t.Errorf("QEMU processes left after Remove: %v", pids)
	}
}

func TestUnitGuestNetArgs(t *testing.T) {
	tests := []struct {
		name string
		n    runtime.Network
		want []string
	}{
		{
			name: "two name servers",
			n:    runtime.Network{Address: "10.18.1.5/24", Gateway: "10.18.1.1", Bridge: "b", DNS: []string{"10.18.1.1", "192.0.2.53"}},
			want: []string{"ip=10.18.1.5::10.18.1.1:255.255.255.0::eth0:off:10.18.1.1:192.0.2.53", "netdev.ip=10.18.1.5/24:10.18.1.1:10.18.1.1"},
		},
		{
			name: "no name server, /20",
			n:    runtime.Network{Address: "10.18.17.9/20", Gateway: "10.18.16.1", Bridge: "b"},
			want: []string{"ip=10.18.17.9::10.18.16.1:255.255.240.0::eth0:off", "netdev.ip=10.18.17.9/20:10.18.16.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := guestNetArgs(&tt.n); !slices.Equal(got, tt.want) {
				t.Errorf("guestNetArgs = %q, want %q", got, tt.want)
			}
		})
	}
	m := machine{arch: "amd64", memoryMB: 64, cpus: 1, tap: "hu0123", network: &tests[0].n}
	args, err := m.args("x", image{kernel: "/k"}, &api.ServiceSpec{Args: []string{"--", "serve"}})
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	if !strings.Contains(line, "-append "+strings.Join(tests[0].want, " ")+" -- serve") {
		t.Errorf("command line %q: want the address first on the kernel command line, then the service's args", line)
	}
}

// helloImage writes an image of the test kernel that prints banner, and
// returns its path.
func helloImage(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hello.tar.gz")
	if err := os.WriteFile(path, kerneltest.TarGz(t, map[string][]byte{"kernel": kerneltest.MultibootKernel(banner + "\r\n")}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUnikernelLinuxGuestOnInstanceNetwork boots a Linux guest on an
// instance network and checks from the host that it took the address the
// driver gave it on its kernel command line, through the TAP on the bridge:
// the host reaches its HTTP server at that address, it reaches the host
// through its default route via the gateway, its resolv.conf names the
// network's DNS. Remove leaves the bridge as it was. It needs a Linux kernel
// with the virtio_net module (kerneltest.LinuxEnv).
func TestUnikernelLinuxGuestOnInstanceNetwork(t *testing.T) {
	requireQemu(t)
	image := filepath.Join(t.TempDir(), "linux.tar.gz")
	if err := os.WriteFile(image, kerneltest.LinuxGuest(t), 0o644); err != nil {
		t.Fatal(err)
	}
	br := runtimetest.NewBridge(t, "hul")
	host := runtimetest.NewWitness(t, runtimetest.HostAddress(t))
	d, _ := newTestDriver(t, Options{})
	ctx := context.Background()

	n := br.Network(8, br.Gateway.String())
	s := vmSpec("vm-linux", image)
	s.Network = n
	s.Service.MemoryMB = 256
	s.Service.Cmd = []string{"console=ttyS0", "quiet"}
	s.Service.Args = []string{"hedge.witness=" + host.Addr.String()}
	if _, err := d.Start(ctx, s); err != nil {
		t.Fatalf("Start: %v", err)
	}
	logs := waitLogs(t, d, "vm-linux", "guest serving")
	url := "http://" + n.Prefix().Addr().String() + ":8080/"
	var got string
	runtimetest.Eventually(t, 30*time.Second, url+" answers", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got = string(b)
		return resp.StatusCode == http.StatusOK
	})
	if got != "hello from the guest\n" {
		t.Errorf("GET %s = %q, want the guest's hello", url, got)
	}
	for _, want := range []string{
		"nameserver " + br.Gateway.String(),
		"inet " + n.Address + " ",
		"default via " + br.Gateway.String() + " dev eth0",
		"host: hello from the host",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the guest's console lacks %q:\n%s", want, logs)
		}
	}
	if from := host.From(); !slices.Contains(from, n.Prefix().Addr()) {
		t.Errorf("the host's listener on %s saw connections from %v, want one from the guest (%s) through its default route", host.Addr, from, n.Prefix().Addr())
	}
	if err := d.Remove(ctx, "vm-linux"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	br.CheckClean(t)
}
