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

func TestTightened(t *testing.T) {
	tests := []struct {
		name   string
		spec   api.Resources
		usedMB int64
		want   api.Resources
	}{
		{"half the cpu, memory a quarter over use", api.Resources{VCPUs: 2, MemoryMB: 512}, 100, api.Resources{VCPUs: 1, MemoryMB: 125}},
		{"at least 16 MB of room", api.Resources{VCPUs: 1, MemoryMB: 512}, 20, api.Resources{VCPUs: 0.5, MemoryMB: 36}},
		{"never above its own limit", api.Resources{VCPUs: 1, MemoryMB: 128}, 120, api.Resources{VCPUs: 0.5, MemoryMB: 128}},
		{"no cpu limit: half a core", api.Resources{MemoryMB: 256}, 0, api.Resources{VCPUs: 0.5, MemoryMB: 256}},
		{"no usage figure: memory as it was", api.Resources{VCPUs: 1, MemoryMB: 256}, 0, api.Resources{VCPUs: 0.5, MemoryMB: 256}},
	}
	for _, tt := range tests {
		if got := tightened(tt.spec, tt.usedMB); got != tt.want {
			t.Errorf("%s: tightened = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
