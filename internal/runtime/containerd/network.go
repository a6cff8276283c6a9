package containerd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/pkg/oci"
	gocni "github.com/containerd/go-cni"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/sla"
)

// Network modes (Options.Network).
const (
	// NetworkBridge gives every container its own network namespace on a
	// host bridge (CNI bridge + host-local), publishes its ports with CNI
	// portmap (iptables DNAT); the subnet's masquerading and FORWARD rules
	// are set once per driver start (subnetRules).
	NetworkBridge = "bridge"
	// NetworkHost runs containers in the host's network namespace; a port
	// mapping can then only publish a port as itself.
	NetworkHost = "host"
)

// Network defaults.
const (
	DefaultSubnet   = "10.87.0.0/16"
	DefaultBridge   = "hedge0"
	DefaultNetNSDir = "/run/hedge/netns"
	// cniNetwork names the CNI network: it keys the IP allocations
	// (/var/lib/cni/networks/hedge) and the cached results.
	cniNetwork = "hedge"
	// ifName is the container's interface on the bridge.
	ifName = "eth0"
)

// DefaultCNIBinDirs are where Debian (containernetworking-plugins) and the
// upstream release put the CNI plugins.
var DefaultCNIBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// cniPlugins are the plugins the bridge network runs.
var cniPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// network is the bridge network of a driver.
type network struct {
	cni   gocni.CNI
	nsDir string
}

// newNetwork sets up the bridge network unless Options ask for the host's
// network, or (by default) when the CNI plugins or iptables are missing; it
// returns nil in those cases.
func newNetwork(opts Options, log *slog.Logger) (*network, error) {
	switch opts.Network {
	case NetworkHost:
		return nil, nil
	case "", NetworkBridge:
	default:
		return nil, fmt.Errorf("network %q: want %q, %q or \"\" (bridge when the CNI plugins are installed)", opts.Network, NetworkBridge, NetworkHost)
	}
	dirs := opts.CNIBinDirs
	if len(dirs) == 0 {
		dirs = DefaultCNIBinDirs
	}
	var missing []string
	for _, p := range cniPlugins {
		if !pluginInstalled(dirs, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		err := fmt.Errorf("CNI plugins %s not found in %s (apt-get install containernetworking-plugins)", strings.Join(missing, ", "), strings.Join(dirs, ", "))
		return fallback(opts, log, err)
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return fallback(opts, log, fmt.Errorf("the CNI plugins need iptables: %w (apt-get install iptables)", err))
	}

	subnet := opts.Subnet
	if subnet == "" {
		subnet = DefaultSubnet
	}
	ip, ipnet, err := net.ParseCIDR(subnet)
	if err != nil || ip.To4() == nil {
		return nil, fmt.Errorf("subnet %q: want an IPv4 range such as %s", subnet, DefaultSubnet)
	}
	if ones, _ := ipnet.Mask.Size(); ones > 30 {
		return nil, fmt.Errorf("subnet %q: want a range of at least 4 addresses (/30)", subnet)
	}
	bridge := opts.Bridge
	if bridge == "" {
		bridge = DefaultBridge
	}
	if len(bridge) > 15 || strings.ContainsAny(bridge, "/ \t\n") {
		return nil, fmt.Errorf("bridge %q: want a network device name of at most 15 characters", bridge)
	}
	if err := subnetRules(ipnet.String()); err != nil {
		return nil, err
	}
	conf, err := confList(bridge, ipnet.String())
	if err != nil {
		return nil, err
	}
	// The plugin directory must come first: the other options use it.
	cni, err := gocni.New(gocni.WithPluginDir(dirs), gocni.WithConfListBytes(conf), gocni.WithLoNetwork)
	if err != nil {
		return nil, fmt.Errorf("CNI: %w", err)
	}
	nsDir := opts.NetNSDir
	if nsDir == "" {
		nsDir = DefaultNetNSDir
	}
	return &network{cni: cni, nsDir: nsDir}, nil
}

// fallback is the host network when no mode was asked for, else the error.
func fallback(opts Options, log *slog.Logger, err error) (*network, error) {
	if opts.Network == NetworkBridge {
		return nil, fmt.Errorf("bridge network: %w", err)
	}
	log.Warn("containers share the host's network: ports can only be published as themselves", "reason", err.Error())
	return nil, nil
}

func pluginInstalled(dirs []string, name string) bool {
	for _, dir := range dirs {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// confList is the CNI configuration of the bridge network.
func confList(bridge, subnet string) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       cniNetwork,
		"plugins": []map[string]any{
			{
				"type":        "bridge",
				"bridge":      bridge,
				"isGateway":   true,
				"ipMasq":      false, // subnetRules masquerades the whole subnet
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": subnet}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return nil, fmt.Errorf("CNI configuration: %w", err)
	}
	return b, nil
}

// subnetRules sets, once per driver start, what the CNI bridge plugin's
// ipMasq and the firewall plugin would set per container: masquerading of
// the subnet's outbound traffic, and FORWARD rules letting it out and its
// replies in (Docker sets FORWARD's policy to DROP where it runs). Per
// container they cost about 0.1 s of iptables calls on every start; for the
// subnet as a whole they are set once and stay, as Docker's own do.
func subnetRules(subnet string) error {
	rules := [][]string{
		{"-t", "nat", "POSTROUTING", "-s", subnet, "!", "-d", subnet, "-j", "MASQUERADE"},
		{"-t", "filter", "FORWARD", "-s", subnet, "-j", "ACCEPT"},
		{"-t", "filter", "FORWARD", "-d", subnet, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
	}
	for _, r := range rules {
		table, chain, spec := r[:2], r[2], r[3:]
		check := append(append(append([]string{"-w"}, table...), "-C", chain), spec...)
		if exec.Command("iptables", check...).Run() == nil {
			continue // already there
		}
		op := "-A"
		if chain == "FORWARD" {
			op = "-I" // ahead of Docker's chains and of a DROP
		}
		add := append(append(append([]string{"-w"}, table...), op, chain), spec...)
		if out, err := exec.Command("iptables", add...).CombinedOutput(); err != nil {
			return fmt.Errorf("bridge network: iptables %s: %w: %s", strings.Join(add, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// checkHostPorts refuses, on the host network, mappings that would need
// translation.
func checkHostPorts(ports []sla.PortMapping) error {
	for _, m := range ports {
		if m.Host != m.Container {
			return fmt.Errorf("port %d:%d/%s: containers on this worker share the host's network (no CNI plugins: apt-get install containernetworking-plugins), so a port can only be published as itself", m.Host, m.Container, m.Protocol)
		}
	}
	return nil
}

// netRecord is what the driver keeps about an instance's network
// (network.json), written before the network is set up, so that Remove can
// undo it even after a crash or a worker restart.
type netRecord struct {
	NetNS string            `json:"netns"`
	Ports []sla.PortMapping `json:"ports,omitempty"`
	// Instance is the instance network the container was attached to
	// (runtime.Spec.Network); nil for the driver's own bridge network.
	Instance *runtime.Network `json:"instance,omitempty"`
}

func (d *Driver) netRecordPath(id string) string {
	return filepath.Join(d.instanceDir(id), "network.json")
}

// attachNetwork gives the instance its network: a pinned network namespace
// on the instance network's bridge when inst is set (see instanceCNI), else
// on the driver's bridge with its ports published, or the host's. It returns
// the spec options that put the container there, and a function that waits
// for the network to be ready. The CNI plugins (which take about half a
// second, most of it in iptables) run meanwhile, while the container and its
// task are created; the caller must call ready before it starts the task,
// and before it undoes anything on failure.
func (d *Driver) attachNetwork(ctx context.Context, id string, ports []sla.PortMapping, inst *runtime.Network) (opts []oci.SpecOpts, ready func() error, err error) {
	if d.net == nil && inst == nil {
		opts = []oci.SpecOpts{oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf}
		return opts, func() error { return nil }, nil
	}
	cni, err := d.cniOf(inst)
	if err != nil {
		return nil, nil, err
	}
	if inst != nil {
		if err := d.fwd.Allow(inst.Bridge); err != nil {
			return nil, nil, fmt.Errorf("instance network: %w", err)
		}
	}
	cid := d.containerID(id)
	rec := netRecord{NetNS: filepath.Join(d.nsDir, cid), Ports: ports, Instance: inst}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(d.netRecordPath(id), b, 0o644); err != nil {
		return nil, nil, fmt.Errorf("network: %w", err)
	}
	if err := newNetNS(rec.NetNS); err != nil {
		return nil, nil, fmt.Errorf("network namespace: %w", err)
	}
	// The files exist before the task does (runc mounts them when it
	// creates it); /etc/hosts gets the container's address once CNI gave
	// one, rewritten in place so that the bind mount shows it.
	hosts := filepath.Join(d.instanceDir(id), "hosts")
	if err := os.WriteFile(hosts, hostsFile(nil, hostname(id)), 0o644); err != nil {
		return nil, nil, fmt.Errorf("network: %w", err)
	}
	resolv := filepath.Join(d.instanceDir(id), "resolv.conf")
	conf := containerResolvConf()
	if inst != nil {
		host, _ := os.ReadFile("/etc/resolv.conf")
		conf = inst.ResolvConf(host)
	}
	if err := os.WriteFile(resolv, conf, 0o644); err != nil {
		return nil, nil, fmt.Errorf("network: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- d.setupNetwork(ctx, cni, cid, rec, hosts, hostname(id))
	}()
	var once sync.Once
	var setupErr error
	ready = func() error {
		once.Do(func() { setupErr = <-done })
		return setupErr
	}
	opts = []oci.SpecOpts{
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: rec.NetNS}),
		oci.WithMounts([]specs.Mount{
			{Destination: "/etc/hosts", Type: "bind", Source: hosts, Options: []string{"rbind", "ro"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: resolv, Options: []string{"rbind", "ro"}},
		}),
	}
	return opts, ready, nil
}

// cniOf is the CNI of the instance network inst, or of the driver's bridge
// network when inst is nil.
func (d *Driver) cniOf(inst *runtime.Network) (gocni.CNI, error) {
	if inst != nil {
		return d.instanceCNI(inst)
	}
	return d.net.cni, nil
}

// setupNetwork runs the CNI plugins on the namespace and writes the address
// they gave into the hosts file. On the instance network the address must
// be the one asked for.
func (d *Driver) setupNetwork(ctx context.Context, cni gocni.CNI, cid string, rec netRecord, hosts, name string) error {
	res, err := cni.Setup(ctx, cid, rec.NetNS, gocni.WithCapabilityPortMap(cniPorts(rec.Ports)))
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	var ip net.IP
	if c := res.Interfaces[ifName]; c != nil && len(c.IPConfigs) > 0 {
		ip = c.IPConfigs[0].IP
	}
	if ip == nil {
		return fmt.Errorf("network: CNI gave %s no address", ifName)
	}
	if rec.Instance != nil && ip.String() != rec.Instance.Prefix().Addr().String() {
		return fmt.Errorf("instance network: CNI gave %s address %s, want %s", ifName, ip, rec.Instance.Address)
	}
	if err := os.WriteFile(hosts, hostsFile(ip, name), 0o644); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

// hostsFile is the container's /etc/hosts.
func hostsFile(ip net.IP, name string) []byte {
	s := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if ip != nil {
		s += ip.String() + "\t" + name + "\n"
	}
	return []byte(s)
}

// detachNetwork undoes attachNetwork: the CNI teardown (address, port
// mappings) while the namespace still exists, then the namespace.
func (d *Driver) detachNetwork(ctx context.Context, id string) error {
	var rec netRecord
	b, err := os.ReadFile(d.netRecordPath(id))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("network: %w", err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("network: %s: %w", d.netRecordPath(id), err)
	}
	var cni gocni.CNI
	switch {
	case rec.Instance != nil:
		if cni, err = d.instanceCNI(rec.Instance); err != nil {
			return fmt.Errorf("network teardown: %w", err)
		}
	case d.net != nil:
		cni = d.net.cni
	}
	if cni != nil {
		path := rec.NetNS
		if !isNetNS(path) {
			// Gone (a reboot) or never made: the plugins can still release
			// the address and the port mappings.
			path = ""
		}
		if err := cni.Remove(ctx, d.containerID(id), path, gocni.WithCapabilityPortMap(cniPorts(rec.Ports))); err != nil {
			return fmt.Errorf("network teardown: %w", err)
		}
	}
	if err := removeNetNS(rec.NetNS); err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	if err := os.Remove(d.netRecordPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

func cniPorts(ports []sla.PortMapping) []gocni.PortMapping {
	out := make([]gocni.PortMapping, 0, len(ports))
	for _, m := range ports {
		out = append(out, gocni.PortMapping{HostPort: int32(m.Host), ContainerPort: int32(m.Container), Protocol: m.Protocol})
	}
	return out
}

// newNetNS makes a network namespace that lives on without any process in it,
// bind-mounted at path: the CNI plugins can then tear the network down
// cleanly even after the container's task ended.
func newNetNS(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	_ = f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread stays locked: it ends with this goroutine rather than
		// going back to the scheduler inside the new namespace.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind mount %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// removeNetNS unmounts and deletes a pinned namespace; one that does not
// exist is not an error.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// isNetNS reports whether path is a mounted network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// containerResolvConf is the host's resolv.conf without loopback name
// servers, which a container on the bridge cannot reach (a local resolver
// such as systemd-resolved's 127.0.0.53).
func containerResolvConf() []byte {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]); ip != nil && ip.IsLoopback() {
				continue
			}
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes()
}
