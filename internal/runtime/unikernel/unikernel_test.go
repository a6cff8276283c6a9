package unikernel

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/unikernel/kerneltest"
)

const banner = "hedge unikernel up"

func vmSpec(id, code string) runtime.Spec {
	return runtime.Spec{InstanceID: id, Service: api.ServiceSpec{
		Name: "vm", Namespace: "test", Virtualization: api.VirtUnikernel, Code: code,
		MemoryMB: 32, VCPUs: 1, Arch: []string{"amd64"},
	}}
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

// qemuOf lists the running processes whose command line names the VM of
// instance id.
func qemuOf(id string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !strings.Contains(string(b), "hedge-"+id+"\x00") {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue // ended, waiting to be reaped
			}
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		pids = append(pids, pid)
	}
	return pids
}

func TestUnikernelBootLogsStop(t *testing.T) {
	progress := &progressLog{}
	d, exits := newTestDriver(t, Options{OnProgress: progress.OnProgress})
	srv := serveFiles(t, map[string][]byte{"/hello.tar.gz": kerneltest.TarGz(t, map[string][]byte{"kernel": kerneltest.MultibootKernel(banner + "\r\n")})})
	ctx := context.Background()
	id := "vm-1"
	port := freePort(t)
	spec := vmSpec(id, srv.URL+"/hello.tar.gz")
	spec.Service.Port = strconv.Itoa(port) + ":80"

	task, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if task.InstanceID != id || task.PID <= 0 || task.StartedAt.IsZero() {
		t.Fatalf("Start = %+v, want the instance, a pid and a start time", task)
	}
	if pids := qemuOf(id); !slices.Equal(pids, []int{task.PID}) {
		t.Fatalf("QEMU processes of %s = %v, want just %d", id, pids, task.PID)
	}
	waitLogs(t, d, id, banner)
	if msgs := progress.All(); len(msgs) == 0 || !strings.HasPrefix(msgs[0], "downloading "+srv.URL) {
		t.Errorf("progress = %q, want the download announced", msgs)
	}
	// QEMU forwards the SLA's port from the host.
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Errorf("host port %d is not forwarded: %v", port, err)
	} else {
		conn.Close()
	}
	if _, mem, err := d.Usage(ctx, id); err != nil || mem <= 0 {
		t.Errorf("Usage = %d bytes, %v; want QEMU's memory", mem, err)
	}

	// The test kernel ignores the power button: after the grace, QMP quit
	// ends QEMU cleanly.
	begin := time.Now()
	if err := d.Stop(ctx, id, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	e := exits.All(id)
	if len(e) != 1 || e[0].Reason != "stopped" || !e[0].CodeKnown || e[0].Code != 0 || e[0].Signal != "" {
		t.Fatalf("exits when Stop returned = %+v, want one: stopped, code 0 (QEMU quit, not killed)", e)
	}
	if took := time.Since(begin); took < time.Second {
		t.Errorf("Stop took %v, want the guest given its grace (1s) first", took)
	}
	if pids := qemuOf(id); len(pids) != 0 {
		t.Errorf("QEMU processes left after Stop: %v", pids)
	}
	if err := d.Stop(ctx, id, time.Second); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
	if b, err := d.Logs(ctx, id, 0); err != nil || !strings.Contains(string(b), banner) {
		t.Errorf("Logs after Stop = %q, %v; want the console kept until Remove", b, err)
	}

	if err := d.Remove(ctx, id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	for _, dir := range []string{d.instanceDir(id), filepath.Dir(filepath.Dir(d.qmpPath(id)))} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Remove: %v, want it gone", dir, err)
		}
	}
	if _, err := d.Logs(ctx, id, 0); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Logs after Remove = %v, want ErrNotFound", err)
	}
	if err := d.Stop(ctx, "never-started", time.Second); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Stop of an unknown instance = %v, want ErrNotFound", err)
	}
}

func TestUnikernelRecoverReattaches(t *testing.T) {
	dir := t.TempDir()
	first, firstExits := newTestDriver(t, Options{DataDir: dir})
	kernel := filepath.Join(t.TempDir(), "hello.tar.gz")
	if err := os.WriteFile(kernel, kerneltest.TarGz(t, map[string][]byte{"./kernel": kerneltest.MultibootKernel(banner + "\r\n")}), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	task, err := first.Start(ctx, vmSpec("vm-r", kernel))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitLogs(t, first, "vm-r", banner)
	// The worker goes away; the VM does not.
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if e := firstExits.All("vm-r"); len(e) != 0 {
		t.Fatalf("Close reported %+v", e)
	}

	second, exits := newTestDriver(t, Options{DataDir: dir})
	tasks, err := second.Recover(ctx)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if len(tasks) != 1 || tasks[0].InstanceID != "vm-r" || tasks[0].PID != task.PID {
		t.Fatalf("Recover = %+v, want vm-r with pid %d", tasks, task.PID)
	}
	if err := second.Stop(ctx, "vm-r", 500*time.Millisecond); err != nil {
		t.Fatalf("Stop after Recover: %v", err)
	}
	if e := exits.All("vm-r"); len(e) != 1 || e[0].Reason != "stopped" {
		t.Errorf("exits = %+v, want one, stopped", e)
	}
	if pids := qemuOf("vm-r"); len(pids) != 0 {
		t.Errorf("QEMU processes left after Stop: %v", pids)
	}
}

func TestUnikernelKillWithoutGrace(t *testing.T) {
	d, exits := newTestDriver(t, Options{})
	kernel := filepath.Join(t.TempDir(), "hello.tar.gz")
	if err := os.WriteFile(kernel, kerneltest.TarGz(t, map[string][]byte{"kernel": kerneltest.MultibootKernel(banner + "\r\n")}), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := d.Start(context.Background(), vmSpec("vm-k", kernel))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := d.Stop(context.Background(), "vm-k", 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if e := exits.All("vm-k"); len(e) != 1 || e[0].Signal != "SIGKILL" || e[0].Reason != "stopped" {
		t.Errorf("exits = %+v, want one: stopped by SIGKILL", e)
	}
	if unix.Kill(task.PID, 0) != unix.ESRCH {
		t.Errorf("QEMU %d is still there", task.PID)
	}
}

func TestUnikernelBadImageIsAReadableError(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	srv := serveFiles(t, map[string][]byte{
		"/nokernel.tar.gz": kerneltest.TarGz(t, map[string][]byte{"README": []byte("no kernel here")}),
		"/garbage.tar.gz":  []byte("this is not an archive at all, just text"),
	})
	tests := []struct {
		name string
		code string
		arch []string
		want string
	}{
		{name: "missing download", code: srv.URL + "/missing.tar.gz", want: "HTTP 404"},
		{name: "no kernel in the archive", code: srv.URL + "/nokernel.tar.gz", want: "no file named kernel"},
		{name: "not an archive", code: srv.URL + "/garbage.tar.gz", want: "not a tar.gz"},
		{name: "relative path", code: "images/hello.tar.gz", want: "want an http(s) URL or an absolute path"},
		{name: "architecture without QEMU", code: srv.URL + "/nokernel.tar.gz", arch: []string{"riscv64"}, want: "arch [riscv64]: this node has no QEMU for it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := vmSpec("bad", tt.code)
			if tt.arch != nil {
				spec.Service.Arch = tt.arch
			}
			_, err := d.Start(context.Background(), spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v, want an error saying %q", err, tt.want)
			}
			if pids := qemuOf("bad"); len(pids) != 0 {
				t.Errorf("QEMU started anyway: %v", pids)
			}
		})
	}
}

func TestUnikernelUnavailableWithoutQemu(t *testing.T) {
	_, err := New(Options{DataDir: t.TempDir(), QemuPath: filepath.Join(t.TempDir(), "qemu-system-x86_64")})
	if !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("New without QEMU = %v, want ErrUnavailable", err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := New(Options{DataDir: t.TempDir()}); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("New with no QEMU in PATH = %v, want ErrUnavailable", err)
	}
}

func TestUnikernelQemuArgs(t *testing.T) {
	img := image{kernel: "/k/kernel", initrd: "/k/initrd"}
	tests := []struct {
		name    string
		m       machine
		svc     api.ServiceSpec
		want    []string
		without []string
	}{
		{
			name: "x86 under emulation with ports and a command line",
			m:    machine{arch: "amd64", memoryMB: 64, cpus: 2},
			svc:  api.ServiceSpec{Port: "8080:80;5353:53/udp", Cmd: []string{"-v"}, Args: []string{"port=80"}},
			want: []string{"-accel tcg,tb-size=64", "-m 64", "-smp 2", "-kernel /k/kernel", "-initrd /k/initrd",
				"-append -v port=80", "-netdev user,id=net0,hostfwd=tcp::8080-:80,hostfwd=udp::5353-:53",
				"-serial stdio", "-qmp unix:qmp.sock,server=on,wait=off", "-no-reboot"},
			without: []string{"-cpu host"},
		},
		{
			name:    "x86 with KVM",
			m:       machine{arch: "amd64", kvm: true, memoryMB: 128, cpus: 1},
			want:    []string{"-accel kvm", "-cpu host", "-netdev user,id=net0 "},
			without: []string{"tcg", "-append"},
		},
		{
			name: "arm64 under emulation",
			m:    machine{arch: "arm64", memoryMB: 128, cpus: 1},
			want: []string{"-machine virt", "-cpu max", "-accel tcg"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := tt.m.args("x", img, &tt.svc)
			if err != nil {
				t.Fatalf("args: %v", err)
			}
			line := strings.Join(args, " ") + " "
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("command line %q lacks %q", line, w)
				}
			}
			for _, w := range tt.without {
				if strings.Contains(line, w) {
					t.Errorf("command line %q has %q", line, w)
				}
			}
		})
	}
	if _, err := (machine{arch: "amd64"}).args("x", img, &api.ServiceSpec{Port: "nope"}); err == nil || !strings.Contains(err.Error(), "port") {
		t.Errorf("args with a bad port = %v, want an error about the port", err)
	}
}
