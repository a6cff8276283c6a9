package containerd

import (
	"encoding/json"
	"fmt"
	"strings"

	gocni "github.com/containerd/go-cni"

	"github.com/hedgeorch/hedge/internal/runtime"
)

// instanceCNINetwork names the CNI network of the instance network
// (runtime.Spec.Network): it keys the plugins' cached results and portmap's
// rules apart from the driver's own bridge network.
const instanceCNINetwork = "hedge-instance"

// instancePlugins are the plugins an instance on the instance network needs:
// static gives exactly the address the worker chose, so no allocation state
// is kept on the host.
var instancePlugins = []string{"bridge", "static", "portmap", "loopback"}

// instanceCNI is the CNI of one instance on the instance network n: its veth
// on n.Bridge (created if missing; an existing bridge's addresses are never
// changed: the instance network owns it), exactly n.Address, a default route
// via n.Gateway, no masquerading (the instance network does that for what
// leaves its ranges), and portmap for the SLA's ports.
func (d *Driver) instanceCNI(n *runtime.Network) (gocni.CNI, error) {
	var missing []string
	for _, p := range instancePlugins {
		if !pluginInstalled(d.cniDirs, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("instance network: %w: CNI plugins %s not found in %s (apt-get install containernetworking-plugins)", runtime.ErrUnavailable, strings.Join(missing, ", "), strings.Join(d.cniDirs, ", "))
	}
	conf, err := instanceConfList(n, runtime.BridgeMTU(n.Bridge))
	if err != nil {
		return nil, err
	}
	cni, err := gocni.New(gocni.WithPluginDir(d.cniDirs), gocni.WithConfListBytes(conf), gocni.WithLoNetwork)
	if err != nil {
		return nil, fmt.Errorf("instance network: CNI: %w", err)
	}
	return cni, nil
}

// instanceConfList is the CNI configuration of an instance on the instance
// network. isGateway is false: the gateway address is already on the
// bridge, and the plugin must not add or move addresses there. mtu 0 leaves
// the plugin's default (a bridge that does not exist yet).
func instanceConfList(n *runtime.Network, mtu int) ([]byte, error) {
	bridge := map[string]any{
		"type":        "bridge",
		"bridge":      n.Bridge,
		"isGateway":   false,
		"ipMasq":      false,
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":      "static",
			"addresses": []map[string]string{{"address": n.Address, "gateway": n.Gateway}},
			"routes":    []map[string]string{{"dst": "0.0.0.0/0", "gw": n.Gateway}},
		},
	}
	if mtu > 0 {
		bridge["mtu"] = mtu
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       instanceCNINetwork,
		"plugins": []map[string]any{
			bridge,
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return nil, fmt.Errorf("instance network: CNI configuration: %w", err)
	}
	return b, nil
}
