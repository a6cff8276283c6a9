package process

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
)

// The worker-death test re-runs this test binary as a "worker" that starts
// one instance, prints its PID and waits to be killed.
const (
	workerEnv       = "HEDGE_PROCESS_TEST_WORKER"
	workerCgroupEnv = "HEDGE_PROCESS_TEST_CGROUP"
)

// runTestWorker is the body of that worker process.
func runTestWorker(dataDir string) int {
	d, err := New(Options{DataDir: dataDir, CgroupParent: os.Getenv(workerCgroupEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	exits := runtimetest.NewExitLog(runtimetest.HandlesDir(dataDir))
	task, err := exits.Start(context.Background(), d, shSpec("survivor", "while :; do echo tick; sleep 0.05; done"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(task.PID)
	time.Sleep(time.Minute)
	return 1
}

func TestInstancesSurviveWorkerSIGKILL(t *testing.T) {
	dataDir := t.TempDir()
	worker := exec.Command(os.Args[0], "-test.run=^$")
	worker.Env = append(os.Environ(), workerEnv+"="+dataDir, workerCgroupEnv+"="+testCgroupParent)
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
	ticks := mustStartTicks(t, pid)

	// The worker dies the hard way.
	if err := worker.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = worker.Wait()

	// Its instance lives on, and keeps writing its output (no pipe to the
	// dead worker that would SIGPIPE it).
	d, exits := newTestDriver(t, Options{DataDir: dataDir})
	before, _ := os.Stat(d.logPath("survivor"))
	time.Sleep(300 * time.Millisecond)
	if !alive(pid, ticks) {
		t.Fatalf("instance %d died with its worker", pid)
	}
	after, err := os.Stat(d.logPath("survivor"))
	if err != nil || before == nil || after.Size() <= before.Size() {
		t.Errorf("instance output stopped growing after the worker died (%v)", err)
	}

	tasks, err := d.Recover(context.Background())
	if err != nil || len(tasks) != 1 || tasks[0].PID != pid {
		t.Fatalf("Recover = %+v, %v; want the survivor, pid %d", tasks, err, pid)
	}
	if err := d.Stop(context.Background(), "survivor", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	e := exits.Wait(t, "survivor")
	if e.CodeKnown || e.Reason != "stopped" {
		t.Errorf("exit of a re-attached instance (not our child) = %+v, want code unknown, reason stopped", e)
	}
	eventually(t, "the survivor is gone", func() bool { return !alive(pid, ticks) })
}
