package docker

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/runtime"
)

// Options of Docker's bridge network driver.
const (
	optBridgeName = "com.docker.network.bridge.name"
	optMasquerade = "com.docker.network.bridge.enable_ip_masquerade"
	optMTU        = "com.docker.network.driver.mtu"
)

// ErrNetworkConflict is wrapped when the Docker network of an instance
// network's bridge exists with another subnet and still has containers.
var ErrNetworkConflict = errdefs.New(errdefs.ErrConflict, "docker network conflict")

// dockerNetwork names the Docker network that stands for the instance
// network's bridge.
func dockerNetwork(bridge string) string { return "hedge-" + bridge }

// attachInstanceNetwork puts the container on the instance network n: a
// user-defined Docker bridge network on n.Bridge itself (made on first use,
// see ensureNetwork), exactly n.Address, and an /etc/resolv.conf naming
// n.DNS, bind-mounted over Docker's own (which would name its embedded
// resolver, 127.0.0.11). Docker is also given n.DNS, for what it resolves
// itself.
func (d *Driver) attachInstanceNetwork(ctx context.Context, id string, n *runtime.Network, host *container.HostConfig) (*network.NetworkingConfig, error) {
	name, err := d.ensureNetwork(ctx, n)
	if err != nil {
		return nil, err
	}
	if err := d.fwd.Allow(n.Bridge); err != nil {
		return nil, fmt.Errorf("instance network: %w", err)
	}
	resolv := filepath.Join(d.instanceDir(id), "resolv.conf")
	hostConf, _ := os.ReadFile("/etc/resolv.conf")
	if err := os.MkdirAll(d.instanceDir(id), 0o755); err != nil {
		return nil, fmt.Errorf("instance network: %w", err)
	}
	if err := os.WriteFile(resolv, n.ResolvConf(hostConf), 0o644); err != nil {
		return nil, fmt.Errorf("instance network: %w", err)
	}
	host.NetworkMode = container.NetworkMode(name)
	host.Binds = append(host.Binds, resolv+":/etc/resolv.conf:ro")
	for _, s := range n.DNS {
		host.DNS = append(host.DNS, netip.MustParseAddr(s))
	}
	return &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		name: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: n.Prefix().Addr()}},
	}}, nil
}

// ensureNetwork makes sure the Docker network of n.Bridge exists with n's
// subnet and gateway, and returns its name. Docker takes the existing bridge
// as it is (the instance network made it and put the gateway address on
// it); it would create the bridge, with the gateway address, if it were
// missing. No masquerading: the instance network does that. A network of
// the bridge with another subnet is replaced when no container uses it,
// else refused with ErrNetworkConflict. The network stays when its last
// container goes, like the bridge.
func (d *Driver) ensureNetwork(ctx context.Context, n *runtime.Network) (string, error) {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	name := dockerNetwork(n.Bridge)
	subnet, gw := n.Prefix().Masked(), netip.MustParseAddr(n.Gateway)
	ins, err := d.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	switch {
	case err == nil:
		if networkMatches(ins.Network, n.Bridge, subnet, gw) {
			return name, nil
		}
		if len(ins.Network.Containers) > 0 {
			return "", fmt.Errorf("instance network: %w: docker network %s has containers on another subnet than %s (gateway %s)", ErrNetworkConflict, name, subnet, gw)
		}
		if _, err := d.cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("instance network: replace docker network %s: %w", name, err)
		}
	case !cerrdefs.IsNotFound(err):
		return "", fmt.Errorf("instance network: docker network %s: %w", name, err)
	}
	opts := map[string]string{optBridgeName: n.Bridge, optMasquerade: "false"}
	if mtu := runtime.BridgeMTU(n.Bridge); mtu > 0 {
		opts[optMTU] = strconv.Itoa(mtu)
	}
	_, err = d.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver:  "bridge",
		IPAM:    &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet, Gateway: gw}}},
		Options: opts,
		Labels:  map[string]string{runtime.LabelManaged: "true"},
	})
	if err != nil && !cerrdefs.IsConflict(err) && !strings.Contains(err.Error(), "already exists") {
		return "", fmt.Errorf("instance network: create docker network %s on bridge %s: %w", name, n.Bridge, err)
	}
	// Another worker on this daemon made it meanwhile: it is the same.
	return name, nil
}

// networkMatches reports whether a Docker network is the bridge network of
// bridge with subnet and gateway.
func networkMatches(nw network.Inspect, bridge string, subnet netip.Prefix, gw netip.Addr) bool {
	if nw.Driver != "bridge" || nw.Options[optBridgeName] != bridge || len(nw.IPAM.Config) != 1 {
		return false
	}
	c := nw.IPAM.Config[0]
	return c.Subnet == subnet && c.Gateway == gw
}
