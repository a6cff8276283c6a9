package ipam

import (
	"fmt"
	"net/netip"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/netmap"
)

// Sentinel errors.
var (
	// ErrInvalid: a setting or an address is malformed or out of range.
	ErrInvalid = errdefs.New(errdefs.ErrInvalid, "invalid")
	// ErrExhausted: a range has no free subnet or address left.
	ErrExhausted = errdefs.New(errdefs.ErrConflict, "address range exhausted")
)

// Settings are the root's network settings (hedge root --instance-cidr,
// --service-cidr, --cluster-prefix, --worker-prefix, --overlay-encrypt).
// The zero value of a field means "not given".
type Settings struct {
	InstanceCIDR  string `json:"instance_cidr"`
	ServiceCIDR   string `json:"service_cidr"`
	ClusterPrefix int    `json:"cluster_prefix"`
	WorkerPrefix  int    `json:"worker_prefix"`
	Encrypt       bool   `json:"encrypt,omitempty"`
}

// Defaults returns the settings of netmap's defaults.
func Defaults() Settings {
	return Settings{
		InstanceCIDR: netmap.DefaultInstanceCIDR, ServiceCIDR: netmap.DefaultServiceCIDR,
		ClusterPrefix: netmap.DefaultClusterBits, WorkerPrefix: netmap.DefaultWorkerBits,
	}
}

// Or returns s with every field it does not give taken from def (Encrypt
// is always s's).
func (s Settings) Or(def Settings) Settings {
	if s.InstanceCIDR == "" {
		s.InstanceCIDR = def.InstanceCIDR
	}
	if s.ServiceCIDR == "" {
		s.ServiceCIDR = def.ServiceCIDR
	}
	if s.ClusterPrefix == 0 {
		s.ClusterPrefix = def.ClusterPrefix
	}
	if s.WorkerPrefix == 0 {
		s.WorkerPrefix = def.WorkerPrefix
	}
	return s
}

// Validate checks complete settings; its errors name the flag.
func (s Settings) Validate() error {
	inst, err := parseRange("instance-cidr", s.InstanceCIDR)
	if err != nil {
		return err
	}
	svc, err := parseRange("service-cidr", s.ServiceCIDR)
	if err != nil {
		return err
	}
	if inst.Overlaps(svc) {
		return fmt.Errorf("%w: service-cidr: %s overlaps instance-cidr %s; the two ranges must be apart", ErrInvalid, svc, inst)
	}
	if s.ClusterPrefix < inst.Bits() || s.ClusterPrefix > 30 {
		return fmt.Errorf("%w: cluster-prefix: must be between %d (the instance range's own) and 30, got %d", ErrInvalid, inst.Bits(), s.ClusterPrefix)
	}
	if s.WorkerPrefix < s.ClusterPrefix || s.WorkerPrefix > 30 {
		return fmt.Errorf("%w: worker-prefix: must be between cluster-prefix (%d) and 30, got %d", ErrInvalid, s.ClusterPrefix, s.WorkerPrefix)
	}
	if svc.Bits() > 30 {
		return fmt.Errorf("%w: service-cidr: %s is too small: at most /30", ErrInvalid, svc)
	}
	return nil
}

// Renumbers reports, as a message naming the flags, how next differs from
// s in a way that would renumber addresses already handed out; "" if not.
// Encrypt may change freely.
func (s Settings) Renumbers(next Settings) string {
	switch {
	case s.InstanceCIDR != next.InstanceCIDR:
		return fmt.Sprintf("instance-cidr: the store holds %s, the flag says %s", s.InstanceCIDR, next.InstanceCIDR)
	case s.ServiceCIDR != next.ServiceCIDR:
		return fmt.Sprintf("service-cidr: the store holds %s, the flag says %s", s.ServiceCIDR, next.ServiceCIDR)
	case s.ClusterPrefix != next.ClusterPrefix:
		return fmt.Sprintf("cluster-prefix: the store holds %d, the flag says %d", s.ClusterPrefix, next.ClusterPrefix)
	case s.WorkerPrefix != next.WorkerPrefix:
		return fmt.Sprintf("worker-prefix: the store holds %d, the flag says %d", s.WorkerPrefix, next.WorkerPrefix)
	}
	return ""
}

func parseRange(field, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%w: %s: must be an IPv4 CIDR such as 10.18.0.0/16, got %q", ErrInvalid, field, s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%w: %s: %s has host bits set; did you mean %s?", ErrInvalid, field, s, p.Masked())
	}
	if p.Bits() < 8 {
		return netip.Prefix{}, fmt.Errorf("%w: %s: %s is too large: at least /8", ErrInvalid, field, s)
	}
	return p, nil
}

// NextSubnet returns the first subnet of length bits inside parent that
// overlaps none of used.
func NextSubnet(parent netip.Prefix, bits int, used []netip.Prefix) (netip.Prefix, error) {
	if bits < parent.Bits() || bits > 32 {
		return netip.Prefix{}, fmt.Errorf("%w: a /%d cannot be cut from %s", ErrInvalid, bits, parent)
	}
	step := uint32(1) << (32 - bits)
	base := u32(parent.Masked().Addr())
	count := uint64(1) << (bits - parent.Bits())
	for i := uint64(0); i < count; i++ {
		p := netip.PrefixFrom(addr(base+uint32(i)*step), bits)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: no free /%d left in %s", ErrExhausted, bits, parent)
}

// NextAddr returns the first address of parent, its network and broadcast
// addresses left out, that taken does not hold.
func NextAddr(parent netip.Prefix, taken func(netip.Addr) bool) (netip.Addr, error) {
	p := parent.Masked()
	last := u32(p.Addr()) | (uint32(1)<<(32-p.Bits()) - 1)
	for a := p.Addr().Next(); a.IsValid() && u32(a) < last; a = a.Next() {
		if !taken(a) {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: no free address left in %s", ErrExhausted, parent)
}

// ServiceAddr checks an address a user gave for a service (field is its
// path in the descriptor): an IPv4 address inside the service range,
// neither its network nor its broadcast address.
func ServiceAddr(field, s string, serviceCIDR netip.Prefix) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%w: %s: must be an IPv4 address, got %q", ErrInvalid, field, s)
	}
	p := serviceCIDR.Masked()
	last := u32(p.Addr()) | (uint32(1)<<(32-p.Bits()) - 1)
	if !p.Contains(a) || a == p.Addr() || u32(a) == last {
		return netip.Addr{}, fmt.Errorf("%w: %s: must be inside the service range %s (not its first or last address), got %s", ErrInvalid, field, p, s)
	}
	return a, nil
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
