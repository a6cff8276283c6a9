package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultLockTimeout is how long OpenBolt waits for the file lock before it
// gives up: long enough to ride out a restart, short enough that a second
// hedge on the same data directory fails at once instead of hanging.
const DefaultLockTimeout = 2 * time.Second

type boltConfig struct {
	noSync      bool
	lockTimeout time.Duration
}

// BoltOption changes how OpenBolt opens the file.
type BoltOption func(*boltConfig)

// WithNoSync skips fsync after each commit. A crash may then lose recent
// commits, so it is only for benchmarks and throwaway stores.
func WithNoSync() BoltOption {
	return func(c *boltConfig) { c.noSync = true }
}

// WithLockTimeout replaces DefaultLockTimeout.
func WithLockTimeout(d time.Duration) BoltOption {
	return func(c *boltConfig) { c.lockTimeout = d }
}

type boltStore struct {
	db *bolt.DB
}

var _ Store = (*boltStore)(nil)

// OpenBolt opens (or creates) the bbolt file at path. The parent directory is
// created with mode 0700 and the file with 0600, because the store holds
// password hashes and signing secrets. If another process holds the file,
// OpenBolt fails after the lock timeout with an error wrapping ErrLocked.
func OpenBolt(path string, opts ...BoltOption) (Store, error) {
	cfg := boltConfig{lockTimeout: DefaultLockTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.lockTimeout, NoSync: cfg.noSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open state store %s: still locked after %s, is another hedge using the same data directory? %w",
			path, cfg.lockTimeout, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	return &boltStore{db: db}, nil
}

func (s *boltStore) View(fn func(tx Tx) error) error {
	return closedErr("view", s.db.View(func(btx *bolt.Tx) error {
		tx := &boltTx{tx: btx}
		defer func() { tx.closed = true }()
		return fn(tx)
	}))
}

func (s *boltStore) Update(fn func(tx Tx) error) error {
	return closedErr("update", s.db.Update(func(btx *bolt.Tx) error {
		tx := &boltTx{tx: btx}
		defer func() { tx.closed = true }()
		return fn(tx)
	}))
}

// batchDelay bounds how long a Batch waits for other writers to join it: a
// worker starting many instances at once shares one sync among them, a lone
// writer waits only this long.
const batchDelay = 2 * time.Millisecond

// Batch implements Batcher: concurrent calls share one commit and one sync.
func (s *boltStore) Batch(fn func(tx Tx) error) error {
	return closedErr("batch", s.db.Batch(func(btx *bolt.Tx) error {
		tx := &boltTx{tx: btx}
		defer func() { tx.closed = true }()
		return fn(tx)
	}))
}

var _ Batcher = (*boltStore)(nil)

// closedErr turns bbolt's "database not open" into ErrClosed, as NewMemory
// reports it.
func closedErr(op string, err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return err
}

func (s *boltStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state store: %w", err)
	}
	return nil
}

// boltTx guards the bolt transaction against use after it ended, which bbolt
// itself does not check on every path.
type boltTx struct {
	tx     *bolt.Tx
	closed bool
}

func (t *boltTx) usable(op string, write bool) error {
	switch {
	case t.closed:
		return fmt.Errorf("%s: %w", op, ErrTxClosed)
	case write && !t.tx.Writable():
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	return nil
}

func (t *boltTx) Get(bucket, key string, v any) error {
	if err := t.usable("get", false); err != nil {
		return err
	}
	if err := checkNames("get", bucket, key); err != nil {
		return err
	}
	b := t.tx.Bucket([]byte(bucket))
	if b == nil {
		return notFound(bucket, key)
	}
	raw := b.Get([]byte(key))
	if raw == nil {
		return notFound(bucket, key)
	}
	return decode(bucket, key, raw, v)
}

func (t *boltTx) Put(bucket, key string, v any) error {
	if err := t.usable("put", true); err != nil {
		return err
	}
	if err := checkNames("put", bucket, key); err != nil {
		return err
	}
	raw, err := encode(bucket, key, v)
	if err != nil {
		return err
	}
	b, err := t.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	if err := b.Put([]byte(key), raw); err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return nil
}

func (t *boltTx) Delete(bucket, key string) error {
	if err := t.usable("delete", true); err != nil {
		return err
	}
	if err := checkNames("delete", bucket, key); err != nil {
		return err
	}
	b := t.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	if err := b.Delete([]byte(key)); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

func (t *boltTx) List(bucket string, fn func(key string, raw []byte) error) error {
	if err := t.usable("list", false); err != nil {
		return err
	}
	if err := checkNames("list", bucket, "-"); err != nil {
		return err
	}
	b := t.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			continue // a nested bucket; Store never creates one
		}
		// bbolt's slices point into the memory map and die with the
		// transaction; copy so fn may keep raw.
		if err := fn(string(k), append([]byte(nil), v...)); err != nil {
			return err
		}
	}
	return nil
}

func (t *boltTx) NextSequence(bucket string) (uint64, error) {
	if err := t.usable("next sequence", true); err != nil {
		return 0, err
	}
	if err := checkNames("next sequence", bucket, "-"); err != nil {
		return 0, err
	}
	b, err := t.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return 0, fmt.Errorf("next sequence %s: %w", bucket, err)
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("next sequence %s: %w", bucket, err)
	}
	return n, nil
}

// buckets lists the buckets holding records or a sequence (rawTx).
func (t *boltTx) buckets() ([]string, error) {
	var out []string
	err := t.tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if k, _ := b.Cursor().First(); k != nil || b.Sequence() > 0 {
			out = append(out, string(name))
		}
		return nil
	})
	return out, err
}

func (t *boltTx) sequence(bucket string) (uint64, error) {
	if b := t.tx.Bucket([]byte(bucket)); b != nil {
		return b.Sequence(), nil
	}
	return 0, nil
}

func (t *boltTx) setSequence(bucket string, n uint64) error {
	b, err := t.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return fmt.Errorf("set sequence %s: %w", bucket, err)
	}
	return b.SetSequence(n)
}

func (t *boltTx) putRaw(bucket, key string, raw []byte) error {
	b, err := t.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return b.Put([]byte(key), raw)
}
