package worker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/runtime"
)

// This file is the worker's side of the instance network's control plane:
// it follows its cluster's map into cfg.Net, takes an address for every
// container and unikernel instance before it starts, and reports both.

// defaultAttachWait is how long a start waits for an address while the
// worker has no subnet yet (its cluster is handing one out), attachStep how
// often it asks meanwhile.
const (
	defaultAttachWait = 5 * time.Second
	attachStep        = 100 * time.Millisecond
)

var _ link.NetPeer = (*Worker)(nil)

// FollowsNetMap implements link.NetPeer: only a worker with an instance
// network polls the map.
func (w *Worker) FollowsNetMap() bool { return w.cfg.Net != nil }

// ApplyNetMap implements link.NetPeer: the new map goes to the instance
// network.
func (w *Worker) ApplyNetMap(ctx context.Context, m *netmap.Map) error {
	if w.cfg.Net == nil {
		return nil
	}
	if err := w.cfg.Net.Apply(ctx, m); err != nil {
		return fmt.Errorf("apply map revision %d: %w", m.Revision, err)
	}
	return nil
}

// onNetwork reports whether instances of virtualization take an address on
// the instance network (processes share the host's network).
func (w *Worker) onNetwork(virtualization string) bool {
	return w.cfg.Net != nil && (virtualization == api.VirtContainer || virtualization == api.VirtUnikernel)
}

// attach returns the instance's address on the instance network, waiting
// up to attachWait while the worker has no subnet yet.
func (w *Worker) attach(id string) (*runtime.Network, error) {
	deadline := time.Now().Add(w.attachWait)
	for {
		n, err := w.cfg.Net.Attach(id)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, errdefs.ErrUnavailable) || time.Now().After(deadline) {
			return nil, fmt.Errorf("no address on the instance network: %w", err)
		}
		t := time.NewTimer(attachStep)
		select {
		case <-w.ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("no address on the instance network: %w", w.ctx.Err())
		case <-t.C:
		}
	}
}

// portsOnUserNetwork reports whether s is a unikernel that publishes host
// ports: those work on QEMU's user network (hostfwd) and are refused on the
// instance network's TAP, so such a unikernel keeps the user network and
// takes no address (docs/networking.md).
func portsOnUserNetwork(s api.ServiceSpec) bool {
	return s.Virtualization == api.VirtUnikernel && s.Port != ""
}

// detach releases the address of an instance removed for good.
func (w *Worker) detach(id, virtualization string) {
	if w.onNetwork(virtualization) {
		w.cfg.Net.Detach(id)
	}
}

// ipOf is the address of n without its prefix length ("" for nil).
func ipOf(n *runtime.Network) string {
	if n == nil {
		return ""
	}
	if p, err := netip.ParsePrefix(n.Address); err == nil {
		return p.Addr().String()
	}
	return n.Address
}

// tunnel is the worker's tunnel end for its node report.
func (w *Worker) tunnel() *netmap.TunnelInfo {
	if w.cfg.Net == nil {
		return nil
	}
	return w.cfg.Net.Tunnel()
}
