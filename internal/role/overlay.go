package role

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/overlay"
)

// OverlayConfig is the worker's side of the instance network
// (docs/adr/016-service-networking.md).
type OverlayConfig struct {
	// Mode is on, off, or "" for on when the process may administer the
	// network (root or CAP_NET_ADMIN).
	Mode string
	// TunnelPort is the UDP port of the worker's tunnel end (4789 if 0).
	TunnelPort int
	// TunnelAddr is the underlay address peers reach the tunnel at
	// (default: the address this host uses toward its cluster).
	TunnelAddr string
}

// newOverlay builds the worker's Plane, or returns nil when the overlay is
// off. cluster is the cluster's URL, toward which the tunnel address is
// found when none is given.
func newOverlay(cfg OverlayConfig, dir, cluster string, log *slog.Logger) (*overlay.Plane, error) {
	switch cfg.Mode {
	case "off":
		return nil, nil
	case "":
		if !canAdministerNetwork() {
			log.Info("instance network off: the worker is neither root nor holds CAP_NET_ADMIN (--overlay on to insist)")
			return nil, nil
		}
	case "on":
	default:
		return nil, fmt.Errorf("--overlay %q: want on or off: %w", cfg.Mode, errdefs.ErrInvalid)
	}
	upstream := cluster
	if u, err := url.Parse(cluster); err == nil && u.Host != "" {
		upstream = u.Hostname()
	}
	p, err := overlay.New(overlay.Config{DataDir: dir, TunnelPort: cfg.TunnelPort, TunnelAddr: cfg.TunnelAddr,
		Upstream: upstream, Logger: log.With("part", "overlay")})
	if err != nil {
		if cfg.Mode == "" && cfg.TunnelAddr == "" {
			// Asked for nothing: run without rather than not at all.
			log.Warn("instance network off: no tunnel address (give --tunnel-addr)", "error", err)
			return nil, nil
		}
		return nil, fmt.Errorf("instance network (--overlay, --tunnel-port, --tunnel-addr): %w", err)
	}
	return p, nil
}

// canAdministerNetwork reports whether this process holds CAP_NET_ADMIN.
func canAdministerNetwork() bool {
	f, err := os.Open(filepath.Join("/proc", "self", "status"))
	if err != nil {
		return os.Geteuid() == 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<12) != 0
		}
	}
	return os.Geteuid() == 0
}
