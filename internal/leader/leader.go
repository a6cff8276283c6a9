// Package leader elects one root among replicas that share an etcd store.
// The winner holds an etcd lease; the store is fenced with the election key,
// so that once the lease is gone (the process died, hung, or lost etcd) its
// writes fail, and the replicas waiting in Campaign take over. A root on
// bbolt has no replicas and needs none of this.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/hedgeorch/hedge/internal/store"
)

// DefaultTTL is the lease of a leader: how long the replicas wait after a
// leader stops renewing it (it died, or lost etcd) before one takes over.
const DefaultTTL = 5 * time.Second

// Lease is a leadership held.
type Lease struct {
	sess *concurrency.Session
	el   *concurrency.Election
}

// Campaign blocks until this process leads the replicas sharing st (an etcd
// store), then fences st with the leadership. id names this replica to the
// others: the URL of its API, where standbys forward writes. It returns at once for stores other than etcd, with
// a nil Lease: there is nothing to share.
func Campaign(ctx context.Context, st store.Store, prefix, id string, ttl time.Duration, log *slog.Logger) (*Lease, error) {
	cli := store.EtcdClient(st)
	if cli == nil {
		return nil, nil
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	for {
		l, err := campaign(ctx, st, cli, prefix, id, ttl, log)
		if !errors.Is(err, errLapsed) {
			return l, err
		}
		// etcd did not answer the lease's keep-alives for its TTL (an
		// election of etcd's own, a partition): this standby's candidacy
		// is gone, but it had not acted. It stands again, with a new
		// lease, instead of winning with a dead one and stopping at once.
		log.Warn("leader: the lease lapsed while standing by; campaigning again with a new one")
	}
}

// errLapsed: the session ended while campaigning.
var errLapsed = errors.New("leader: the lease lapsed while campaigning")

// campaign is one candidacy, on one session: it returns errLapsed when the
// session ends before the leadership is won and fenced.
func campaign(ctx context.Context, st store.Store, cli *clientv3.Client, prefix, id string, ttl time.Duration, log *slog.Logger) (*Lease, error) {
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(int(ttl.Round(time.Second)/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("leader: lease: %w", err)
	}
	el := concurrency.NewElection(sess, electionPrefix(prefix))
	if cur, err := el.Leader(ctx); err == nil {
		log.Info("leader: standing by", "leader", string(cur.Kvs[0].Value))
	} else if !errors.Is(err, concurrency.ErrElectionNoLeader) {
		log.Warn("leader: cannot read the current leader", "err", err)
	}
	cctx, stop := context.WithCancel(ctx)
	go func() {
		select {
		case <-sess.Done():
			stop()
		case <-cctx.Done():
		}
	}()
	err = el.Campaign(cctx, id)
	stop()
	lapsed := func() bool {
		select {
		case <-sess.Done():
			return ctx.Err() == nil
		default:
			return false
		}
	}
	if err != nil {
		_ = sess.Close()
		if lapsed() {
			return nil, errLapsed
		}
		return nil, fmt.Errorf("leader: campaign: %w", err)
	}
	if lapsed() {
		rctx, cancel := context.WithTimeout(context.Background(), ttl)
		_ = el.Resign(rctx)
		cancel()
		_ = sess.Close()
		return nil, errLapsed
	}
	if err := store.FenceEtcd(st, el.Key(), el.Rev()); err != nil {
		_ = el.Resign(context.Background())
		_ = sess.Close()
		return nil, err
	}
	log.Info("leader: leading", "id", id, "lease_ttl", ttl)
	return &Lease{sess: sess, el: el}, nil
}

// Done is closed when the leadership is lost (the lease expired or was
// revoked). The holder must stop acting at once; its writes already fail.
// A nil Lease is never lost.
func (l *Lease) Done() <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.sess.Done()
}

// Resign gives the leadership up so that another replica takes over at
// once instead of after the lease's TTL.
func (l *Lease) Resign() {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.el.Resign(ctx)
	_ = l.sess.Close()
}

// ErrNoLeader: no replica leads at the moment (the last one's lease ended
// and no other has taken over yet).
var ErrNoLeader = errors.New("no root replica leads at the moment")

// Current returns the id (the advertised API URL) the leading replica
// campaigned with, read from etcd, so that a standby can forward to it.
func Current(ctx context.Context, st store.Store, prefix string) (string, error) {
	cli := store.EtcdClient(st)
	if cli == nil {
		return "", fmt.Errorf("leader: %T is not an etcd store", st)
	}
	resp, err := cli.Get(ctx, electionPrefix(prefix)+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("leader: read the current leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", ErrNoLeader
	}
	return string(resp.Kvs[0].Value), nil
}

func electionPrefix(prefix string) string { return prefix + "leader" }
