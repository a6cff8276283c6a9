package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

// Sentinel errors, checked with errors.Is. Implementations wrap them with the
// bucket and key involved.
var (
	// ErrNotFound: the bucket or the key does not exist.
	ErrNotFound = errdefs.New(errdefs.ErrNotFound, "not found")
	// ErrConflict: the key already exists (see Create).
	ErrConflict = errdefs.New(errdefs.ErrConflict, "conflict")
	// ErrReadOnly: a write was attempted inside View.
	ErrReadOnly = errors.New("read-only transaction")
	// ErrLocked: another process holds the store file.
	ErrLocked = errors.New("store locked by another process")
	// ErrTxClosed: the Tx was used after its View or Update returned.
	ErrTxClosed = errors.New("transaction closed")
	// ErrClosed: the Store was used after Close.
	ErrClosed = errors.New("store closed")
)

// errEmptyName is returned for an empty bucket or key, which bbolt cannot store.
var errEmptyName = errors.New("bucket and key must not be empty")

// Store is a keyed record store with buckets and JSON values, read and
// written in transactions. It is implemented by OpenBolt (durable, on disk)
// and NewMemory (tests). Transactions must not be nested: calling View or
// Update from inside fn may deadlock.
type Store interface {
	// View runs fn in a read-only transaction. Writes inside fn fail with
	// ErrReadOnly.
	View(fn func(tx Tx) error) error
	// Update runs fn in a read-write transaction. It is atomic: if fn returns
	// an error (or panics) nothing it wrote is kept, and the error is returned.
	Update(fn func(tx Tx) error) error
	// Close releases the store; for bbolt it releases the file lock.
	Close() error
}

// Batcher is implemented by stores that can commit several concurrent
// writers' transactions with one disk sync (bbolt's Batch). Callers find it
// by type assertion and fall back to Update. fn may run more than once (when
// another fn of its batch fails), so it must be idempotent.
type Batcher interface {
	Batch(fn func(tx Tx) error) error
}

// Batch runs fn through s's Batch when s has one, else through Update.
func Batch(s Store, fn func(tx Tx) error) error {
	if b, ok := s.(Batcher); ok {
		return b.Batch(fn)
	}
	return s.Update(fn)
}

// Tx is one transaction. It is only valid while the View or Update that
// created it runs.
type Tx interface {
	// Get JSON-decodes the value of bucket/key into v. A missing bucket or key
	// gives an error wrapping ErrNotFound that names both.
	Get(bucket, key string, v any) error
	// Put JSON-encodes v and stores it under bucket/key, creating the bucket on
	// first use.
	Put(bucket, key string, v any) error
	// Delete removes bucket/key; deleting something absent is not an error.
	Delete(bucket, key string) error
	// List calls fn for every record of bucket in key order; a missing bucket
	// has no records. raw is the record's JSON, owned by fn (it may be kept).
	// fn must not write to the bucket being listed. An error from fn stops the
	// listing and is returned as is.
	List(bucket string, fn func(key string, raw []byte) error) error
	// NextSequence returns the next value (1, 2, ...) of bucket's counter,
	// creating the bucket on first use. It is a write: in View it fails.
	NextSequence(bucket string) (uint64, error)
}

// Get reads bucket/key as a T. It saves callers a variable declaration.
func Get[T any](tx Tx, bucket, key string) (T, error) {
	var v T
	err := tx.Get(bucket, key, &v)
	return v, err
}

// ListAll decodes every record of bucket, in key order.
func ListAll[T any](tx Tx, bucket string) ([]T, error) {
	var out []T
	err := tx.List(bucket, func(key string, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decode %s/%s: %w", bucket, key, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// Create stores v under bucket/key only if the key is free; otherwise it
// returns an error wrapping ErrConflict. Use it for names that must be unique
// (users, clusters) so that two creations cannot silently overwrite each other.
func Create(tx Tx, bucket, key string, v any) error {
	var existing json.RawMessage
	err := tx.Get(bucket, key, &existing)
	switch {
	case err == nil:
		return fmt.Errorf("create %s/%s: %w", bucket, key, ErrConflict)
	case !errors.Is(err, ErrNotFound):
		return err
	}
	return tx.Put(bucket, key, v)
}

// checkNames rejects the names bbolt cannot store, with the same error in
// every implementation.
func checkNames(op, bucket, key string) error {
	if bucket == "" || key == "" {
		return fmt.Errorf("%s %q/%q: %w", op, bucket, key, errEmptyName)
	}
	return nil
}

func notFound(bucket, key string) error {
	return fmt.Errorf("get %s/%s: %w", bucket, key, ErrNotFound)
}

func decode(bucket, key string, raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return nil
}

func encode(bucket, key string, v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return raw, nil
}

// WritesPerTx bounds the records UpdateEach writes in one transaction. A
// tier that persists what one report or one desired set changed may have
// thousands of records at once, and etcd refuses a request over 1.5 MiB
// (--max-request-bytes): 4,000 instance records (about 350 bytes each) in
// one transaction were refused, and the store fell behind the tier's
// memory.
const WritesPerTx = 500

// UpdateEach runs write for every item, WritesPerTx items to a
// transaction, and returns the first error. Only for records that are
// independent of each other: a failure leaves the earlier transactions
// applied.
func UpdateEach[T any](st Store, items []T, write func(tx Tx, item T) error) error {
	for chunk := range slices.Chunk(items, WritesPerTx) {
		err := st.Update(func(tx Tx) error {
			for _, it := range chunk {
				if err := write(tx, it); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
