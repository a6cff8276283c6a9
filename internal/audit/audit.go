package audit

import (
	"errors"
	"fmt"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/store"
)

// Buckets of the audit log in the store.
const (
	bucketEntries = "audit"
	bucketMeta    = "audit_meta"
	keyLast       = "last"
)

// DefaultKeep is how many entries a Log keeps by default; older ones are
// trimmed as new ones arrive.
const DefaultKeep = 100_000

// Page sizes of List.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ErrInvalid: a query or entry is malformed; the message names the field.
var ErrInvalid = errors.New("invalid")

// Entry is one change made through the API; the type is the API's, so the
// log is served as stored.
type Entry = api.AuditEntry

// Log is an append-only, bounded audit log in a store.Store. Safe for
// concurrent use (the store serialises writers).
type Log struct {
	st   store.Store
	keep uint64
}

// New returns the log kept in st, holding at most keep entries (DefaultKeep
// when keep <= 0).
func New(st store.Store, keep int) *Log {
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &Log{st: st, keep: uint64(keep)}
}

func key(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// Append stores e under the next sequence number (which it sets), and
// drops the entry that falls out of the last keep, in one transaction.
func (l *Log) Append(e Entry) (Entry, error) {
	err := l.st.Update(func(tx store.Tx) error {
		seq, err := tx.NextSequence(bucketEntries)
		if err != nil {
			return err
		}
		e.Seq = seq
		if err := tx.Put(bucketEntries, key(seq), e); err != nil {
			return err
		}
		if seq > l.keep {
			if err := tx.Delete(bucketEntries, key(seq-l.keep)); err != nil {
				return err
			}
		}
		return tx.Put(bucketMeta, keyLast, seq)
	})
	if err != nil {
		return Entry{}, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// Query selects a page of entries, newest first.
type Query struct {
	// User keeps only this user's entries when set.
	User string
	// Before keeps only entries with Seq < Before when non-zero: pass the
	// previous page's Next to get the following page.
	Before uint64
	// Limit is the page size, DefaultLimit when 0, at most MaxLimit.
	Limit int
}

// Page is a page of entries, newest first (see api.AuditPage).
type Page = api.AuditPage

// List returns the page q selects.
func (l *Log) List(q Query) (Page, error) {
	switch {
	case q.Limit < 0 || q.Limit > MaxLimit:
		return Page{}, fmt.Errorf("list audit entries: limit %d: want 0 to %d: %w", q.Limit, MaxLimit, ErrInvalid)
	case q.Limit == 0:
		q.Limit = DefaultLimit
	}
	page := Page{Entries: []Entry{}}
	err := l.st.View(func(tx store.Tx) error {
		last, err := store.Get[uint64](tx, bucketMeta, keyLast)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		from := last
		if q.Before != 0 && q.Before-1 < from {
			from = q.Before - 1
		}
		oldest := uint64(1)
		if last > l.keep {
			oldest = last - l.keep + 1
		}
		for seq := from; seq >= oldest && seq > 0; seq-- {
			if len(page.Entries) == q.Limit {
				page.Next = seq + 1
				return nil
			}
			e, err := store.Get[Entry](tx, bucketEntries, key(seq))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if q.User == "" || e.User == q.User {
				page.Entries = append(page.Entries, e)
			}
		}
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("list audit entries: %w", err)
	}
	return page, nil
}
