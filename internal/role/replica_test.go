package role

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/store"
)

func TestUnitAdvertiseURL(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     RootConfig
		want    string
		wantErr string
	}{
		{name: "from the API address", cfg: RootConfig{Addr: "10.0.0.5:10000"}, want: "https://10.0.0.5:10000"},
		{name: "no host: the host name", cfg: RootConfig{Addr: ":10000"}, want: "https://" + host + ":10000"},
		{name: "any address: the host name", cfg: RootConfig{Addr: "0.0.0.0:10000"}, want: "https://" + host + ":10000"},
		{name: "plain HTTP API", cfg: RootConfig{Addr: "10.0.0.5:10000", TLS: TLSConfig{InsecureHTTP: true}}, want: "http://10.0.0.5:10000"},
		{name: "given", cfg: RootConfig{Addr: ":10000", AdvertiseURL: "https://root-a.example:443"}, want: "https://root-a.example:443"},
		{name: "given without a scheme", cfg: RootConfig{AdvertiseURL: "root-a:10000"}, wantErr: "--advertise-url"},
		{name: "a port chosen by the system", cfg: RootConfig{Addr: "127.0.0.1:0"}, wantErr: "fixed port"},
		{name: "no port", cfg: RootConfig{Addr: "127.0.0.1"}, wantErr: "--api-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := advertiseURL(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("advertiseURL = %q, %v; want an error naming %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("advertiseURL = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestUnitClusterStoreSpec(t *testing.T) {
	tests := []struct {
		name, store, want, wantErr string
	}{
		{name: "no prefix: one of its own", store: "etcd://e1:2379,e2:2379", want: "etcd://e1:2379,e2:2379/hedge-clusters/site%201"},
		{name: "a prefix given", store: "etcds://e1:2379/prod/site1", want: "etcds://e1:2379/prod/site1"},
		{name: "not etcd", store: "bolt:/x", wantErr: "--store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clusterStoreSpec(ClusterConfig{Name: "site 1", Store: tt.store})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("clusterStoreSpec = %q, %v; want an error naming %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("clusterStoreSpec = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// The next leader of a cluster's replicas finds the identity the first
// one joined with, byte for byte, in its own data directory.
func TestUnitPeerFilesRestored(t *testing.T) {
	st := store.NewMemory()
	want := map[string]string{}
	if err := st.Update(func(tx store.Tx) error {
		for _, name := range peerFileNames {
			want[name] = "contents of " + name
			if err := tx.Put(peerFilesBucket, name, []byte(want[name])); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	if err := restorePeerFiles(st, dir); err != nil {
		t.Fatalf("restorePeerFiles: %v", err)
	}
	for name, w := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != w {
			t.Fatalf("%s = %q, %v; want %q", name, b, err, w)
		}
		if fi, _ := os.Stat(filepath.Join(dir, name)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v; want 0600 (it holds the cluster's key and credential)", name, fi.Mode().Perm())
		}
	}
	empty := filepath.Join(t.TempDir(), "cluster")
	if err := restorePeerFiles(store.NewMemory(), empty); err != nil {
		t.Fatalf("restorePeerFiles from a store without them: %v", err)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatalf("the first leader's directory was touched (%v); it joins instead", err)
	}
}
