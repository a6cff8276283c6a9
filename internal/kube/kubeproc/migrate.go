package kubeproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/hedgeorch/hedge/internal/store"
)

// Migrate moves the Kubernetes state that versions before the split kept
// in the root's store (StateBuckets) to hedge-kube's store at path, once:
// it copies every record, then deletes them from the root's store. It does
// nothing if the root's store has no such record, and refuses (leaving
// both stores as they are) if path already holds a credentials key, or
// keyFile exists, which would not open the old records. It returns how
// many records moved. hedge-kube then moves the key to keyFile.
func Migrate(from store.Store, path, keyFile string) (int, error) {
	if from == nil {
		return 0, nil
	}
	type rec struct {
		bucket, key string
		raw         json.RawMessage
	}
	var recs []rec
	err := from.View(func(tx store.Tx) error {
		for _, b := range StateBuckets {
			err := tx.List(b, func(key string, raw []byte) error {
				recs = append(recs, rec{b, key, raw})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	if _, err := os.Stat(keyFile); err == nil {
		return 0, fmt.Errorf("hedge-kube already has its own credentials key %s", keyFile)
	}
	_, statErr := os.Stat(path)
	to, err := store.OpenBolt(path)
	if err != nil {
		return 0, err
	}
	err = to.Update(func(tx store.Tx) error {
		if statErr == nil {
			found := false
			err := tx.List(secretBucket, func(string, []byte) error {
				found = true
				return nil
			})
			if err != nil {
				return err
			}
			if found {
				return errors.New("hedge-kube's store already has its own credentials key")
			}
		}
		for _, r := range recs {
			if err := tx.Put(r.bucket, r.key, r.raw); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := to.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("copy to %s: %w", path, err)
	}
	err = from.Update(func(tx store.Tx) error {
		for _, r := range recs {
			if err := tx.Delete(r.bucket, r.key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete the moved records from the root's store: %w", err)
	}
	return len(recs), nil
}
