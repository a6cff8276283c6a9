package role

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hedgeorch/hedge/internal/leader"
	"github.com/hedgeorch/hedge/internal/pki"
	"github.com/hedgeorch/hedge/internal/store"
)

// openClusterStore opens cfg.Store: bbolt in the data dir by default, or
// etcd. A cluster on etcd given no prefix keeps its keys under
// /hedge-clusters/NAME/, apart from the root's and from other clusters'.
func openClusterStore(cfg ClusterConfig) (store.Store, error) {
	if cfg.Store == "" {
		return store.OpenBolt(filepath.Join(cfg.DataDir, "cluster", "state.db"))
	}
	spec, err := clusterStoreSpec(cfg)
	if err != nil {
		return nil, err
	}
	return OpenStore(spec, cfg.EtcdTLS)
}

func clusterStoreSpec(cfg ClusterConfig) (string, error) {
	scheme, rest, ok := strings.Cut(cfg.Store, "://")
	if !ok || scheme != "etcd" && scheme != "etcds" {
		return "", fmt.Errorf("--store %q: want etcd://host:port[,host:port...][/prefix] (etcds:// for TLS)", cfg.Store)
	}
	if !strings.Contains(rest, "/") {
		return cfg.Store + "/hedge-clusters/" + url.PathEscape(cfg.Name), nil
	}
	return cfg.Store, nil
}

// runClusterReplica runs one of a cluster's replicas on etcd: it waits
// until it leads, takes the cluster's identity from the store (the first
// leader joined the root and put it there), and runs the cluster; it does
// not listen while it waits, so workers given every replica's URL
// (--cluster A,B) dial the leader. When it loses the lease it stops at once
// (errLostLeadership), and its supervisor restarts it as a standby.
func runClusterReplica(ctx context.Context, st store.Store, cfg ClusterConfig) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	spec, err := clusterStoreSpec(cfg)
	if err != nil {
		return err
	}
	ecfg, err := store.ParseEtcdURL(spec)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	l, err := leader.Campaign(ctx, st, ecfg.Prefix, host+" "+cfg.Addr, cfg.LeaseTTL, cfg.Logger)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while standing by
		}
		return err
	}
	lost := holdLease(ctx, cancel, l, cfg.Logger)
	defer releaseLease(l, lost)
	dir := filepath.Join(cfg.DataDir, "cluster")
	if err := restorePeerFiles(st, dir); err != nil {
		return err
	}
	go keepPeerFiles(ctx, st, dir, cfg.Logger)
	err = runCluster(ctx, st, cfg)
	if lost.Load() {
		return errLostLeadership
	}
	return err
}

// holdLease cancels the leader's work (through cancel) as soon as its
// lease ends, and reports whether it did.
func holdLease(ctx context.Context, cancel context.CancelFunc, l *leader.Lease, log *slog.Logger) *atomic.Bool {
	var lost atomic.Bool
	go func() {
		select {
		case <-l.Done():
			lost.Store(true)
			log.Error("lost the leadership (etcd lease ended); stopping at once")
			cancel()
		case <-ctx.Done():
		}
	}()
	return &lost
}

// releaseLease gives the leadership up on the way out, unless the lease
// already ended: there is nothing to give up, and reaching etcd to do so is
// what just failed.
func releaseLease(l *leader.Lease, lost *atomic.Bool) {
	if !lost.Load() {
		l.Resign()
	}
}

// A cluster's replicas are one peer of the root: the identity, credential
// and certificate the first leader got when it joined are kept in the store
// for the next leader, beside the workers' credentials.
const peerFilesBucket = "peer_files"

var peerFileNames = []string{pki.CAFile, "identity.json", "tls-cert.pem", "tls-key.pem"}

// savePeerFiles stores the peer's files of dir for the other replicas (on
// etcd only).
func savePeerFiles(st store.Store, dir string) error {
	if store.EtcdClient(st) == nil {
		return nil
	}
	files := map[string][]byte{}
	for _, name := range peerFileNames {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("share the cluster's identity: %w", err)
		}
		files[name] = b
	}
	return st.Update(func(tx store.Tx) error {
		for name, b := range files {
			var old []byte
			if err := tx.Get(peerFilesBucket, name, &old); err == nil && string(old) == string(b) {
				continue
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := tx.Put(peerFilesBucket, name, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// restorePeerFiles writes the peer's files kept in the store into dir,
// where the cluster's connection to the root reads them.
func restorePeerFiles(st store.Store, dir string) error {
	files := map[string][]byte{}
	err := st.View(func(tx store.Tx) error {
		for _, name := range peerFileNames {
			var b []byte
			if err := tx.Get(peerFilesBucket, name, &b); errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			files[name] = b
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the cluster's identity: %w", err)
	}
	if len(files) == 0 {
		return nil // the first leader: it joins
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write the cluster's identity: %w", err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return fmt.Errorf("write the cluster's identity: %w", err)
		}
	}
	return nil
}

// keepPeerFiles stores the peer's files again after they change (the
// certificate is renewed), until ctx ends.
func keepPeerFiles(ctx context.Context, st store.Store, dir string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
		if err := savePeerFiles(st, dir); err != nil && ctx.Err() == nil {
			log.Warn("share the cluster's identity", "err", err)
		}
	}
}
