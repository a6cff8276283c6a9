package root

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/store/storetest"
)

func TestUnitPersistManyInstancesInBoundedTransactions(t *testing.T) {
	st := &storetest.Bounded{Store: store.NewMemory(), Max: store.WritesPerTx}
	r := &Root{cfg: Config{Store: st}, log: slog.New(slog.DiscardHandler)}
	var ins []*instance
	for i := range 2*store.WritesPerTx + 1 {
		ins = append(ins, &instance{ID: fmt.Sprintf("i%04d", i), Number: i})
	}
	r.persistInstancesLocked(ins)
	if st.Txs != 3 {
		t.Errorf("%d transactions for %d instances, want 3", st.Txs, len(ins))
	}
	n := 0
	err := st.View(func(tx store.Tx) error {
		return tx.List(bucketInstances, func(string, []byte) error { n++; return nil })
	})
	if err != nil || n != len(ins) {
		t.Fatalf("%d instances in the store (%v), want %d", n, err, len(ins))
	}
}
