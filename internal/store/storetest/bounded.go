// Package storetest has stores for the tests of the packages that use
// internal/store.
package storetest

import (
	"fmt"

	"github.com/hedgeorch/hedge/internal/store"
)

// Bounded refuses, as etcd does past --max-request-bytes, a transaction
// that writes more than Max records, and counts the transactions it took.
type Bounded struct {
	store.Store
	Max int
	Txs int
}

type countingTx struct {
	store.Tx
	writes int
}

func (c *countingTx) Put(bucket, key string, v any) error {
	c.writes++
	return c.Tx.Put(bucket, key, v)
}

func (c *countingTx) Delete(bucket, key string) error {
	c.writes++
	return c.Tx.Delete(bucket, key)
}

// Update implements store.Store.
func (b *Bounded) Update(fn func(tx store.Tx) error) error {
	return b.Store.Update(func(tx store.Tx) error {
		c := &countingTx{Tx: tx}
		if err := fn(c); err != nil {
			return err
		}
		if c.writes > b.Max {
			return fmt.Errorf("request is too large: %d writes", c.writes)
		}
		b.Txs++
		return nil
	})
}
