package root

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/hedgeorch/hedge/internal/store"
)

// boundedStore refuses, as etcd does past --max-request-bytes, a
// transaction that puts more than max records, and counts transactions.
type boundedStore struct {
	store.Store
	max int
	txs int
}

type countingTx struct {
	store.Tx
	puts int
}

func (c *countingTx) Put(bucket, key string, v any) error {
	c.puts++
	return c.Tx.Put(bucket, key, v)
}

func (b *boundedStore) Update(fn func(tx store.Tx) error) error {
	return b.Store.Update(func(tx store.Tx) error {
		c := &countingTx{Tx: tx}
		if err := fn(c); err != nil {
			return err
		}
		if c.puts > b.max {
			return fmt.Errorf("request is too large: %d puts", c.puts)
		}
		b.txs++
		return nil
	})
}

func TestUnitPersistManyInstancesInBoundedTransactions(t *testing.T) {
	st := &boundedStore{Store: store.NewMemory(), max: instancesPerTx}
	r := &Root{cfg: Config{Store: st}, log: slog.New(slog.DiscardHandler)}
	var ins []*instance
	for i := range 2*instancesPerTx + 1 {
		ins = append(ins, &instance{ID: fmt.Sprintf("i%04d", i), Number: i})
	}
	r.persistInstancesLocked(ins)
	if st.txs != 3 {
		t.Errorf("%d transactions for %d instances, want 3", st.txs, len(ins))
	}
	n := 0
	err := st.View(func(tx store.Tx) error {
		return tx.List(bucketInstances, func(string, []byte) error { n++; return nil })
	})
	if err != nil || n != len(ins) {
		t.Fatalf("%d instances in the store (%v), want %d", n, err, len(ins))
	}
}
