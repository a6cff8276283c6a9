package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
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
	image := tarGz(t, map[string][]byte{"kernel": multibootKernel(banner + "\r\n")})
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

// multibootKernel is a bootable x86 kernel: a multiboot (v1) ELF32 image
// whose code writes msg to the first serial port (0x3f8) and then halts for
// ever. QEMU's -kernel boots it directly. (The same as the unikernel
// driver's tests make.)
func multibootKernel(msg string) []byte {
	const (
		base       = 0x100000 // load and link address (1 MiB)
		mbOffset   = 96       // multiboot header: 4-byte aligned, in the first 8 KiB
		codeOffset = mbOffset + 12
		mbMagic    = 0x1BADB002
	)
	code := []byte{
		0xBE, 0, 0, 0, 0, // mov esi, msg
		0x66, 0xBA, 0xF8, 0x03, // mov dx, 0x3f8
		0x8A, 0x06, // next: mov al, [esi]
		0x84, 0xC0, // test al, al
		0x74, 0x04, // jz halt
		0xEE,       // out dx, al
		0x46,       // inc esi
		0xEB, 0xF6, // jmp next
		0xF4,       // halt: hlt
		0xEB, 0xFD, // jmp halt
	}
	binary.LittleEndian.PutUint32(code[1:], uint32(base+codeOffset+len(code)))
	body := append(append(code, msg...), 0)
	size := uint32(codeOffset + len(body))

	var b bytes.Buffer
	put := func(vs ...any) {
		for _, v := range vs {
			_ = binary.Write(&b, binary.LittleEndian, v)
		}
	}
	b.Write([]byte{0x7f, 'E', 'L', 'F', 1 /* 32-bit */, 1 /* little endian */, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	put(uint16(2) /* executable */, uint16(3) /* i386 */, uint32(1), uint32(base+codeOffset), /* entry */
		uint32(52) /* phoff */, uint32(0) /* shoff */, uint32(0) /* flags */, uint16(52), uint16(32), uint16(1),
		uint16(0), uint16(0), uint16(0))
	// One loadable segment: the whole file at 1 MiB.
	put(uint32(1), uint32(0), uint32(base), uint32(base), size, size, uint32(5) /* r-x */, uint32(0x1000))
	for b.Len() < mbOffset {
		b.WriteByte(0)
	}
	put(uint32(mbMagic), uint32(0), uint32(1<<32-mbMagic))
	b.Write(body)
	return b.Bytes()
}

// tarGz packs files (name -> content) into a tar.gz.
func tarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
