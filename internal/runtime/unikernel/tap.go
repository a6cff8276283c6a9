package unikernel

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// tapName is the instance's TAP device on the instance network. It is
// derived from the driver's data directory and the instance ID (14
// characters, within the kernel's 15), so Remove finds it after a crash or a
// worker restart without any record, and two workers on one host never
// share one.
func (d *Driver) tapName(id string) string {
	sum := sha256.Sum256([]byte(d.dataDir + "\x00" + id))
	return "hu" + hex.EncodeToString(sum[:6])
}

// tapMAC is the guest's MAC address on the TAP: locally administered, stable
// for the instance.
func tapMAC(tap string) string {
	sum := sha256.Sum256([]byte(tap))
	return fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3])
}

// createTap makes a persistent TAP device attached to bridge, with the
// bridge's MTU, and up; QEMU opens it by name (-netdev tap,ifname=...). A
// device of that name left by an earlier run is replaced. The bridge must
// exist: the instance network owns it.
func createTap(name, bridge string) error {
	if _, err := os.Stat(filepath.Join("/sys/class/net", bridge, "bridge")); err != nil {
		return fmt.Errorf("instance network: %w: bridge %s does not exist", runtime.ErrUnavailable, bridge)
	}
	if err := deleteTap(name); err != nil {
		return err
	}
	cmds := [][]string{
		{"tuntap", "add", "dev", name, "mode", "tap"},
		{"link", "set", "dev", name, "master", bridge},
	}
	if mtu := runtime.BridgeMTU(bridge); mtu > 0 {
		cmds = append(cmds, []string{"link", "set", "dev", name, "mtu", strconv.Itoa(mtu)})
	}
	cmds = append(cmds, []string{"link", "set", "dev", name, "up"})
	for _, c := range cmds {
		if err := ip(c...); err != nil {
			_ = deleteTap(name)
			return fmt.Errorf("instance network: %w", err)
		}
	}
	return nil
}

// deleteTap removes the TAP device; one that does not exist is not an
// error.
func deleteTap(name string) error {
	if _, err := os.Stat(filepath.Join("/sys/class/net", name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := ip("link", "del", "dev", name); err != nil {
		if _, serr := os.Stat(filepath.Join("/sys/class/net", name)); errors.Is(serr, os.ErrNotExist) {
			return nil // went meanwhile
		}
		return fmt.Errorf("instance network: %w", err)
	}
	return nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// guestNetArgs tell the guest its address on the instance network on the
// kernel command line, in the two forms the unikernels Hedge runs take it;
// each kernel ignores the other's:
//
//   - Linux (CONFIG_IP_PNP): ip=<addr>::<gateway>:<netmask>::eth0:off[:<dns0>[:<dns1>]]
//   - Unikraft (lwip, netdev): netdev.ip=<addr>/<prefix>:<gateway>[:<dns0>]
//
// They come before the service's cmd and args, so that a Unikraft
// application's own arguments (after "--") stay last.
func guestNetArgs(n *runtime.Network) []string {
	p := n.Prefix()
	mask := net.IP(net.CIDRMask(p.Bits(), 32)).String()
	linux := fmt.Sprintf("ip=%s::%s:%s::eth0:off", p.Addr(), n.Gateway, mask)
	for i, s := range n.DNS {
		if i == 2 {
			break
		}
		linux += ":" + s
	}
	ukraft := fmt.Sprintf("netdev.ip=%s:%s", p, n.Gateway)
	if len(n.DNS) > 0 {
		ukraft += ":" + n.DNS[0]
	}
	return []string{linux, ukraft}
}
