package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

// etcdServer is one real etcd (Debian's etcd-server package) shared by the
// package's tests; each store gets its own key prefix.
var etcdServer struct {
	once      sync.Once
	endpoint  string
	err       error // why etcd is not ready, when it is not
	ready     bool
	cmd       *exec.Cmd
	dir       string
	prefixSeq atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdServer.cmd != nil {
		_ = etcdServer.cmd.Process.Kill()
		_ = etcdServer.cmd.Wait()
		_ = os.RemoveAll(etcdServer.dir)
	}
	os.Exit(code)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// openEtcdForTest returns a store on the shared etcd under a fresh prefix,
// starting etcd on first use. It skips when etcd is not installed.
func openEtcdForTest(t *testing.T) Store {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd not installed (Debian package etcd-server)")
	}
	etcdServer.once.Do(func() {
		dir, err := os.MkdirTemp("", "hedge-etcd-")
		if err != nil {
			etcdServer.err = err
			return
		}
		etcdServer.dir = dir
		client, peer := freePort(t), freePort(t)
		etcdServer.endpoint = fmt.Sprintf("127.0.0.1:%d", client)
		cmd := exec.Command(bin,
			"--name", "store-test", "--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", "http://"+etcdServer.endpoint,
			"--advertise-client-urls", "http://"+etcdServer.endpoint,
			"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
			"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
			"--initial-cluster", fmt.Sprintf("store-test=http://127.0.0.1:%d", peer),
			"--unsafe-no-fsync", "--log-level", "error")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			etcdServer.err = err
			return
		}
		etcdServer.cmd = cmd
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			st, err := OpenEtcd(EtcdConfig{Endpoints: []string{etcdServer.endpoint}, Timeout: time.Second})
			if err == nil {
				_ = st.Close()
				etcdServer.ready = true
				return
			}
			etcdServer.err = err
			time.Sleep(100 * time.Millisecond)
		}
	})
	if !etcdServer.ready {
		t.Fatalf("start etcd: %v", etcdServer.err)
	}
	return openEtcdAt(t, fmt.Sprintf("/test-%d-%d/", os.Getpid(), etcdServer.prefixSeq.Add(1)))
}

// openEtcdAt opens another store on the shared etcd, under prefix: a second
// process's view of the same state.
func openEtcdAt(t *testing.T, prefix string) Store {
	t.Helper()
	st, err := OpenEtcd(EtcdConfig{Endpoints: []string{etcdServer.endpoint}, Prefix: prefix})
	if err != nil {
		t.Fatalf("OpenEtcd: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestUnitParseEtcdURL(t *testing.T) {
	tests := []struct {
		in, prefix string
		endpoints  []string
		err        bool
	}{
		{"etcd://a:2379,b:2379", DefaultEtcdPrefix, []string{"http://a:2379", "http://b:2379"}, false},
		{"etcds://a:2379/prod/hedge", "/prod/hedge/", []string{"https://a:2379"}, false},
		{"etcd://a", "", nil, true},
		{"etcd://", "", nil, true},
		{"bolt:/x", "", nil, true},
		{"etcd://a:2379/x?y", "/x?y/", []string{"http://a:2379"}, false},
	}
	for _, tt := range tests {
		cfg, err := ParseEtcdURL(tt.in)
		if (err != nil) != tt.err {
			t.Fatalf("%q: err = %v, want error %v", tt.in, err, tt.err)
		}
		if err != nil {
			continue
		}
		if cfg.Prefix != tt.prefix || fmt.Sprint(cfg.Endpoints) != fmt.Sprint(tt.endpoints) {
			t.Fatalf("%q: got %q %v", tt.in, cfg.Prefix, cfg.Endpoints)
		}
	}
}

// An Update that read a record another writer changed meanwhile must not
// overwrite it: it runs again on the new state (lost updates are what a
// replicated root must never have).
func TestUnitEtcdNoLostUpdate(t *testing.T) {
	st := openEtcdForTest(t)
	other := openEtcdAt(t, st.(*etcdStore).prefix) // another replica
	mustUpdate(t, st, func(tx Tx) error { return tx.Put("c", "n", record{"n", 0}) })
	runs := 0
	mustUpdate(t, st, func(tx Tx) error {
		runs++
		var r record
		if err := tx.Get("c", "n", &r); err != nil {
			return err
		}
		if runs == 1 { // a concurrent writer commits between read and commit
			if err := other.Update(func(tx Tx) error { return tx.Put("c", "n", record{"n", r.Count + 10}) }); err != nil {
				return err
			}
		}
		r.Count++
		return tx.Put("c", "n", r)
	})
	if got := viewGet(t, st, "c", "n"); got.Count != 11 || runs != 2 {
		t.Fatalf("count = %d after %d runs, want 11 after 2", got.Count, runs)
	}
	// The same through a List: a record deleted by another writer after
	// the listing makes the listing's transaction run again.
	mustUpdate(t, st, func(tx Tx) error { return tx.Put("c", "m", record{"m", 1}) })
	runs = 0
	mustUpdate(t, st, func(tx Tx) error {
		runs++
		n := 0
		if err := tx.List("c", func(string, []byte) error { n++; return nil }); err != nil {
			return err
		}
		if runs == 1 {
			if err := other.Update(func(tx Tx) error { return tx.Delete("c", "m") }); err != nil {
				return err
			}
		}
		return tx.Put("counts", "c", n)
	})
	var n int
	if err := st.View(func(tx Tx) error { return tx.Get("counts", "c", &n) }); err != nil || n != 1 {
		t.Fatalf("count of c = %d (%v), want 1 after the concurrent delete", n, err)
	}
}

func TestUnitCopyRoundTrip(t *testing.T) {
	bolt1, err := OpenBolt(filepath.Join(t.TempDir(), "a.db"), WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer bolt1.Close()
	mustUpdate(t, bolt1, func(tx Tx) error {
		for i := range 250 {
			if err := tx.Put("apps", fmt.Sprintf("app-%03d", i), record{"x<&>", i}); err != nil {
				return err
			}
		}
		if _, err := tx.NextSequence("apps"); err != nil {
			return err
		}
		_ = tx.Put("users", "ann", record{"ann", 1})
		_ = tx.Put("empty", "gone", 1)
		_ = tx.Delete("empty", "gone")
		_, err := tx.NextSequence("only-seq")
		return err
	})
	for _, impl := range []struct {
		name string
		open func(t *testing.T) Store
	}{
		{"memory", func(*testing.T) Store { return NewMemory() }},
		{"etcd", openEtcdForTest},
	} {
		t.Run(impl.name, func(t *testing.T) {
			mid := impl.open(t)
			stats, err := Copy(mid, bolt1)
			if err != nil {
				t.Fatalf("Copy to %s: %v", impl.name, err)
			}
			if stats.Buckets != 3 || stats.Records != 251 {
				t.Fatalf("stats = %+v, want 3 buckets and 251 records", stats)
			}
			back, err := OpenBolt(filepath.Join(t.TempDir(), "b.db"), WithNoSync())
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			if _, err := Copy(back, mid); err != nil {
				t.Fatalf("Copy back: %v", err)
			}
			if err := Equal(back, bolt1); err != nil {
				t.Fatalf("bolt -> %s -> bolt: %v", impl.name, err)
			}
			if _, err := Copy(back, mid); !errors.Is(err, ErrNotEmpty) {
				t.Fatalf("Copy into a non-empty store: err = %v, want ErrNotEmpty", err)
			}
		})
	}
}

// TestUnitEtcdUnavailableIs503 checks that the errors etcd gives while it
// cannot answer (no leader during its election, a deadline, a member
// gone) reach the API as 503, which says "try again", and that others,
// such as a request over etcd's size limit, stay internal errors (500).
func TestUnitEtcdUnavailableIs503(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"no leader", rpctypes.ErrNoLeader, http.StatusServiceUnavailable},
		{"no leader, as gRPC sends it", rpctypes.ErrGRPCNoLeader, http.StatusServiceUnavailable},
		{"unreachable", status.Error(codes.Unavailable, "connection refused"), http.StatusServiceUnavailable},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
		{"too large", rpctypes.ErrRequestTooLarge, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := etcdErr("update: etcd", tc.err)
			if got, _ := errdefs.HTTP(log, err); got != tc.want {
				t.Errorf("%v: status %d, want %d", err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap %v", err, tc.err)
			}
		})
	}
}
