package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type record struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// implementations lists every Store, so that each behaviour below is checked
// against bbolt, memory and etcd alike.
func implementations() []struct {
	name string
	open func(t *testing.T) Store
} {
	return []struct {
		name string
		open func(t *testing.T) Store
	}{
		{"bolt", func(t *testing.T) Store {
			st, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), WithNoSync())
			if err != nil {
				t.Fatalf("OpenBolt: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
		{"memory", func(t *testing.T) Store {
			st := NewMemory()
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
		{"etcd", openEtcdForTest},
	}
}

// forEach runs test against every implementation as a subtest.
func forEach(t *testing.T, test func(t *testing.T, st Store)) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) { test(t, impl.open(t)) })
	}
}

func mustUpdate(t *testing.T, st Store, fn func(tx Tx) error) {
	t.Helper()
	if err := st.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func TestUnitTxOperations(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, st Store)
	}{
		{"put then get round-trips JSON", func(t *testing.T, st Store) {
			mustUpdate(t, st, func(tx Tx) error { return tx.Put("apps", "a", record{"a", 3}) })
			var got record
			if err := st.View(func(tx Tx) error { return tx.Get("apps", "a", &got) }); err != nil {
				t.Fatal(err)
			}
			if got != (record{"a", 3}) {
				t.Fatalf("got %+v", got)
			}
		}},
		{"get of missing bucket is ErrNotFound naming bucket and key", func(t *testing.T, st Store) {
			err := st.View(func(tx Tx) error { return tx.Get("nobucket", "k", &record{}) })
			if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nobucket/k") {
				t.Fatalf("err = %v, want ErrNotFound naming nobucket/k", err)
			}
		}},
		{"get of missing key is ErrNotFound", func(t *testing.T, st Store) {
			mustUpdate(t, st, func(tx Tx) error { return tx.Put("apps", "a", record{}) })
			err := st.View(func(tx Tx) error { return tx.Get("apps", "b", &record{}) })
			if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "apps/b") {
				t.Fatalf("err = %v, want ErrNotFound naming apps/b", err)
			}
		}},
		{"put overwrites", func(t *testing.T, st Store) {
			mustUpdate(t, st, func(tx Tx) error { return tx.Put("apps", "a", record{"a", 1}) })
			mustUpdate(t, st, func(tx Tx) error { return tx.Put("apps", "a", record{"a", 2}) })
			got := viewGet(t, st, "apps", "a")
			if got.Count != 2 {
				t.Fatalf("count = %d, want 2", got.Count)
			}
		}},
		{"delete removes and is silent when absent", func(t *testing.T, st Store) {
			mustUpdate(t, st, func(tx Tx) error { return tx.Put("apps", "a", record{}) })
			mustUpdate(t, st, func(tx Tx) error { return tx.Delete("apps", "a") })
			mustUpdate(t, st, func(tx Tx) error { return tx.Delete("apps", "a") })
			mustUpdate(t, st, func(tx Tx) error { return tx.Delete("nobucket", "a") })
			err := st.View(func(tx Tx) error { return tx.Get("apps", "a", &record{}) })
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		}},
		{"list is in key order and empty for missing bucket", func(t *testing.T, st Store) {
			mustUpdate(t, st, func(tx Tx) error {
				for _, k := range []string{"b", "a", "c10", "c2", "B"} {
					if err := tx.Put("apps", k, record{Name: k}); err != nil {
						return err
					}
				}
				return nil
			})
			var keys []string
			err := st.View(func(tx Tx) error {
				if err := tx.List("nobucket", func(k string, _ []byte) error {
					t.Errorf("unexpected key %q in missing bucket", k)
					return nil
				}); err != nil {
					return err
				}
				return tx.List("apps", func(k string, raw []byte) error {
					var r record
					if err := json.Unmarshal(raw, &r); err != nil || r.Name != k {
						t.Errorf("record %q = %s (%v)", k, raw, err)
					}
					keys = append(keys, k)
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"B", "a", "b", "c10", "c2"}; !slices.Equal(keys, want) {
				t.Fatalf("keys = %v, want %v", keys, want)
			}
		}},
		{"list stops at fn's error and returns it", func(t *testing.T, st Store) {
			mustUpdate(t, st, func(tx Tx) error {
				_ = tx.Put("apps", "a", record{})
				return tx.Put("apps", "b", record{})
			})
			stop := errors.New("stop")
			calls := 0
			err := st.View(func(tx Tx) error {
				return tx.List("apps", func(string, []byte) error { calls++; return stop })
			})
			if !errors.Is(err, stop) || calls != 1 {
				t.Fatalf("err = %v after %d calls, want stop after 1", err, calls)
			}
		}},
		{"list raw may be kept and changed without touching the store", func(t *testing.T, st Store) {
			mustUpdate(t, st, func(tx Tx) error { return tx.Put("apps", "a", record{"a", 1}) })
			var kept []byte
			_ = st.View(func(tx Tx) error {
				return tx.List("apps", func(_ string, raw []byte) error { kept = raw; return nil })
			})
			for i := range kept {
				kept[i] = 'x'
			}
			if got := viewGet(t, st, "apps", "a"); got != (record{"a", 1}) {
				t.Fatalf("store changed through raw: %+v", got)
			}
		}},
		{"next sequence counts per bucket", func(t *testing.T, st Store) {
			var got []uint64
			mustUpdate(t, st, func(tx Tx) error {
				for _, b := range []string{"x", "x", "y", "x"} {
					n, err := tx.NextSequence(b)
					if err != nil {
						return err
					}
					got = append(got, n)
				}
				return nil
			})
			if want := []uint64{1, 2, 1, 3}; !slices.Equal(got, want) {
				t.Fatalf("sequence = %v, want %v", got, want)
			}
		}},
		{"writes in View fail with ErrReadOnly", func(t *testing.T, st Store) {
			writes := map[string]func(tx Tx) error{
				"put":    func(tx Tx) error { return tx.Put("apps", "a", record{}) },
				"delete": func(tx Tx) error { return tx.Delete("apps", "a") },
				"seq":    func(tx Tx) error { _, err := tx.NextSequence("apps"); return err },
			}
			for name, w := range writes {
				if err := st.View(w); !errors.Is(err, ErrReadOnly) {
					t.Errorf("%s in View: err = %v, want ErrReadOnly", name, err)
				}
			}
		}},
		{"empty bucket or key is rejected", func(t *testing.T, st Store) {
			bad := map[string]func(tx Tx) error{
				"put empty key":    func(tx Tx) error { return tx.Put("apps", "", record{}) },
				"put empty bucket": func(tx Tx) error { return tx.Put("", "a", record{}) },
				"get empty key":    func(tx Tx) error { return tx.Get("apps", "", &record{}) },
				"list empty":       func(tx Tx) error { return tx.List("", nil) },
			}
			for name, op := range bad {
				if err := st.Update(op); err == nil {
					t.Errorf("%s: no error", name)
				}
			}
		}},
		{"decode error is reported, not swallowed", func(t *testing.T, st Store) {
			mustUpdate(t, st, func(tx Tx) error { return tx.Put("apps", "a", "a string") })
			err := st.View(func(tx Tx) error { return tx.Get("apps", "a", &record{}) })
			if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "apps/a") {
				t.Fatalf("err = %v, want a decode error naming apps/a", err)
			}
		}},
		{"tx used after its transaction fails", func(t *testing.T, st Store) {
			var leaked Tx
			mustUpdate(t, st, func(tx Tx) error { leaked = tx; return nil })
			if err := leaked.Put("apps", "a", record{}); !errors.Is(err, ErrTxClosed) {
				t.Fatalf("err = %v, want ErrTxClosed", err)
			}
			if err := leaked.Get("apps", "a", &record{}); !errors.Is(err, ErrTxClosed) {
				t.Fatalf("err = %v, want ErrTxClosed", err)
			}
		}},
		{"closed store refuses transactions", func(t *testing.T, st Store) {
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if err := st.View(func(Tx) error { return nil }); !errors.Is(err, ErrClosed) {
				t.Fatalf("View after Close: err = %v, want ErrClosed", err)
			}
			if err := st.Update(func(Tx) error { return nil }); !errors.Is(err, ErrClosed) {
				t.Fatalf("Update after Close: err = %v, want ErrClosed", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { forEach(t, tt.run) })
	}
}

func viewGet(t *testing.T, st Store, bucket, key string) record {
	t.Helper()
	var r record
	if err := st.View(func(tx Tx) error {
		var err error
		r, err = Get[record](tx, bucket, key)
		return err
	}); err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	return r
}

func TestUnitRollback(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		fail func(tx Tx) error // writes, then fails
	}{
		{"error after put, overwrite, delete and sequence", func(tx Tx) error {
			_ = tx.Put("apps", "new", record{"new", 1})
			_ = tx.Put("apps", "kept", record{"kept", 99})
			_ = tx.Delete("apps", "gone")
			_ = tx.Put("fresh", "x", record{})
			_, _ = tx.NextSequence("apps")
			return boom
		}},
		{"panic after writes", func(tx Tx) error {
			_ = tx.Put("apps", "new", record{"new", 1})
			_ = tx.Delete("apps", "gone")
			_, _ = tx.NextSequence("apps")
			panic(boom)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEach(t, func(t *testing.T, st Store) {
				mustUpdate(t, st, func(tx Tx) error {
					_ = tx.Put("apps", "kept", record{"kept", 1})
					_ = tx.Put("apps", "gone", record{"gone", 1})
					_, err := tx.NextSequence("apps")
					return err
				})
				err := func() (err error) {
					defer func() {
						if r := recover(); r != nil {
							err = r.(error)
						}
					}()
					return st.Update(tt.fail)
				}()
				if !errors.Is(err, boom) {
					t.Fatalf("Update err = %v, want boom", err)
				}
				var all []record
				var seq uint64
				mustUpdate(t, st, func(tx Tx) error {
					var err error
					if all, err = ListAll[record](tx, "apps"); err != nil {
						return err
					}
					if err := tx.Get("fresh", "x", &record{}); !errors.Is(err, ErrNotFound) {
						t.Errorf("fresh/x after rollback: err = %v, want ErrNotFound", err)
					}
					seq, err = tx.NextSequence("apps")
					return err
				})
				want := []record{{"gone", 1}, {"kept", 1}}
				if !slices.Equal(all, want) {
					t.Fatalf("after rollback apps = %+v, want %+v", all, want)
				}
				if seq != 2 {
					t.Fatalf("sequence after rollback = %d, want 2", seq)
				}
			})
		})
	}
}

func TestUnitHelpers(t *testing.T) {
	forEach(t, func(t *testing.T, st Store) {
		mustUpdate(t, st, func(tx Tx) error { return Create(tx, "users", "ann", record{"ann", 1}) })
		err := st.Update(func(tx Tx) error { return Create(tx, "users", "ann", record{"ann", 2}) })
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("second Create: err = %v, want ErrConflict", err)
		}
		if got := viewGet(t, st, "users", "ann"); got.Count != 1 {
			t.Fatalf("Create overwrote: %+v", got)
		}
		err = st.View(func(tx Tx) error {
			_, err := Get[record](tx, "users", "bob")
			return err
		})
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get missing: err = %v, want ErrNotFound", err)
		}
		var empty []record
		err = st.View(func(tx Tx) error {
			var err error
			empty, err = ListAll[record](tx, "nobucket")
			return err
		})
		if err != nil || len(empty) != 0 {
			t.Fatalf("ListAll missing bucket = %v, %v", empty, err)
		}
	})
}

func TestUnitConcurrentUpdatesAreSerialized(t *testing.T) {
	forEach(t, func(t *testing.T, st Store) {
		const workers, each = 4, 25
		errs := make(chan error, workers)
		for range workers {
			go func() {
				for range each {
					if err := st.Update(func(tx Tx) error {
						n, err := tx.NextSequence("ids")
						if err != nil {
							return err
						}
						return tx.Put("ids", fmt.Sprintf("%04d", n), n)
					}); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range workers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		var ids []uint64
		if err := st.View(func(tx Tx) error {
			var err error
			ids, err = ListAll[uint64](tx, "ids")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(ids) != workers*each {
			t.Fatalf("%d records, want %d", len(ids), workers*each)
		}
		for i, id := range ids {
			if id != uint64(i+1) {
				t.Fatalf("ids[%d] = %d: a sequence number was handed out twice or skipped", i, id)
			}
		}
	})
}
