package store

import (
	"fmt"
	"slices"
	"sync"
)

// memStore keeps records in maps. Update writes in place and keeps an undo
// log, so a failed (or panicking) transaction is rolled back without copying
// the whole state on every write.
type memStore struct {
	mu      sync.RWMutex
	buckets map[string]*memBucket
	closed  bool
}

type memBucket struct {
	records map[string][]byte
	seq     uint64
}

var _ Store = (*memStore)(nil)

// NewMemory returns an empty in-memory Store with the same semantics as
// OpenBolt (errors, key order, rollback, read-only View), for unit tests of
// other packages. Nothing survives the process.
func NewMemory() Store {
	return &memStore{buckets: map[string]*memBucket{}}
}

func (s *memStore) View(fn func(tx Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("view: %w", ErrClosed)
	}
	tx := &memTx{s: s}
	defer func() { tx.closed = true }()
	return fn(tx)
}

func (s *memStore) Update(fn func(tx Tx) error) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("update: %w", ErrClosed)
	}
	tx := &memTx{s: s, writable: true}
	committed := false
	defer func() {
		tx.closed = true
		if !committed {
			tx.rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	return nil
}

func (s *memStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// undo restores one record (or a bucket's sequence) to what it was before the
// transaction touched it.
type undo func()

type memTx struct {
	s        *memStore
	writable bool
	closed   bool
	undos    []undo
}

func (t *memTx) rollback() {
	for i := len(t.undos) - 1; i >= 0; i-- {
		t.undos[i]()
	}
	t.undos = nil
}

func (t *memTx) usable(op string, write bool) error {
	switch {
	case t.closed:
		return fmt.Errorf("%s: %w", op, ErrTxClosed)
	case write && !t.writable:
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	return nil
}

// bucket returns the named bucket, creating it (with an undo entry) when
// create is set.
func (t *memTx) bucket(name string, create bool) *memBucket {
	b := t.s.buckets[name]
	if b == nil && create {
		b = &memBucket{records: map[string][]byte{}}
		t.s.buckets[name] = b
		t.undos = append(t.undos, func() { delete(t.s.buckets, name) })
	}
	return b
}

func (t *memTx) Get(bucket, key string, v any) error {
	if err := t.usable("get", false); err != nil {
		return err
	}
	if err := checkNames("get", bucket, key); err != nil {
		return err
	}
	b := t.bucket(bucket, false)
	if b == nil {
		return notFound(bucket, key)
	}
	raw, ok := b.records[key]
	if !ok {
		return notFound(bucket, key)
	}
	return decode(bucket, key, raw, v)
}

func (t *memTx) Put(bucket, key string, v any) error {
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
	b := t.bucket(bucket, true)
	t.remember(b, key)
	b.records[key] = raw
	return nil
}

func (t *memTx) Delete(bucket, key string) error {
	if err := t.usable("delete", true); err != nil {
		return err
	}
	if err := checkNames("delete", bucket, key); err != nil {
		return err
	}
	b := t.bucket(bucket, false)
	if b == nil {
		return nil
	}
	if _, ok := b.records[key]; !ok {
		return nil
	}
	t.remember(b, key)
	delete(b.records, key)
	return nil
}

// remember records how to restore b's key to its current value or absence.
func (t *memTx) remember(b *memBucket, key string) {
	old, existed := b.records[key]
	t.undos = append(t.undos, func() {
		if existed {
			b.records[key] = old
		} else {
			delete(b.records, key)
		}
	})
}

func (t *memTx) List(bucket string, fn func(key string, raw []byte) error) error {
	if err := t.usable("list", false); err != nil {
		return err
	}
	if err := checkNames("list", bucket, "-"); err != nil {
		return err
	}
	b := t.bucket(bucket, false)
	if b == nil {
		return nil
	}
	keys := make([]string, 0, len(b.records))
	for k := range b.records {
		keys = append(keys, k)
	}
	slices.Sort(keys) // byte order, as bbolt
	for _, k := range keys {
		raw, ok := b.records[k]
		if !ok {
			continue
		}
		if err := fn(k, slices.Clone(raw)); err != nil {
			return err
		}
	}
	return nil
}

func (t *memTx) NextSequence(bucket string) (uint64, error) {
	if err := t.usable("next sequence", true); err != nil {
		return 0, err
	}
	if err := checkNames("next sequence", bucket, "-"); err != nil {
		return 0, err
	}
	b := t.bucket(bucket, true)
	old := b.seq
	t.undos = append(t.undos, func() { b.seq = old })
	b.seq++
	return b.seq, nil
}

// buckets lists the buckets holding records or a sequence (rawTx).
func (t *memTx) buckets() ([]string, error) {
	var out []string
	for name, b := range t.s.buckets {
		if len(b.records) > 0 || b.seq > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (t *memTx) sequence(bucket string) (uint64, error) {
	if b := t.bucket(bucket, false); b != nil {
		return b.seq, nil
	}
	return 0, nil
}

func (t *memTx) setSequence(bucket string, n uint64) error {
	b := t.bucket(bucket, true)
	old := b.seq
	t.undos = append(t.undos, func() { b.seq = old })
	b.seq = n
	return nil
}

func (t *memTx) putRaw(bucket, key string, raw []byte) error {
	b := t.bucket(bucket, true)
	t.remember(b, key)
	b.records[key] = slices.Clone(raw)
	return nil
}
