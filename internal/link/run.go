package link

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Peer is implemented by a lower tier (a worker, a cluster) to take part in
// the link.
type Peer interface {
	// Apply takes a new desired set. It must persist it before returning so
	// that the peer keeps running it while the upper tier is away.
	Apply(ctx context.Context, a *Assignments) error
	// Snapshot returns the peer's whole current state to report, in a new
	// Report each time. Run keeps the instances of the last report the upper
	// tier acknowledged, to send only what changed since: the peer must not
	// modify them (nor what their pointers point to) afterwards.
	Snapshot(ctx context.Context) *Report
	// Changed is signalled when the state changed enough to report at once.
	Changed() <-chan struct{}
	// Handle answers a relayed request.
	Handle(ctx context.Context, r Request) Response
}

// Revoker is implemented by a Peer that must act when the upper tier no
// longer accepts its credential (it was deleted there, so its instances were
// moved away): it stops running what it was assigned. Run calls Revoked once
// per refusal, that is again only after the credential worked in between.
type Revoker interface {
	Revoked(ctx context.Context)
}

// RunOptions tunes Run.
type RunOptions struct {
	// ReportInterval is the heartbeat: the longest time between two reports.
	ReportInterval time.Duration
	// PollWait is how long one long-poll may wait.
	PollWait time.Duration
	// FullReportEvery is the longest time between two reports that carry
	// every instance (default 30 s), so that a peer and its upper tier that
	// disagree on the set heal. In between, a report whose instances did
	// not change carries only their digest (Report.Unchanged), and one
	// where fewer than half of them changed only those and the ids of the
	// ones gone (a delta: Report.Base, Report.Removed), to an upper tier
	// that takes deltas. Any report of more than PageSize entries goes in
	// pages (Report.Page).
	FullReportEvery time.Duration
	// NodesEvery is, for a cluster, the longest time between two reports
	// that carry its nodes in full (default 10 s, as a kubelet's node
	// status). In between, a report whose nodes changed in nothing but their
	// metrics and last-seen times carries only their NodesDigest
	// (ClusterReport.NodesUnchanged): the upper tier's view of the nodes'
	// metrics is then up to NodesEvery old, while a node's state, capacity,
	// labels, pressure or instance count reach it with the next report.
	NodesEvery time.Duration
	Logger     *slog.Logger
}

// Run keeps p linked to the upper tier through c until ctx ends: it long-polls
// assignments and relayed requests (and, for a NetPeer, the instance
// network's map) and reports state on change and on every heartbeat. Errors are logged and retried with backoff; Run never gives up,
// so a peer cut off from its upper tier reconnects when the link returns.
func Run(ctx context.Context, c *Client, p Peer, o RunOptions) {
	if o.ReportInterval <= 0 {
		o.ReportInterval = time.Second
	}
	if o.PollWait <= 0 {
		o.PollWait = 25 * time.Second
	}
	if o.FullReportEvery <= 0 {
		o.FullReportEvery = 30 * time.Second
	}
	if o.NodesEvery <= 0 {
		o.NodesEvery = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	if np, ok := p.(NetPeer); ok && np.FollowsNetMap() {
		wg.Add(1)
		go func() { defer wg.Done(); watchNetMap(ctx, c, np, o) }()
	}
	wg.Add(3)
	go func() { defer wg.Done(); watchAssignments(ctx, c, p, o) }()
	go func() { defer wg.Done(); serveRequests(ctx, c, p, o) }()
	go func() { defer wg.Done(); report(ctx, c, p, o) }()
	wg.Wait()
}

func watchAssignments(ctx context.Context, c *Client, p Peer, o RunOptions) {
	var rev uint64
	var b backoff
	revoked := false
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, o.PollWait+10*time.Second)
		a, err := c.Assignments(pctx, rev, o.PollWait)
		cancel()
		if err != nil {
			logLinkErr(ctx, o.Logger, "watch assignments", err)
			if rv, ok := p.(Revoker); ok && !revoked && errors.Is(err, ErrUnauthorized) && ctx.Err() == nil {
				o.Logger.Error("link: our credential was revoked (deleted by an operator?): stopping what we run; to join again, remove the identity file and start with a new join token")
				rv.Revoked(ctx)
				revoked = true
			}
			b.wait(ctx)
			continue
		}
		b.reset()
		revoked = false
		if a.Revision == rev {
			continue
		}
		if err := p.Apply(ctx, a); err != nil {
			o.Logger.Error("link: apply assignments", "err", err)
			b.wait(ctx)
			continue
		}
		rev = a.Revision
	}
}

func serveRequests(ctx context.Context, c *Client, p Peer, o RunOptions) {
	var b backoff
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, o.PollWait+10*time.Second)
		reqs, err := c.Requests(pctx, o.PollWait)
		cancel()
		if err != nil {
			logLinkErr(ctx, o.Logger, "watch requests", err)
			b.wait(ctx)
			continue
		}
		b.reset()
		for _, r := range reqs {
			go func() {
				hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				resp := p.Handle(hctx, r)
				resp.ID = r.ID
				if err := c.Respond(hctx, resp); err != nil {
					logLinkErr(ctx, o.Logger, "respond", err)
				}
			}()
		}
	}
}

// report sends the peer's state on every change and every ReportInterval
// (on the Beat, so that the tiers' heartbeats wake a machine together). The
// instances go in full after the upper tier refused what a report built on,
// and at least every FullReportEvery; in between, when they did not change,
// only their digest, and when some did, a delta against the set the upper
// tier acknowledged, if that is the smaller. Reports too large for one
// request go in pages (Client.reportAcks).
func report(ctx context.Context, c *Client, p Peer, o RunOptions) {
	beat := NewBeat(o.ReportInterval)
	defer beat.Stop()
	var b backoff
	var acked acks                // digests of what the upper tier acknowledged
	var ackedSet []InstanceStatus // the instances acknowledged under acked.instances, if known
	var fullAt, nodesAt time.Time
	for ctx.Err() == nil {
		rep := p.Snapshot(ctx)
		sortStatuses(rep.Instances)
		cur := rep.Instances
		d := Digest(cur)
		fullDue := time.Since(fullAt) >= o.FullReportEvery
		short, delta := false, false
		switch {
		case acked.instances == "" || fullDue:
		case d == acked.instances:
			short = true
			rep.Instances, rep.Unchanged = nil, d
		case ackedSet != nil && c.deltas.Load() > 0:
			changed, removed := diff(ackedSet, cur)
			if delta = 2*(len(changed)+len(removed)) < len(cur); delta {
				rep.Base, rep.Instances, rep.Removed = acked.instances, changed, removed
			}
		}
		shortNodes := false
		if cl := rep.Cluster; cl != nil && acked.nodes != "" && time.Since(nodesAt) < o.NodesEvery {
			if shortNodes = NodesDigest(cl.Nodes) == acked.nodes; shortNodes {
				cl.Nodes, cl.NodesUnchanged = nil, acked.nodes
			}
		}
		// 15 s for each request: a report in pages takes several.
		pages := 1 + (len(rep.Instances)+len(rep.Removed))/PageSize
		rctx, cancel := context.WithTimeout(ctx, time.Duration(pages)*15*time.Second)
		ack, err := c.reportAcks(rctx, rep)
		cancel()
		if errors.Is(err, ErrStale) {
			acked, ackedSet = acks{}, nil
			if !short && !delta && !shortNodes {
				// Even a full report was refused (its pages were cut
				// short, by a failover say): again, but not at once.
				logLinkErr(ctx, o.Logger, "report", err)
				b.wait(ctx)
			}
			continue
		}
		if err != nil {
			logLinkErr(ctx, o.Logger, "report", err)
			b.wait(ctx)
			continue
		}
		b.reset()
		if !short {
			acked.instances, ackedSet = ack.instances, nil
			if ack.instances == d {
				ackedSet = cur
			}
			if !delta {
				fullAt = time.Now()
			}
		}
		if !shortNodes {
			acked.nodes, nodesAt = ack.nodes, time.Now()
		}
		select {
		case <-ctx.Done():
		case <-beat.C:
			beat.Next()
		case <-p.Changed():
		}
	}
}

func logLinkErr(ctx context.Context, log *slog.Logger, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, ErrUnauthorized) {
		log.Error("link: upper tier refused our credential", "op", what, "err", err)
		return
	}
	log.Warn("link: upper tier unreachable", "op", what, "err", err)
}

// backoff waits 100 ms, doubling to at most 5 s, between failed attempts.
type backoff struct{ d time.Duration }

func (b *backoff) reset() { b.d = 0 }

func (b *backoff) wait(ctx context.Context) {
	if b.d == 0 {
		b.d = 100 * time.Millisecond
	} else {
		b.d = min(2*b.d, 5*time.Second)
	}
	sleep(ctx, b.d)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
