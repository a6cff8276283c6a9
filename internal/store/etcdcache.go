package store

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdCache is a read-only copy of an etcd store held in memory and kept
// current by an etcd watch: what a standby root replica serves reads from
// (docs/adr/015-root-on-etcd.md). It is a Store whose View reads the copy
// and whose Update refuses every write with ErrFenced (a replica that does
// not lead never changes the state); an Update that writes nothing runs.
type EtcdCache struct {
	s   *etcdStore
	log *slog.Logger
	mem atomic.Pointer[memStore]
	// rev is the etcd revision the copy has caught up with.
	rev     atomic.Int64
	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever rev moves
	cancel  context.CancelFunc
	done    chan struct{}
}

var _ Store = (*EtcdCache)(nil)

// WatchEtcd loads a copy of st (a store opened by OpenEtcd) and keeps it
// current until ctx ends or Close is called. It fails when st is not on
// etcd or cannot be read.
func WatchEtcd(ctx context.Context, st Store, log *slog.Logger) (*EtcdCache, error) {
	s, ok := st.(*etcdStore)
	if !ok {
		return nil, fmt.Errorf("watch: %T is not an etcd store", st)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &EtcdCache{s: s, log: log, changed: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	if err := c.load(ctx); err != nil {
		cancel()
		return nil, err
	}
	go c.run(ctx)
	return c, nil
}

// load replaces the copy with everything under the prefix now.
func (c *EtcdCache) load(ctx context.Context) error {
	gctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	resp, err := c.s.cli.Get(gctx, c.s.prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("watch: load %s: %w", c.s.prefix, err)
	}
	mem := &memStore{buckets: map[string]*memBucket{}}
	err = mem.Update(func(tx Tx) error {
		for _, kv := range resp.Kvs {
			if err := c.apply(tx.(*memTx), string(kv.Key), kv.Value, false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("watch: load %s: %w", c.s.prefix, err)
	}
	c.mem.Store(mem)
	c.advance(resp.Header.Revision)
	return nil
}

// run follows the watch from the loaded revision on; when the watch breaks
// (etcd compacted the revisions it needed, or the connection was lost for
// long), it loads the whole copy again.
func (c *EtcdCache) run(ctx context.Context) {
	defer close(c.done)
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := c.s.cli.Watch(wctx, c.s.prefix, clientv3.WithPrefix(), clientv3.WithRev(c.rev.Load()+1), clientv3.WithProgressNotify())
		for resp := range ch {
			if err := resp.Err(); err != nil {
				c.log.Warn("store cache: watch broke; loading again", "err", err)
				break
			}
			if err := c.applyEvents(resp.Events); err != nil {
				c.log.Error("store cache: apply a change; loading again", "err", err)
				break
			}
			c.advance(resp.Header.Revision)
		}
		cancel()
		for ctx.Err() == nil {
			if err := c.load(ctx); err == nil {
				break
			} else {
				c.log.Warn("store cache: load", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

func (c *EtcdCache) applyEvents(evs []*clientv3.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return c.mem.Load().Update(func(tx Tx) error {
		for _, ev := range evs {
			if err := c.apply(tx.(*memTx), string(ev.Kv.Key), ev.Kv.Value, ev.Type == clientv3.EventTypeDelete); err != nil {
				return err
			}
		}
		return nil
	})
}

// apply writes one etcd key (see the layout in etcd.go) into the copy.
func (c *EtcdCache) apply(tx *memTx, key string, val []byte, deleted bool) error {
	rest, ok := strings.CutPrefix(key, c.s.prefix)
	if !ok {
		return nil
	}
	switch {
	case strings.HasPrefix(rest, etcdRecord):
		bucket, k, ok := strings.Cut(strings.TrimPrefix(rest, etcdRecord), "\x00")
		if !ok {
			return nil
		}
		if deleted {
			return tx.Delete(bucket, k)
		}
		return tx.putRaw(bucket, k, append([]byte(nil), val...))
	case strings.HasPrefix(rest, etcdSeq):
		bucket := strings.TrimPrefix(rest, etcdSeq)
		var n uint64
		if !deleted {
			var err error
			if n, err = strconv.ParseUint(string(val), 10, 64); err != nil {
				return fmt.Errorf("sequence %s: %q: %w", bucket, val, err)
			}
		}
		return tx.setSequence(bucket, n)
	}
	return nil // generations and the election are not records
}

func (c *EtcdCache) advance(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev <= c.rev.Load() {
		return
	}
	c.rev.Store(rev)
	close(c.changed)
	c.changed = make(chan struct{})
}

// Revision is the etcd revision the copy has caught up with; it grows with
// every change applied.
func (c *EtcdCache) Revision() int64 { return c.rev.Load() }

// Sync waits until the copy holds every change etcd had committed when Sync
// was called: a read after Sync sees the writes that were answered before
// it, wherever they were made.
func (c *EtcdCache) Sync(ctx context.Context) error {
	gctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	resp, err := c.s.cli.Get(gctx, c.s.prefix+etcdGen, clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	for {
		c.mu.Lock()
		ch, rev := c.changed, c.rev.Load()
		c.mu.Unlock()
		if rev >= resp.Header.Revision {
			return nil
		}
		select {
		case <-ch:
		case <-gctx.Done():
			return fmt.Errorf("sync: at revision %d, want %d: %w", rev, resp.Header.Revision, gctx.Err())
		}
	}
}

// View reads the copy.
func (c *EtcdCache) View(fn func(tx Tx) error) error {
	return c.mem.Load().View(fn)
}

// Update runs fn on the copy, refusing its writes with ErrFenced.
func (c *EtcdCache) Update(fn func(tx Tx) error) error {
	return c.mem.Load().View(func(tx Tx) error { return fn(fencedTx{tx}) })
}

// Close stops the watch.
func (c *EtcdCache) Close() error {
	c.cancel()
	<-c.done
	return nil
}

// fencedTx is a read transaction on the copy whose writes fail.
type fencedTx struct{ Tx }

var errStandby = fmt.Errorf("this replica does not lead: %w", ErrFenced)

func (fencedTx) Put(bucket, key string, _ any) error {
	return fmt.Errorf("put %s/%s: %w", bucket, key, errStandby)
}

func (fencedTx) Delete(bucket, key string) error {
	return fmt.Errorf("delete %s/%s: %w", bucket, key, errStandby)
}

func (fencedTx) NextSequence(bucket string) (uint64, error) {
	return 0, fmt.Errorf("next sequence %s: %w", bucket, errStandby)
}
