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

	"golang.org/x/sys/unix"

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
// found when none is given. Close the plane when the worker ends; that
// also lets another worker in this network namespace take it.
func newOverlay(cfg OverlayConfig, dir, cluster string, log *slog.Logger) (*overlayPlane, error) {
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
	// One instance network per network namespace: a second worker on the
	// same host would rewrite the first one's bridge, tunnel and table.
	unlock, err := lockNetNS(dir)
	if err != nil {
		if cfg.Mode == "" {
			log.Info("instance network off: another worker runs it in this network namespace (--overlay on to insist)", "error", err)
			return nil, nil
		}
		return nil, fmt.Errorf("--overlay on: %w", err)
	}
	upstream := cluster
	if u, err := url.Parse(cluster); err == nil && u.Host != "" {
		upstream = u.Hostname()
	}
	p, err := overlay.New(overlay.Config{DataDir: dir, TunnelPort: cfg.TunnelPort, TunnelAddr: cfg.TunnelAddr,
		Upstream: upstream, Logger: log.With("part", "overlay")})
	if err != nil {
		unlock()
		if cfg.Mode == "" && cfg.TunnelAddr == "" {
			// Asked for nothing: run without rather than not at all.
			log.Warn("instance network off: no tunnel address (give --tunnel-addr)", "error", err)
			return nil, nil
		}
		return nil, fmt.Errorf("instance network (--overlay, --tunnel-port, --tunnel-addr): %w", err)
	}
	return &overlayPlane{Plane: p, unlock: unlock}, nil
}

// overlayPlane is the worker's Plane holding its namespace's lock.
type overlayPlane struct {
	*overlay.Plane
	unlock func()
}

// Close closes the plane and releases the lock.
func (p *overlayPlane) Close() error {
	err := p.Plane.Close()
	p.unlock()
	return err
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

// lockNetNS takes this network namespace's instance network for the
// process until it exits (the lock is released with the process). The
// lock file is named after the namespace's inode, so workers in other
// namespaces of one host (each its own machine) do not contend.
func lockNetNS(dir string) (unlock func(), err error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	lockDir := "/run/hedge"
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		lockDir = dir // no /run: one per data dir is the best left
	}
	path := filepath.Join(lockDir, fmt.Sprintf("overlay-netns-%d.lock", st.Ino))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is held by another worker: %w", path, errdefs.ErrConflict)
	}
	return func() { f.Close() }, nil
}
