package unikernel

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
	"github.com/hedgeorch/hedge/internal/runtime/unikernel/kerneltest"
)

// The worker-death test re-runs this test binary as a "worker" that boots one
// VM, prints QEMU's PID and waits to be killed.
const (
	workerEnv       = "HEDGE_UNIKERNEL_TEST_WORKER"
	workerKernelEnv = "HEDGE_UNIKERNEL_TEST_KERNEL"
	workerCgroupEnv = "HEDGE_UNIKERNEL_TEST_CGROUP"
)

// runTestWorker is the body of that worker process.
func runTestWorker(dataDir string) int {
	d, err := New(Options{DataDir: dataDir, CgroupParent: os.Getenv(workerCgroupEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	exits := runtimetest.NewExitLog(runtimetest.HandlesDir(dataDir))
	task, err := exits.Start(context.Background(), d, vmSpec("survivor", os.Getenv(workerKernelEnv)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(task.PID)
	time.Sleep(time.Minute)
	return 1
}

func TestUnikernelVMSurvivesWorkerSIGKILL(t *testing.T) {
	requireQemu(t)
	dataDir := t.TempDir()
	kernel := filepath.Join(t.TempDir(), "hello.tar.gz")
	if err := os.WriteFile(kernel, kerneltest.TarGz(t, map[string][]byte{"kernel": kerneltest.MultibootKernel(banner + "\r\n")}), 0o644); err != nil {
		t.Fatal(err)
	}
	worker := exec.Command(os.Args[0], "-test.run=^$")
	// The worker's cgroup parent is derived from its own PID: hand it ours.
	worker.Env = append(os.Environ(), workerEnv+"="+dataDir, workerKernelEnv+"="+kernel, workerCgroupEnv+"="+testCgroupParent)
	worker.Stderr = os.Stderr
	out, err := worker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = worker.Process.Kill()
		_ = worker.Wait()
		t.Fatalf("worker printed no PID: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	// The worker dies the hard way; its VM does not.
	if err := worker.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = worker.Wait()
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("QEMU %d died with its worker: %v", pid, err)
	}

	d, exits := newTestDriver(t, Options{DataDir: dataDir})
	waitLogs(t, d, "survivor", banner)
	tasks, err := d.Recover(context.Background())
	if err != nil || len(tasks) != 1 || tasks[0].PID != pid {
		t.Fatalf("Recover = %+v, %v; want the survivor, pid %d", tasks, err, pid)
	}
	// QMP still reaches the re-attached VM, so Stop can end it cleanly.
	if err := qmpExecute(context.Background(), d.qmpPath("survivor"), "query-status"); err != nil {
		t.Errorf("QMP of the re-attached VM: %v", err)
	}
	if err := d.Stop(context.Background(), "survivor", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if e := exits.All("survivor"); len(e) != 1 || e[0].Reason != "stopped" || e[0].CodeKnown {
		t.Errorf("exits = %+v, want one: stopped, code unknown (not the new worker's child)", e)
	}
	if pids := qemuOf("survivor"); len(pids) != 0 {
		t.Errorf("QEMU processes left: %v", pids)
	}
}
