package runtime

import (
	"errors"
	"strings"
	"testing"
)

func TestNetworkCheck(t *testing.T) {
	good := Network{Address: "10.18.1.5/24", Gateway: "10.18.1.1", Bridge: "hedgeov0", DNS: []string{"10.18.1.1"}}
	for _, c := range []struct {
		name  string
		edit  func(*Network)
		field string // "" when valid
	}{
		{"valid", func(*Network) {}, ""},
		{"no DNS is valid", func(n *Network) { n.DNS = nil }, ""},
		{"address without prefix", func(n *Network) { n.Address = "10.18.1.5" }, "network.address"},
		{"address is the subnet", func(n *Network) { n.Address = "10.18.1.0/24" }, "network.address"},
		{"IPv6 address", func(n *Network) { n.Address = "fd00::5/64" }, "network.address"},
		{"prefix too long", func(n *Network) { n.Address = "10.18.1.5/32" }, "network.address"},
		{"gateway outside", func(n *Network) { n.Gateway = "10.18.2.1" }, "network.gateway"},
		{"gateway is the instance", func(n *Network) { n.Gateway = "10.18.1.5" }, "network.gateway"},
		{"gateway not an address", func(n *Network) { n.Gateway = "gw" }, "network.gateway"},
		{"no bridge", func(n *Network) { n.Bridge = "" }, "network.bridge"},
		{"bridge name too long", func(n *Network) { n.Bridge = "a-very-long-bridge" }, "network.bridge"},
		{"bridge name with a slash", func(n *Network) { n.Bridge = "../x" }, "network.bridge"},
		{"bad DNS", func(n *Network) { n.DNS = []string{"10.18.1.1", "dns.example"} }, "network.dns[1]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := good
			c.edit(&n)
			err := n.Check()
			if c.field == "" {
				if err != nil {
					t.Errorf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidNetwork) || !strings.Contains(err.Error(), c.field+" ") {
				t.Errorf("Check = %v, want an ErrInvalidNetwork naming %s", err, c.field)
			}
		})
	}
}

func TestNetworkResolvConf(t *testing.T) {
	n := Network{DNS: []string{"10.18.1.1", "192.0.2.53"}}
	host := []byte("# from DHCP\nnameserver 127.0.0.53\nsearch  corp.example lab.example\noptions edns0 trust-ad\n")
	want := "nameserver 10.18.1.1\nnameserver 192.0.2.53\nsearch corp.example lab.example\noptions edns0 trust-ad\n"
	if got := string(n.ResolvConf(host)); got != want {
		t.Errorf("ResolvConf = %q, want %q", got, want)
	}
}
