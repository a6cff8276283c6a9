package unikernel

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/sla"
)

const (
	// defaultMemoryMB is the guest's memory when the SLA gives none.
	defaultMemoryMB = 128
	// qemuOverheadMB is what QEMU itself may use beyond the guest's memory
	// (device models, the TCG translation cache) before its cgroup stops it.
	qemuOverheadMB = 256
	// tcgCacheMB bounds the TCG translation cache (QEMU's default is 1 GiB
	// of address space, which it may well fill).
	tcgCacheMB = 64
	qmpSocket  = "qmp.sock"
)

// qemuBinaries names QEMU's system emulator for each architecture, by the
// name Go (and the SLA's arch field) gives it.
var qemuBinaries = map[string]string{
	"amd64": "qemu-system-x86_64",
	"arm64": "qemu-system-aarch64",
}

// archAliases maps the other usual spellings of an architecture.
var archAliases = map[string]string{"x86_64": "amd64", "aarch64": "arm64"}

// findQemu returns the QEMU binary of each architecture it can run.
func findQemu(explicit string) (map[string]string, error) {
	found := make(map[string]string)
	if explicit != "" {
		path, err := lookPath(explicit)
		if err != nil {
			return nil, fmt.Errorf("qemu %s: %w: %w", explicit, runtime.ErrUnavailable, err)
		}
		arch := goruntime.GOARCH
		for a, name := range qemuBinaries {
			if strings.HasSuffix(filepath.Base(path), name) {
				arch = a
			}
		}
		found[arch] = path
		return found, nil
	}
	for arch, name := range qemuBinaries {
		if path, err := lookPath(name); err == nil {
			found[arch] = path
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no qemu-system-x86_64 or qemu-system-aarch64 in PATH: %w", runtime.ErrUnavailable)
	}
	return found, nil
}

// lookPath finds an executable like exec.LookPath does, as an absolute path
// (the process driver runs only those).
func lookPath(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	return filepath.Abs(path)
}

// kvmUsable reports whether a VM of arch can use KVM here: same
// architecture as the host, and /dev/kvm can be opened.
func kvmUsable(arch string) bool {
	if arch != goruntime.GOARCH {
		return false
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
}

// machine is how one VM will be run.
type machine struct {
	arch     string
	qemu     string
	kvm      bool
	memoryMB int64
	cpus     int
	// tap and network, when set, put the guest on the instance network
	// through the TAP device tap instead of QEMU's user-mode network.
	tap     string
	network *runtime.Network
}

// machine picks the architecture (the first of the SLA's arch list that this
// node can run, the host's when the list is empty), QEMU and accelerator.
func (d *Driver) machine(svc *api.ServiceSpec) (machine, error) {
	wanted := svc.Arch
	if len(wanted) == 0 {
		wanted = []string{goruntime.GOARCH}
	}
	m := machine{memoryMB: svc.MemoryMB, cpus: 1}
	for _, a := range wanted {
		a = strings.ToLower(strings.TrimSpace(a))
		if alias, ok := archAliases[a]; ok {
			a = alias
		}
		if path, ok := d.qemu[a]; ok {
			m.arch, m.qemu = a, path
			break
		}
	}
	if m.qemu == "" {
		return m, fmt.Errorf("arch %v: this node has no QEMU for it (it has %v)", wanted, d.arches())
	}
	m.kvm = d.kvm(m.arch)
	if m.memoryMB < 0 {
		return m, fmt.Errorf("memory %d: want a number of MB, 0 for the default", svc.MemoryMB)
	}
	if m.memoryMB == 0 {
		m.memoryMB = defaultMemoryMB
	}
	if svc.VCPUs < 0 || math.IsNaN(svc.VCPUs) || math.IsInf(svc.VCPUs, 0) {
		return m, fmt.Errorf("vcpus %v: want a number of cores", svc.VCPUs)
	}
	if svc.VCPUs > 1 {
		m.cpus = int(math.Ceil(svc.VCPUs))
	}
	return m, nil
}

func (d *Driver) arches() []string {
	out := make([]string, 0, len(d.qemu))
	for a := range d.qemu {
		out = append(out, a)
	}
	return out
}

// args is QEMU's command line for instance id booting img.
func (m machine) args(id string, img image, svc *api.ServiceSpec) ([]string, error) {
	ports, err := sla.ParsePorts(svc.Port)
	if err != nil {
		return nil, fmt.Errorf("port: %w", err)
	}
	netdev, nic := "user,id=net0", "virtio-net-pci,netdev=net0,romfile="
	for _, p := range ports {
		netdev += fmt.Sprintf(",hostfwd=%s::%d-:%d", p.Protocol, p.Host, p.Container)
	}
	var guestNet []string
	if m.tap != "" {
		if len(ports) > 0 {
			return nil, fmt.Errorf("port %q: %w: a unikernel on the instance network is reached at its address (%s); host ports are not published for it", svc.Port, runtime.ErrInvalidNetwork, m.network.Address)
		}
		netdev = "tap,id=net0,ifname=" + m.tap + ",script=no,downscript=no"
		nic += ",mac=" + tapMAC(m.tap)
		guestNet = guestNetArgs(m.network)
	}
	args := []string{
		"-name", "hedge-" + id,
		"-nodefaults", "-nographic", "-no-reboot",
	}
	switch {
	case m.arch == "arm64" && m.kvm:
		args = append(args, "-machine", "virt,gic-version=host", "-accel", "kvm", "-cpu", "host")
	case m.arch == "arm64":
		args = append(args, "-machine", "virt", "-accel", "tcg,tb-size="+strconv.Itoa(tcgCacheMB), "-cpu", "max")
	case m.kvm:
		args = append(args, "-accel", "kvm", "-cpu", "host")
	default:
		args = append(args, "-accel", "tcg,tb-size="+strconv.Itoa(tcgCacheMB))
	}
	args = append(args,
		"-m", strconv.FormatInt(m.memoryMB, 10),
		"-smp", strconv.Itoa(m.cpus),
		"-kernel", img.kernel,
	)
	if img.initrd != "" {
		args = append(args, "-initrd", img.initrd)
	}
	if cmdline := strings.Join(append(append(guestNet, svc.Cmd...), svc.Args...), " "); cmdline != "" {
		if strings.ContainsRune(cmdline, 0) {
			return nil, errors.New("cmd/args: NUL byte in the kernel command line")
		}
		args = append(args, "-append", cmdline)
	}
	return append(args,
		"-serial", "stdio", "-monitor", "none",
		"-netdev", netdev, "-device", nic,
		"-qmp", "unix:"+qmpSocket+",server=on,wait=off",
	), nil
}
