package kube

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

func TestSealRoundTripUnit(t *testing.T) {
	st := store.NewMemory()
	keyFile := filepath.Join(t.TempDir(), "seal.key")
	s, err := loadSealer(st, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("apiVersion: v1\nusers: [{name: a, user: {token: s3cret}}]")
	sealed, err := s.Seal("cluster-1", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("sealed secret holds the plain text")
	}
	// A second load finds the same key, so secrets survive a restart.
	s2, err := loadSealer(st, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Open("cluster-1", sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := s2.Open("cluster-2", sealed); err == nil {
		t.Error("a secret sealed for cluster-1 opened for cluster-2")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := s2.Open("cluster-1", sealed); err == nil {
		t.Error("an altered secret opened")
	}
	other, err := loadSealer(store.NewMemory(), filepath.Join(t.TempDir(), "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := other.Open("cluster-1", sealed); err == nil {
		t.Error("a secret opened with another key")
	}
}

// storeDump is every record of st's Kubernetes buckets, as stored.
func storeDump(t *testing.T, st store.Store) string {
	t.Helper()
	var b strings.Builder
	err := st.View(func(tx store.Tx) error {
		for _, bucket := range []string{bucketClusters, bucketRepos, bucketEnablers, bucketSecret} {
			if err := tx.List(bucket, func(k string, raw []byte) error {
				b.WriteString(bucket + "/" + k + "=" + string(raw) + "\n")
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSealKeyLivesApartUnit: the key is a file of its own, mode 0600, and
// the store holds no key.
func TestSealKeyLivesApartUnit(t *testing.T) {
	st := store.NewMemory()
	keyFile := filepath.Join(t.TempDir(), "seal.key")
	if _, err := loadSealer(st, keyFile); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("key file: mode %v, %d bytes; want 0600 and 32", fi.Mode().Perm(), fi.Size())
	}
	if d := storeDump(t, st); d != "" {
		t.Errorf("the store holds records after the key was made: %s", d)
	}
}

// TestSealKeyMovedOutOfStoreUnit: a store that kept its key in a bucket
// (older versions) has it moved to the key file, and what it sealed still
// opens.
func TestSealKeyMovedOutOfStoreUnit(t *testing.T) {
	st := store.NewMemory()
	key := bytes.Repeat([]byte{7}, 32)
	if err := st.Update(func(tx store.Tx) error { return tx.Put(bucketSecret, keyName, key) }); err != nil {
		t.Fatal(err)
	}
	old, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal("repo-1", []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "seal.key")
	s, err := loadSealer(st, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open("repo-1", sealed); err != nil || string(got) != "hunter2" {
		t.Errorf("after the move, open = %q, %v; want the old secret", got, err)
	}
	if b, err := os.ReadFile(keyFile); err != nil || !bytes.Equal(b, key) {
		t.Errorf("key file = %x, %v; want the store's key", b, err)
	}
	if d := storeDump(t, st); d != "" {
		t.Errorf("the store still holds the key: %s", d)
	}
}

// TestSealKeyRefusedUnit: a key file others may read, and a store key that
// is not the file's, are refused, and the store is left as it was.
func TestSealKeyRefusedUnit(t *testing.T) {
	tests := []struct {
		name     string
		mode     os.FileMode
		storeKey []byte
		want     string
	}{
		{"readable by others", 0o644, nil, "want 0600"},
		{"store holds another key", 0o600, bytes.Repeat([]byte{1}, 32), "other than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMemory()
			if tt.storeKey != nil {
				if err := st.Update(func(tx store.Tx) error { return tx.Put(bucketSecret, keyName, tt.storeKey) }); err != nil {
					t.Fatal(err)
				}
			}
			keyFile := filepath.Join(t.TempDir(), "seal.key")
			if err := os.WriteFile(keyFile, bytes.Repeat([]byte{2}, 32), tt.mode); err != nil {
				t.Fatal(err)
			}
			before := storeDump(t, st)
			_, err := loadSealer(st, keyFile)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadSealer = %v, want an error saying %q", err, tt.want)
			}
			if after := storeDump(t, st); after != before {
				t.Errorf("store changed: %q -> %q", before, after)
			}
		})
	}
}

// noRoot is a Root for managers that register no cluster.
type noRoot struct{}

func (noRoot) JoinCluster(context.Context, string) (string, string, error) { return "", "", nil }
func (noRoot) LinkClient(string) *link.Client                              { return nil }
func (noRoot) SetClusterLabels(string, map[string]string) error            { return nil }
func (noRoot) ForgetCluster(string) error                                  { return nil }
func (noRoot) Clusters() []api.Cluster                                     { return nil }

// TestEnablerValuesStoredSealedUnit: Helm values are in the store only
// sealed; values that an older version stored in the clear are sealed at
// start and still read back, and only by an Admin or the owner.
func TestEnablerValuesStoredSealedUnit(t *testing.T) {
	st := store.NewMemory()
	plain := enablerRecord{Enabler: api.Enabler{ID: "e1", Name: "db", OwnerID: "u-1", Status: api.EnablerDeployed,
		Values: map[string]any{"auth": map[string]any{"rootPassword": "hunter2"}}}}
	if err := st.Update(func(tx store.Tx) error { return tx.Put(bucketEnablers, plain.ID, plain) }); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Store: st, SealKeyFile: filepath.Join(t.TempDir(), "seal.key"), Root: noRoot{}})
	if err != nil {
		t.Fatal(err)
	}
	if d := storeDump(t, st); strings.Contains(d, "hunter2") || !strings.Contains(d, "sealed_values") {
		t.Errorf("store after start holds the values in the clear or not at all: %s", d)
	}
	tests := []struct {
		name string
		v    Viewer
		sees bool
	}{
		{"admin", Viewer{Admin: true}, true},
		{"owner", Viewer{UserID: "u-1"}, true},
		{"other user", Viewer{UserID: "u-2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := m.Enabler("db", tt.v)
			if err != nil {
				t.Fatal(err)
			}
			got := e.Values["auth"]
			if (got != nil) != tt.sees {
				t.Errorf("values = %v, want seen = %v", e.Values, tt.sees)
			}
			es, err := m.Enablers("", tt.v)
			if err != nil || len(es) != 1 || (es[0].Values != nil) != tt.sees {
				t.Errorf("Enablers = %+v, %v; want one, values seen = %v", es, err, tt.sees)
			}
		})
	}
	// A save seals again.
	rec, _, _ := m.enabler("db")
	rec.Message = "saved"
	m.saveEnabler(rec)
	if d := storeDump(t, st); strings.Contains(d, "hunter2") || !strings.Contains(d, "saved") {
		t.Errorf("store after a save: %s", d)
	}
}
