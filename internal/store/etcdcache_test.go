package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// A standby's copy holds what was there when it started and every change
// made afterwards by another process, deletions and sequences included, and
// never writes.
func TestUnitEtcdCacheFollowsAnotherWriter(t *testing.T) {
	st := openEtcdForTest(t)
	leader := openEtcdAt(t, st.(*etcdStore).prefix) // the replica that writes
	mustUpdate(t, leader, func(tx Tx) error {
		if _, err := tx.NextSequence("apps"); err != nil {
			return err
		}
		return tx.Put("apps", "before", record{"before", 1})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cache, err := WatchEtcd(ctx, st, nil)
	if err != nil {
		t.Fatalf("WatchEtcd: %v", err)
	}
	defer cache.Close()
	if got := viewGet(t, cache, "apps", "before"); got.Count != 1 {
		t.Fatalf("loaded copy: before = %+v", got)
	}

	for i := range 20 {
		mustUpdate(t, leader, func(tx Tx) error { return tx.Put("apps", fmt.Sprintf("a%02d", i), record{"x", i}) })
	}
	mustUpdate(t, leader, func(tx Tx) error {
		if _, err := tx.NextSequence("apps"); err != nil {
			return err
		}
		if err := tx.Delete("apps", "before"); err != nil {
			return err
		}
		return tx.Put("users", "ann", record{"ann", 7})
	})
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := cache.Sync(sctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := Equal(cache, leader); err != nil {
		t.Fatalf("the copy differs from etcd after Sync: %v", err)
	}

	rev := cache.Revision()
	err = cache.Update(func(tx Tx) error { return tx.Put("users", "bob", record{"bob", 1}) })
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("a write on the copy: err = %v, want ErrFenced", err)
	}
	if err := cache.Update(func(tx Tx) error { _, err := tx.NextSequence("apps"); return err }); !errors.Is(err, ErrFenced) {
		t.Fatalf("a sequence taken on the copy: err = %v, want ErrFenced", err)
	}
	if err := cache.Update(func(tx Tx) error { _, err := Get[record](tx, "users", "ann"); return err }); err != nil {
		t.Fatalf("an Update that only reads: %v", err)
	}
	var n int
	if err := leader.View(func(tx Tx) error {
		return tx.List("users", func(string, []byte) error { n++; return nil })
	}); err != nil || n != 1 || cache.Revision() != rev {
		t.Fatalf("etcd holds %d users (%v), revision %d -> %d: the copy wrote", n, err, rev, cache.Revision())
	}
}
