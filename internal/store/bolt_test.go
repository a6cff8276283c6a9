package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUnitBoltPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "state.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, st, func(tx Tx) error {
		if _, err := tx.NextSequence("apps"); err != nil {
			return err
		}
		return tx.Put("apps", "a", record{"a", 7})
	})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = OpenBolt(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st.Close()
	if got := viewGet(t, st, "apps", "a"); got != (record{"a", 7}) {
		t.Fatalf("after reopen got %+v", got)
	}
	var seq uint64
	mustUpdate(t, st, func(tx Tx) error { seq, err = tx.NextSequence("apps"); return err })
	if seq != 2 {
		t.Fatalf("sequence after reopen = %d, want 2", seq)
	}
}

func TestUnitBoltFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "state.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct {
		name string
		path string
		want os.FileMode
	}{
		{"parent dir", dir, 0o700},
		{"file", path, 0o600},
	} {
		t.Run(c.name, func(t *testing.T) {
			fi, err := os.Stat(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != c.want {
				t.Fatalf("mode = %o, want %o", got, c.want)
			}
		})
	}
}

// TestUnitBoltLockConflict opens the same file twice. flock(2) locks belong to
// the open file description, so a second open in this process conflicts just
// as another process would.
func TestUnitBoltLockConflict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	first, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	second, err := OpenBolt(path, WithLockTimeout(100*time.Millisecond))
	if err == nil {
		second.Close()
		t.Fatal("second OpenBolt succeeded while the first holds the lock")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ErrLocked naming %s", err, path)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("gave up after %s, want about the lock timeout", waited)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := OpenBolt(path, WithLockTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	third.Close()
}

func BenchmarkBoltPut(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []BoltOption
	}{
		{"sync", nil},
		{"nosync", []BoltOption{WithNoSync()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"), bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			rec := record{"instance", 1}
			for b.Loop() {
				if err := st.Update(func(tx Tx) error { return tx.Put("bench", "k", rec) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
