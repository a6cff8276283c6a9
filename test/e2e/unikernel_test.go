package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime/unikernel/kerneltest"
)

// TestE2EContainerUnikernel boots a unikernel service through root, cluster
// and worker: a kernel the test makes itself (it prints a banner on the
// serial console, then halts) served as a tar.gz over HTTP. The instance is
// RUNNING, its console comes back as its logs, its port is forwarded, and
// deleting it ends QEMU.
func TestE2EContainerUnikernel(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
	}
	if goruntime.GOARCH != "amd64" {
		t.Skipf("the test kernel is x86 and placement wants the node's arch; this is %s", goruntime.GOARCH)
	}
	const banner = "hedge e2e unikernel up"
	image := kerneltest.TarGz(t, map[string][]byte{"kernel": kerneltest.MultibootKernel(banner + "\r\n")})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hello.tar.gz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(image)
	}))
	t.Cleanup(srv.Close)

	c := startContainerStack(t, "none", "", api.VirtUnikernel)
	port := freeHostPort(t)
	apps, svcs := submitSLA(t, c, slaOf(map[string][]msvc{"vm": {{
		"microservice_name": "vm", "virtualization": "unikernel", "code": srv.URL + "/hello.tar.gz",
		"arch": []string{"amd64"}, "memory": 32, "vcpus": 1, "port": fmt.Sprintf("%d:80", port),
	}}}))
	vm := waitInstance(t, c, svcs["vm"].ID, "the VM RUNNING", inState(api.StateRunning))
	waitServiceLogs(t, c, svcs["vm"].ID, banner)
	if pids := qemuOf(vm.ID); len(pids) != 1 || pids[0] != vm.PID {
		t.Errorf("QEMU processes of %s = %v, want just the instance's pid %d", vm.ID, pids, vm.PID)
	}
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Errorf("host port %d is not forwarded to the VM: %v", port, err)
	} else {
		conn.Close()
	}

	if err := c.DeleteApplication(context.Background(), apps[0]); err != nil {
		t.Fatalf("delete: %v", err)
	}
	eventually(t, 30*time.Second, "QEMU to end", func() (bool, string) {
		pids := qemuOf(vm.ID)
		return len(pids) == 0, fmtInts(pids)
	})
}

// qemuOf lists the live processes whose command line names the VM of
// instance id (the driver names it hedge-<id>).
func qemuOf(id string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !strings.Contains(string(b), "hedge-"+id+"\x00") {
			continue
		}
		if st, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil && isZombie(st) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		pids = append(pids, pid)
	}
	return pids
}
