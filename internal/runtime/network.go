package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

// ErrInvalidNetwork is wrapped by Network.Check.
var ErrInvalidNetwork = errdefs.New(errdefs.ErrInvalid, "invalid instance network")

// Prefix is the instance's address with its prefix, parsed.
func (n *Network) Prefix() netip.Prefix {
	p, _ := netip.ParsePrefix(n.Address)
	return p
}

// Check says whether the drivers can attach an instance with n: an IPv4
// Address with its prefix, a Gateway in that prefix and not the instance's
// own address, a Bridge that is a device name, DNS entries that are
// addresses. The error names the field and what is wanted; it wraps
// ErrInvalidNetwork.
func (n *Network) Check() error {
	bad := func(field, value, want string) error {
		return fmt.Errorf("network.%s %q: %w: want %s", field, value, ErrInvalidNetwork, want)
	}
	p, err := netip.ParsePrefix(n.Address)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 || p.Addr() == p.Masked().Addr() {
		return bad("address", n.Address, "an IPv4 host address with its prefix of at most /30, such as 10.18.1.5/24")
	}
	gw, err := netip.ParseAddr(n.Gateway)
	if err != nil || !p.Contains(gw) || gw == p.Addr() {
		return bad("gateway", n.Gateway, "an address in "+p.Masked().String()+" other than the instance's")
	}
	if n.Bridge == "" || len(n.Bridge) > 15 || strings.ContainsAny(n.Bridge, "/: \t\n") {
		return bad("bridge", n.Bridge, "a network device name of 1 to 15 characters")
	}
	for i, s := range n.DNS {
		if _, err := netip.ParseAddr(s); err != nil {
			return bad(fmt.Sprintf("dns[%d]", i), s, "an IP address")
		}
	}
	return nil
}

// ResolvConf is an instance's /etc/resolv.conf on the instance network: a
// name server line per DNS entry, in order, then the search and options lines
// of the host's resolv.conf (host), whose name servers are not kept.
func (n *Network) ResolvConf(host []byte) []byte {
	var out bytes.Buffer
	for _, s := range n.DNS {
		out.WriteString("nameserver " + s + "\n")
	}
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && (f[0] == "search" || f[0] == "domain" || f[0] == "options") {
			out.WriteString(strings.Join(f, " ") + "\n")
		}
	}
	return out.Bytes()
}

// ForwardRules are the iptables rules (filter table, FORWARD chain) that let
// traffic in and out of an instance network's bridge through the host's
// FORWARD chain, which Docker sets to DROP and which bridged traffic also
// crosses when br_netfilter is loaded. Who may talk to whom is the instance
// network's policy (nftables, internal/overlay): an accept here does not
// override a drop there.
func ForwardRules(bridge string) [][]string {
	return [][]string{
		{"-i", bridge, "-j", "ACCEPT"},
		{"-o", bridge, "-j", "ACCEPT"},
	}
}

// Forwarder sets ForwardRules once per bridge for the driver that holds it,
// as the container driver sets its subnet's rules once per start: after that
// a start costs no iptables call. Its zero value is ready to use; it is safe
// for concurrent use.
type Forwarder struct {
	mu   sync.Mutex
	done map[string]bool
}

// Allow inserts ForwardRules(bridge) at the head of FORWARD unless they are
// there already, the first time it is asked for bridge. They stay (like the
// bridge itself) until the instance network removes the bridge.
func (f *Forwarder) Allow(bridge string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done[bridge] {
		return nil
	}
	for _, r := range ForwardRules(bridge) {
		check := append([]string{"-w", "-t", "filter", "-C", "FORWARD"}, r...)
		if exec.Command("iptables", check...).Run() == nil {
			continue
		}
		add := append([]string{"-w", "-t", "filter", "-I", "FORWARD"}, r...)
		if out, err := exec.Command("iptables", add...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s: %w: %s", strings.Join(add, " "), err, strings.TrimSpace(string(out)))
		}
	}
	if f.done == nil {
		f.done = make(map[string]bool)
	}
	f.done[bridge] = true
	return nil
}

// BridgeMTU is the MTU of an existing bridge (the instance network lowers it
// for its tunnels), 0 when there is no such device.
func BridgeMTU(name string) int {
	b, err := os.ReadFile(filepath.Join("/sys/class/net", name, "mtu"))
	if err != nil {
		return 0
	}
	mtu, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return mtu
}
