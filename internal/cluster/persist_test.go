package cluster

import (
	"fmt"
	"testing"

	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/store/storetest"
)

// TestUnitApplyManyInBoundedTransactions: a desired set that brings more
// instances than etcd takes in one transaction is stored whole, in several,
// and so is one that drops them all.
func TestUnitApplyManyInBoundedTransactions(t *testing.T) {
	st := &storetest.Bounded{Store: store.NewMemory(), Max: store.WritesPerTx}
	f := newFixture(t, options{store: st})
	n := 2*store.WritesPerTx + 1
	var items []link.Assignment
	for i := range n {
		items = append(items, assignment(fmt.Sprintf("i%04d", i), 1, 0.001, 4))
	}
	if err := f.c.Apply(f.ctx, &link.Assignments{Revision: 1, Items: items}); err != nil {
		t.Fatalf("Apply %d instances: %v", n, err)
	}
	if got := stored(t, st); got != n {
		t.Fatalf("%d instances stored, want %d", got, n)
	}
	if err := f.c.Apply(f.ctx, &link.Assignments{Revision: 2}); err != nil {
		t.Fatalf("Apply none: %v", err)
	}
	if got := stored(t, st); got != 0 {
		t.Fatalf("%d instances stored after all were dropped, want 0", got)
	}
}

func stored(t *testing.T, st store.Store) int {
	t.Helper()
	n := 0
	err := st.View(func(tx store.Tx) error {
		return tx.List(bucketInstances, func(string, []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
