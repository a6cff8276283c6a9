package cluster

import (
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/pressure"
	"github.com/hedgeorch/hedge/internal/store"
)

// Limits are stored with the instances: a cluster started again over a
// store where w1's instance is still limited reports w1 as pending
// restore, and w2, whose instance is not, as not.
func TestRestorePendingAfterARestart(t *testing.T) {
	st := store.NewMemory()
	err := st.Update(func(tx store.Tx) error {
		for _, n := range []nodeRecord{{ID: "n1", Name: "w1"}, {ID: "n2", Name: "w2"}} {
			if err := tx.Put(bucketNodes, n.ID, n); err != nil {
				return err
			}
		}
		limited := inst{A: link.Assignment{InstanceID: "i1", Generation: 1}, NodeID: "n1", Limit: &api.Resources{VCPUs: 0.5}}
		free := inst{A: link.Assignment{InstanceID: "i2", Generation: 1}, NodeID: "n2"}
		if err := tx.Put(bucketInstances, "i1", limited); err != nil {
			return err
		}
		return tx.Put(bucketInstances, "i2", free)
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := pressure.DefaultPolicy()
	c, err := New(Config{Name: "site", Store: st, Pressure: &policy})
	if err != nil {
		t.Fatal(err)
	}
	a := nodeActuator{c}
	if !a.RestorePending("w1") || a.RestorePending("w2") || a.RestorePending("nobody") {
		t.Errorf("RestorePending w1 %v, w2 %v, nobody %v; want true, false, false",
			a.RestorePending("w1"), a.RestorePending("w2"), a.RestorePending("nobody"))
	}
}
