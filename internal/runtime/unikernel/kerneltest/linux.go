package kerneltest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// LinuxEnv names a directory holding a Linux kernel image (boot/vmlinuz-*)
// and its modules (lib/modules/<version>/kernel/...), as a Debian
// linux-image package unpacked with dpkg-deb -x has them; default "/", the
// host's own kernel.
const LinuxEnv = "HEDGE_TEST_LINUX"

// virtioNet are the modules a Debian kernel needs for a virtio-net NIC, in
// the order they load (each after what it depends on).
var virtioNet = []string{
	"drivers/virtio/virtio_ring.ko",
	"drivers/virtio/virtio.ko",
	"drivers/virtio/virtio_pci_legacy_dev.ko",
	"drivers/virtio/virtio_pci_modern_dev.ko",
	"drivers/virtio/virtio_pci.ko",
	"net/core/failover.ko",
	"drivers/net/net_failover.ko",
	"drivers/net/virtio_net.ko",
}

// linuxInit is the guest's /init. It configures eth0 from the kernel
// command line's ip=<addr>::<gw>:<mask>::<dev>:off:<dns0>:<dns1>, as a
// kernel with CONFIG_IP_PNP does itself (Debian's has it off, and virtio_net
// as a module, so the init does it the same way after loading the modules),
// prints what it got, connects to hedge.witness=<ip>:<port> if given (trying
// for up to 10 s while the link comes up), and
// serves "hello from the guest" over HTTP on port 8080.
const linuxInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /lib/mod/*.ko; do insmod "$m" || echo "insmod $m failed"; done
for a in $(cat /proc/cmdline); do
  case "$a" in
  ip=*) IFS=: read addr peer gw mask host dev auto dns0 dns1 <<EOF
${a#ip=}
EOF
  ;;
  hedge.witness=*) witness="${a#hedge.witness=}" ;;
  esac
done
mkdir -p /etc
: > /etc/resolv.conf
for s in $dns0 $dns1; do echo "nameserver $s" >> /etc/resolv.conf; done
ifconfig "$dev" "$addr" netmask "$mask" up && route add default gw "$gw"
cat /etc/resolv.conf; ip -4 addr show "$dev"; ip route
if [ -n "$witness" ]; then
  for i in 1 2 3 4 5 6 7 8 9 10; do
    r="$(nc ${witness%:*} ${witness#*:} </dev/null)" && [ -n "$r" ] && break
    sleep 1
  done
  echo "host: $r"
fi
mkdir -p /www && echo "hello from the guest" > /www/index.html
httpd -p 8080 -h /www && echo "guest serving"
while :; do sleep 3600; done
`

// LinuxGuest is a unikernel image (kernel and initrd in a tar.gz) of a Linux
// guest that takes its address from the kernel command line and serves HTTP
// (see linuxInit). It is built from the kernel under $HEDGE_TEST_LINUX and
// the host's busybox-static; the test is skipped when either is missing.
func LinuxGuest(t testing.TB) []byte {
	t.Helper()
	root := os.Getenv(LinuxEnv)
	if root == "" {
		root = "/"
	}
	kernels, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	sort.Strings(kernels)
	var kernel, modDir string
	for _, k := range kernels {
		dir := filepath.Join(root, "lib", "modules", filepath.Base(k)[len("vmlinuz-"):], "kernel")
		if _, err := os.Stat(filepath.Join(dir, virtioNet[len(virtioNet)-1])); err == nil {
			kernel, modDir = k, dir
		}
	}
	if kernel == "" {
		t.Skipf("no Linux kernel with its virtio_net module under %s=%s: unpack Debian's (apt-get download $(apt-cache depends linux-image-cloud-amd64 | awk '/Depends/ {print $2}') && dpkg-deb -x linux-image-*.deb DIR) and set %s=DIR", LinuxEnv, root, LinuxEnv)
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no /bin/busybox: apt-get install busybox-static (%v)", err)
	}
	files := []File{
		{Name: "bin", Mode: 0o40755}, {Name: "dev", Mode: 0o40755}, {Name: "lib", Mode: 0o40755},
		{Name: "lib/mod", Mode: 0o40755}, {Name: "proc", Mode: 0o40755}, {Name: "sys", Mode: 0o40755},
		{Name: "dev/console", Mode: 0o20600, RdevMajor: 5, RdevMinor: 1},
		{Name: "init", Mode: 0o100755, Data: []byte(linuxInit)},
		{Name: "bin/busybox", Mode: 0o100755, Data: busybox},
	}
	for i, m := range virtioNet {
		b, err := os.ReadFile(filepath.Join(modDir, m))
		if err != nil {
			t.Fatal(err)
		}
		// The name's number keeps the load order in the init's glob.
		files = append(files, File{Name: fmt.Sprintf("lib/mod/%d-%s", i, filepath.Base(m)), Mode: 0o100644, Data: b})
	}
	k, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	return TarGz(t, map[string][]byte{"kernel": k, "initrd": Initramfs(files)})
}

// File is one entry of an initramfs: Mode holds the file type bits too
// (0o100000 file, 0o40000 directory, 0o20000 character device).
type File struct {
	Name                 string
	Mode                 uint32
	Data                 []byte
	RdevMajor, RdevMinor uint32
}

// Initramfs packs files into an uncompressed cpio archive in the "newc"
// format, which the kernel unpacks as its initial root file system.
func Initramfs(files []File) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	entry := func(ino int, f File) {
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			ino, f.Mode, 0, 0, 1, 0, len(f.Data), 0, 0, f.RdevMajor, f.RdevMinor, len(f.Name)+1, 0)
		b.WriteString(f.Name)
		b.WriteByte(0)
		pad()
		b.Write(f.Data)
		pad()
	}
	for i, f := range files {
		entry(i+1, f)
	}
	entry(len(files)+1, File{Name: "TRAILER!!!"})
	return b.Bytes()
}
