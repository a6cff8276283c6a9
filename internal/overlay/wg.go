package overlay

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// wireGuard is the encrypted tunnel: wireguard-go on the TUN device hedgewg,
// listening on the worker's tunnel port. The peers' public keys come in the
// map, which reaches the worker over its mutual-TLS tier link, so a peer is
// who the tier credentials say it is.
type wireGuard struct {
	dev  *device.Device
	link netlink.Link
	// peers is the configuration last written, to skip unchanged ones.
	peers string
}

func startWireGuard(key *wgKey, port, mtu int, log *slog.Logger) (*wireGuard, error) {
	td, err := tun.CreateTUN(WGName, mtu)
	if err != nil {
		return nil, fmt.Errorf("overlay: create %s: %w", WGName, err)
	}
	wl := &device.Logger{
		Verbosef: func(string, ...any) {},
		Errorf: func(f string, a ...any) {
			log.Warn("wireguard", "error", fmt.Sprintf(f, a...))
		},
	}
	dev := device.NewDevice(td, conn.NewDefaultBind(), wl)
	cfg := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", hex.EncodeToString(key.private[:]), port)
	if err := dev.IpcSet(cfg); err != nil {
		dev.Close()
		return nil, fmt.Errorf("overlay: configure %s: %w", WGName, err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("overlay: %s up: %w", WGName, err)
	}
	l, err := netlink.LinkByName(WGName)
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("overlay: find %s: %w", WGName, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		dev.Close()
		return nil, fmt.Errorf("overlay: %s up: %w", WGName, err)
	}
	return &wireGuard{dev: dev, link: l}, nil
}

// sync makes the device's peers those of p.
func (w *wireGuard) sync(p *program) error {
	if err := setOnlyAddr(w.link, netip.PrefixFrom(vtepAddr(p.Subnet), 32)); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("replace_peers=true\n")
	for _, pr := range p.Peers {
		pub, err := base64.StdEncoding.DecodeString(pr.PublicKey)
		if err != nil || len(pub) != 32 {
			continue // a worker without a key cannot be reached encrypted
		}
		fmt.Fprintf(&b, "public_key=%s\nendpoint=%s\nreplace_allowed_ips=true\nallowed_ip=%s\n",
			hex.EncodeToString(pub), pr.Endpoint, pr.Subnet)
	}
	if cfg := b.String(); cfg != w.peers {
		if err := w.dev.IpcSet(cfg); err != nil {
			return fmt.Errorf("overlay: %s peers: %w", WGName, err)
		}
		w.peers = cfg
	}
	return syncRoutes(w.link.Attrs().Index, p, false)
}

// close stops the device; the kernel removes the TUN device with it.
func (w *wireGuard) close() { w.dev.Close() }
