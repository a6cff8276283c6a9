package audit

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

func openBolt(t *testing.T) store.Store {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"), store.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func appendN(t *testing.T, l *Log, n int, user func(i int) string) {
	t.Helper()
	for i := range n {
		if _, err := l.Append(Entry{Time: time.Unix(int64(i), 0).UTC(), User: user(i), Method: "POST", Path: fmt.Sprint("/api/x/", i), Status: 200, Remote: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
}

func seqs(es []Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func TestUnitAuditNewestFirstPagedAndFiltered(t *testing.T) {
	l := New(openBolt(t), 0)
	appendN(t, l, 7, func(i int) string { return []string{"ann", "bob"}[i%2] })
	tests := []struct {
		name     string
		q        Query
		want     []uint64
		wantNext uint64
	}{
		{"all", Query{}, []uint64{7, 6, 5, 4, 3, 2, 1}, 0},
		{"first page", Query{Limit: 3}, []uint64{7, 6, 5}, 5},
		{"next page", Query{Limit: 3, Before: 5}, []uint64{4, 3, 2}, 2},
		{"last page", Query{Limit: 3, Before: 2}, []uint64{1}, 0},
		{"one user", Query{User: "bob"}, []uint64{6, 4, 2}, 0},
		{"unknown user", Query{User: "eve"}, []uint64{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := l.List(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(p.Entries); fmt.Sprint(got) != fmt.Sprint(tt.want) || p.Next != tt.wantNext {
				t.Fatalf("List(%+v) = %v next %d, want %v next %d", tt.q, got, p.Next, tt.want, tt.wantNext)
			}
		})
	}
	if _, err := l.List(Query{Limit: MaxLimit + 1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("limit above the maximum: err = %v, want ErrInvalid", err)
	}
}

// TestUnitAuditBoundedAndMonotonic: the log keeps only the last keep
// entries, and sequence numbers keep rising when the store is reopened.
func TestUnitAuditBoundedAndMonotonic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := store.OpenBolt(path, store.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, New(st, 5), 12, func(int) string { return "ann" })
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = store.OpenBolt(path, store.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	l := New(st, 5)
	e, err := l.Append(Entry{User: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 13 {
		t.Fatalf("seq after reopening = %d, want 13", e.Seq)
	}
	stored := 0
	if err := st.View(func(tx store.Tx) error {
		return tx.List(bucketEntries, func(string, []byte) error { stored++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	p, err := l.List(Query{})
	if err != nil {
		t.Fatal(err)
	}
	if stored != 5 || fmt.Sprint(seqs(p.Entries)) != "[13 12 11 10 9]" {
		t.Fatalf("stored %d entries, listed %v; want 5 entries, [13 12 11 10 9]", stored, seqs(p.Entries))
	}
}
