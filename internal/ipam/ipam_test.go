package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestUnitValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want string // substring of the error; "" for none
	}{
		{"defaults", Defaults(), ""},
		{"instance not a CIDR", Settings{InstanceCIDR: "10.18.0.0"}.Or(Defaults()), "instance-cidr: must be an IPv4 CIDR"},
		{"instance IPv6", Settings{InstanceCIDR: "fd00::/64"}.Or(Defaults()), "instance-cidr: must be an IPv4 CIDR"},
		{"host bits", Settings{ServiceCIDR: "10.30.0.1/16"}.Or(Defaults()), "service-cidr: 10.30.0.1/16 has host bits set; did you mean 10.30.0.0/16?"},
		{"overlap", Settings{ServiceCIDR: "10.18.128.0/17"}.Or(Defaults()), "service-cidr: 10.18.128.0/17 overlaps instance-cidr"},
		{"cluster wider than instance", Settings{ClusterPrefix: 12}.Or(Defaults()), "cluster-prefix: must be between 16"},
		{"worker wider than cluster", Settings{WorkerPrefix: 19}.Or(Defaults()), "worker-prefix: must be between cluster-prefix (20)"},
		{"worker too narrow", Settings{WorkerPrefix: 31}.Or(Defaults()), "worker-prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestUnitNextSubnet(t *testing.T) {
	parent := netip.MustParsePrefix("10.18.0.0/16")
	used := []netip.Prefix{netip.MustParsePrefix("10.18.0.0/20"), netip.MustParsePrefix("10.18.32.0/20")}
	got, err := NextSubnet(parent, 20, used)
	if err != nil || got.String() != "10.18.16.0/20" {
		t.Fatalf("NextSubnet = %v, %v; want 10.18.16.0/20", got, err)
	}
	small := netip.MustParsePrefix("10.18.0.0/23")
	_, err = NextSubnet(small, 24, []netip.Prefix{netip.MustParsePrefix("10.18.0.0/24"), netip.MustParsePrefix("10.18.1.0/24")})
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("NextSubnet of a full range = %v, want ErrExhausted", err)
	}
}

func TestUnitNextAddr(t *testing.T) {
	p := netip.MustParsePrefix("10.30.0.0/30")
	taken := map[netip.Addr]bool{netip.MustParseAddr("10.30.0.1"): true}
	got, err := NextAddr(p, func(a netip.Addr) bool { return taken[a] })
	if err != nil || got.String() != "10.30.0.2" {
		t.Fatalf("NextAddr = %v, %v; want 10.30.0.2 (10.30.0.0 is the network, .1 taken)", got, err)
	}
	taken[got] = true
	if _, err := NextAddr(p, func(a netip.Addr) bool { return taken[a] }); !errors.Is(err, ErrExhausted) {
		t.Fatalf("NextAddr of a full range = %v, want ErrExhausted (10.30.0.3 is the broadcast)", err)
	}
}

func TestUnitServiceAddr(t *testing.T) {
	svc := netip.MustParsePrefix("10.30.0.0/16")
	tests := []struct{ in, want string }{
		{"10.30.55.55", ""},
		{"10.31.0.1", "must be inside the service range 10.30.0.0/16"},
		{"10.30.0.0", "must be inside"},
		{"10.30.255.255", "must be inside"},
		{"fdff:2000::1", "must be an IPv4 address"},
		{"10.30.1", "must be an IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ServiceAddr("a.rr_ip", tt.in, svc)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "a.rr_ip: "+tt.want) {
				t.Fatalf("ServiceAddr(%s) = %v, want %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestUnitRenumbers(t *testing.T) {
	d := Defaults()
	if msg := d.Renumbers(Settings{Encrypt: true}.Or(d)); msg != "" {
		t.Fatalf("turning encryption on renumbers nothing, got %q", msg)
	}
	if msg := d.Renumbers(Settings{WorkerPrefix: 26}.Or(d)); !strings.Contains(msg, "worker-prefix: the store holds 24, the flag says 26") {
		t.Fatalf("Renumbers = %q", msg)
	}
}
