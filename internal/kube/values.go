package kube

import (
	"encoding/json"
	"fmt"

	"github.com/hedgeorch/hedge/internal/store"
)

// An enabler's Helm values often hold passwords, so they are stored sealed
// (SealedValues, bound to the enabler's id) and never in the clear: sealed
// turns a record as used into one as stored, opened the reverse.

// sealed returns rec as stored: its values sealed and left out.
func (m *Manager) sealed(rec enablerRecord) (enablerRecord, error) {
	rec.SealedValues = nil
	if rec.Values != nil {
		b, err := json.Marshal(rec.Values)
		if err != nil {
			return rec, fmt.Errorf("enabler %s: values: %w", rec.Name, err)
		}
		if rec.SealedValues, err = m.seal.Seal(rec.ID, b); err != nil {
			return rec, err
		}
	}
	rec.Values = nil
	return rec, nil
}

// opened returns a stored rec with its values opened. A record stored before
// values were sealed has them in the clear and is returned as it is.
func (m *Manager) opened(rec enablerRecord) (enablerRecord, error) {
	if len(rec.SealedValues) == 0 {
		return rec, nil
	}
	b, err := m.seal.Open(rec.ID, rec.SealedValues)
	if err != nil {
		return rec, fmt.Errorf("enabler %s: values: %w", rec.Name, err)
	}
	rec.Values, rec.SealedValues = nil, nil
	if err := json.Unmarshal(b, &rec.Values); err != nil {
		return rec, fmt.Errorf("enabler %s: values: %w", rec.Name, err)
	}
	return rec, nil
}

// putEnabler stores rec with its values sealed.
func (m *Manager) putEnabler(tx store.Tx, rec enablerRecord) error {
	s, err := m.sealed(rec)
	if err != nil {
		return err
	}
	return tx.Put(bucketEnablers, rec.ID, s)
}

// sealStoredValues seals the values that versions before sealing stored in
// the clear, and returns how many enablers it sealed.
func (m *Manager) sealStoredValues() (int, error) {
	n := 0
	err := m.cfg.Store.Update(func(tx store.Tx) error {
		recs, err := store.ListAll[enablerRecord](tx, bucketEnablers)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if rec.Values == nil {
				continue
			}
			if err := m.putEnabler(tx, rec); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seal stored helm values: %w", err)
	}
	return n, nil
}
