package role

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hedgeorch/hedge/internal/pki"
	"github.com/hedgeorch/hedge/internal/store"
)

// errLostLeadership ends a root or cluster replica whose etcd lease ended:
// it must not act any more, and its supervisor restarts it as a standby.
var errLostLeadership = errors.New("lost the leadership of the replicas (etcd lease ended); restart to stand by")

// openRootStore opens cfg.Store: bbolt in the data dir by default, or etcd.
func openRootStore(cfg RootConfig) (store.Store, error) {
	switch {
	case cfg.Store == "":
		return store.OpenBolt(filepath.Join(cfg.DataDir, "root", "state.db"))
	default:
		return OpenStore(cfg.Store, cfg.EtcdTLS)
	}
}

// EtcdTLS names the files of an etcd client certificate, used with
// etcds:// endpoints.
type EtcdTLS struct {
	CA, Cert, Key string
}

func (f EtcdTLS) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("--etcd-ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-ca %s: no PEM certificate in it", f.CA)
		}
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("--etcd-cert and --etcd-key: give both or neither")
	}
	if f.Cert != "" {
		kp, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert/--etcd-key: %w", err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	return c, nil
}

// rootStorePrefix is the key prefix of an etcd store ("" for bbolt).
func rootStorePrefix(cfg RootConfig) string {
	ecfg, err := store.ParseEtcdURL(cfg.Store)
	if err != nil {
		return ""
	}
	return ecfg.Prefix
}

// OpenStore opens a store named as `hedge root migrate` names them:
// bolt:PATH, or etcd://host:port,.../prefix (etcds:// for TLS endpoints).
func OpenStore(spec string, tlsFiles EtcdTLS) (store.Store, error) {
	switch {
	case strings.HasPrefix(spec, "bolt:"):
		path := strings.TrimPrefix(spec, "bolt:")
		if path == "" {
			return nil, fmt.Errorf("store %q: want bolt:PATH", spec)
		}
		return store.OpenBolt(path)
	case strings.HasPrefix(spec, "etcd://"), strings.HasPrefix(spec, "etcds://"):
		ecfg, err := store.ParseEtcdURL(spec)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(spec, "etcds://") {
			if ecfg.TLS, err = tlsFiles.config(); err != nil {
				return nil, err
			}
		}
		return store.OpenEtcd(ecfg)
	}
	return nil, fmt.Errorf("store %q: want bolt:PATH or etcd://host:port[,host:port...][/prefix]", spec)
}

// Migrate copies every record of the store from into the empty store to
// and checks that both hold the same bytes (hedge root migrate).
func Migrate(out io.Writer, from, to string, tlsFiles EtcdTLS) error {
	src, err := OpenStore(from, tlsFiles)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := OpenStore(to, tlsFiles)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	stats, err := store.Copy(dst, src)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintf(out, "copied %d records in %d buckets from %s to %s; both hold the same bytes\n", stats.Records, stats.Buckets, from, to)
	return nil
}

// The root replicas on one etcd share one CA, kept in the store beside the
// other secrets (the JWT signing key, password hashes), so that clusters
// pinned to it trust whichever replica leads. A root on bbolt keeps its CA
// in its data directory only; an operator's CA (--tls-ca-cert) is the
// operator's to give every replica.
const (
	pkiBucket = "pki"
	pkiCAKey  = "ca"
)

type sharedCA struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

func sharesCA(st store.Store, t TLSConfig) bool {
	return store.EtcdClient(st) != nil && t.CACertFile == ""
}

// shareCA writes the replicas' CA from the store into dir, where rootTLS
// loads it, replacing any other CA found there.
func shareCA(st store.Store, dir string, t TLSConfig) error {
	if !sharesCA(st, t) {
		return nil
	}
	var ca sharedCA
	err := st.View(func(tx store.Tx) error { return tx.Get(pkiBucket, pkiCAKey, &ca) })
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the replicas' CA: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write the replicas' CA: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, pki.CAKeyFile), ca.Key, 0o600); err != nil {
		return fmt.Errorf("write the replicas' CA: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, pki.CAFile), ca.Cert, 0o644); err != nil {
		return fmt.Errorf("write the replicas' CA: %w", err)
	}
	return nil
}

// saveSharedCA stores the CA of dir for the other replicas, unless one is
// stored already.
func saveSharedCA(st store.Store, dir string, t TLSConfig) error {
	if !sharesCA(st, t) {
		return nil
	}
	cert, err := os.ReadFile(filepath.Join(dir, pki.CAFile))
	if err != nil {
		return fmt.Errorf("share the CA: %w", err)
	}
	key, err := os.ReadFile(filepath.Join(dir, pki.CAKeyFile))
	if err != nil {
		return fmt.Errorf("share the CA: %w", err)
	}
	return st.Update(func(tx store.Tx) error {
		err := tx.Get(pkiBucket, pkiCAKey, &sharedCA{})
		if errors.Is(err, store.ErrNotFound) {
			return tx.Put(pkiBucket, pkiCAKey, sharedCA{Cert: cert, Key: key})
		}
		return err
	})
}
