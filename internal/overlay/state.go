package overlay

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/crypto/curve25519"
)

// ipam hands out the addresses of one worker's subnet and keeps them in a
// file, so that a worker restart gives every instance its address back.
type ipam struct {
	path   string
	Subnet string            `json:"subnet"`
	Addrs  map[string]string `json:"addrs"` // instance id -> address
	// Last is the address handed out last. The next one is searched from
	// there on, as CNI's host-local does, so a released address is not
	// given again at once: the gateway's and other instances' neighbour
	// caches may still hold the old instance's MAC for it.
	Last string `json:"last,omitempty"`
}

func loadIPAM(path string) (*ipam, error) {
	a := &ipam{path: path, Addrs: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("overlay: read addresses: %w", err)
	}
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("overlay: parse %s: %w", path, err)
	}
	if a.Addrs == nil {
		a.Addrs = map[string]string{}
	}
	return a, nil
}

// setSubnet adopts subnet; addresses of another subnet are dropped (the
// cluster gave this worker a new subnet, so the old addresses route nowhere).
func (a *ipam) setSubnet(subnet netip.Prefix) (dropped int, err error) {
	if a.Subnet == subnet.String() {
		return 0, nil
	}
	for id, s := range a.Addrs {
		if ip, err := netip.ParseAddr(s); err != nil || !subnet.Contains(ip) {
			delete(a.Addrs, id)
			dropped++
		}
	}
	a.Subnet = subnet.String()
	return dropped, a.save()
}

// get returns the instance's address, allocating the first free one after
// the last handed out (wrapping around).
func (a *ipam) get(id string) (netip.Addr, error) {
	subnet, err := netip.ParsePrefix(a.Subnet)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("overlay: no subnet yet")
	}
	if s, ok := a.Addrs[id]; ok {
		if ip, err := netip.ParseAddr(s); err == nil {
			return ip, nil
		}
	}
	used := map[netip.Addr]bool{}
	for _, s := range a.Addrs {
		if ip, err := netip.ParseAddr(s); err == nil {
			used[ip] = true
		}
	}
	last := lastAddr(subnet)
	// .0 is the tunnel end, .1 the gateway, the last one broadcast.
	first := subnet.Addr().Next().Next()
	start := first
	if prev, err := netip.ParseAddr(a.Last); err == nil && subnet.Contains(prev) && prev.Next().Less(last) && first.Less(prev.Next()) {
		start = prev.Next()
	}
	ip := start
	for {
		if !used[ip] {
			a.Addrs[id], a.Last = ip.String(), ip.String()
			return ip, a.save()
		}
		if ip = ip.Next(); !ip.Less(last) {
			ip = first
		}
		if ip == start {
			break
		}
	}
	return netip.Addr{}, fmt.Errorf("overlay: subnet %s is full (%d instances)", subnet, len(a.Addrs))
}

func (a *ipam) release(id string) error {
	if _, ok := a.Addrs[id]; !ok {
		return nil
	}
	delete(a.Addrs, id)
	return a.save()
}

// live is every allocated address, sorted.
func (a *ipam) live() []netip.Addr {
	var out []netip.Addr
	for _, s := range a.Addrs {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

func (a *ipam) save() error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(a.path, b, 0o600)
}

// wgKey is a WireGuard key pair.
type wgKey struct {
	private [32]byte
	public  [32]byte
}

// loadKey reads the worker's WireGuard private key from path, making one
// (mode 0600) the first time.
func loadKey(path string) (*wgKey, error) {
	k := &wgKey{}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		raw, err := base64.StdEncoding.DecodeString(string(trimSpace(b)))
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("overlay: %s is not a base64 WireGuard key", path)
		}
		copy(k.private[:], raw)
	case errors.Is(err, os.ErrNotExist):
		if _, err := rand.Read(k.private[:]); err != nil {
			return nil, err
		}
		k.private[0] &= 248
		k.private[31] = (k.private[31] & 127) | 64
		if err := writeFileAtomic(path, []byte(base64.StdEncoding.EncodeToString(k.private[:])+"\n"), 0o600); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("overlay: read key: %w", err)
	}
	pub, err := curve25519.X25519(k.private[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("overlay: key: %w", err)
	}
	copy(k.public[:], pub)
	return k, nil
}

func (k *wgKey) publicBase64() string { return base64.StdEncoding.EncodeToString(k.public[:]) }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
