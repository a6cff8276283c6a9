package link

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hedgeorch/hedge/internal/netmap"
)

// This file carries the instance network's map down the tiers
// (GET /link/v1/netmap), long-polled by revision as assignments are.

// NetMapper is implemented by an Upper that serves the instance network's
// map (the root to its clusters, a cluster to its workers). Without it,
// /link/v1/netmap answers 404.
type NetMapper interface {
	// NetMap returns the map as peerID sees it (Self filled) and a channel
	// closed when it next changes.
	NetMap(peerID string) (*netmap.Map, <-chan struct{})
}

// NetPeer is implemented by a Peer that follows the instance network's
// map: Run long-polls it next to the assignments, when FollowsNetMap says
// so, and gives every new revision to ApplyNetMap.
type NetPeer interface {
	// FollowsNetMap reports whether the peer takes part in the instance
	// network at all; if not, the map is not polled.
	FollowsNetMap() bool
	// ApplyNetMap takes a new revision of the map; an error has it given
	// again after a backoff.
	ApplyNetMap(ctx context.Context, m *netmap.Map) error
}

func (s *Server) netmap(w http.ResponseWriter, r *http.Request, peer string) {
	nm, ok := s.up.(NetMapper)
	if !ok {
		s.writeErr(w, fmt.Errorf("%w: this tier does not serve the instance network's map", ErrNotFound))
		return
	}
	have, _ := strconv.ParseUint(r.URL.Query().Get("revision"), 10, 64)
	longPoll(w, r, have, func() (any, uint64, <-chan struct{}) {
		m, changed := nm.NetMap(peer)
		return m, m.Revision, changed
	})
}

// NetMap long-polls for a map whose revision differs from have, waiting at
// most wait.
func (c *Client) NetMap(ctx context.Context, have uint64, wait time.Duration) (*netmap.Map, error) {
	var m netmap.Map
	q := url.Values{"revision": {fmt.Sprint(have)}, "wait": {wait.String()}}
	err := c.do(ctx, http.MethodGet, "/link/v1/netmap?"+q.Encode(), nil, &m)
	return &m, err
}

// notServedWait is how long a peer waits before asking again an upper tier
// that does not serve the map (404: an older release).
const notServedWait = time.Minute

func watchNetMap(ctx context.Context, c *Client, p NetPeer, o RunOptions) {
	var rev uint64
	var b backoff
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, o.PollWait+10*time.Second)
		m, err := c.NetMap(pctx, rev, o.PollWait)
		cancel()
		if errors.Is(err, ErrNotFound) {
			o.Logger.Warn("link: the upper tier does not serve the instance network's map; asking again later", "retry_in", notServedWait)
			sleep(ctx, notServedWait)
			continue
		}
		if err != nil {
			logLinkErr(ctx, o.Logger, "watch netmap", err)
			b.wait(ctx)
			continue
		}
		b.reset()
		if m.Revision == rev {
			continue
		}
		if err := p.ApplyNetMap(ctx, m); err != nil {
			o.Logger.Error("link: apply the instance network's map", "revision", m.Revision, "err", err)
			b.wait(ctx)
			continue
		}
		rev = m.Revision
	}
}
