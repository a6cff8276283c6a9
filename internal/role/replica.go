package role

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/leader"
	"github.com/hedgeorch/hedge/internal/pki"
	"github.com/hedgeorch/hedge/internal/replica"
	"github.com/hedgeorch/hedge/internal/root"
	"github.com/hedgeorch/hedge/internal/store"
)

// runReplica runs one of the root's replicas on etcd
// (docs/adr/015-root-on-etcd.md). It campaigns for the leadership and,
// until it wins, serves as a standby: reads from a copy of the store kept
// current by a watch, writes forwarded to the leader, tier links refused
// with a retry. Once it leads, it serves as the root; when it loses the
// lease it stops at once (errLostLeadership), and its supervisor restarts
// it as a standby.
func runReplica(ctx context.Context, st store.Store, cfg RootConfig) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	self, err := advertiseURL(cfg)
	if err != nil {
		return err
	}
	prefix := rootStorePrefix(cfg)
	type won struct {
		lease *leader.Lease
		err   error
	}
	campaign := make(chan won, 1)
	go func() {
		l, err := leader.Campaign(ctx, st, prefix, self, cfg.LeaseTTL, cfg.Logger)
		campaign <- won{l, err}
	}()

	var h atomic.Pointer[http.Handler]
	current := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) })
	listening := make(chan error, 1)
	started := false
	var ca *pki.CA
	var serving *pki.Serving

	// A standby serves once the first leader has made the replicas' CA.
	var w won
	select {
	case w = <-campaign:
	case err := <-waitSharedCA(ctx, st, cfg.TLS):
		if err != nil {
			return err
		}
		if ca, serving, err = replicaTLS(st, cfg); err != nil {
			return err
		}
		sctx, stopStandby := context.WithCancel(ctx)
		defer stopStandby()
		sb, err := standbyHandler(sctx, st, prefix, ca, cfg)
		if err != nil {
			return err
		}
		h.Store(&sb)
		started = true
		go func() { listening <- listenRoot(ctx, cfg, ca, serving, current) }()
		select {
		case w = <-campaign:
			// Until the root is loaded, say so rather than forward to
			// itself.
			var taking http.Handler = http.HandlerFunc(takingOver)
			h.Store(&taking)
			stopStandby() // the copy's watch: the leader reads etcd
		case err := <-listening:
			return err
		}
	}
	if w.err != nil {
		stopped := ctx.Err() != nil
		if started {
			cancel()
			<-listening
		}
		if stopped {
			return nil // stopped while standing by
		}
		return w.err
	}
	lost := holdLease(ctx, cancel, w.lease, cfg.Logger)
	defer releaseLease(w.lease, lost)
	if ca == nil { // it led at once: nothing loaded, nothing listens yet
		if ca, serving, err = replicaTLS(st, cfg); err != nil {
			return err
		}
	}
	lh, err := leadingHandler(ctx, st, ca, serving, cfg)
	if err != nil {
		return err
	}
	h.Store(&lh)
	if started {
		cfg.Logger.Info("root: serving as the leader", "url", self)
	} else {
		go func() { listening <- listenRoot(ctx, cfg, ca, serving, current) }()
	}
	err = <-listening
	if lost.Load() {
		return errLostLeadership
	}
	return err
}

// waitSharedCA reports (nil) once the replicas' CA is in the store, or
// why it cannot be waited for. A replica given its own CA (--tls-ca-cert)
// need not wait.
func waitSharedCA(ctx context.Context, st store.Store, t TLSConfig) <-chan error {
	out := make(chan error, 1)
	if !sharesCA(st, t) {
		out <- nil
		return out
	}
	go func() {
		for {
			err := st.View(func(tx store.Tx) error { return tx.Get(pkiBucket, pkiCAKey, &sharedCA{}) })
			if !errors.Is(err, store.ErrNotFound) {
				out <- err
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return out
}

// standbyHandler serves the API while another replica leads: a root over
// a watched copy of the store answers reads, the leader the rest. The
// copy's watch ends with ctx.
func standbyHandler(ctx context.Context, st store.Store, prefix string, ca *pki.CA, cfg RootConfig) (http.Handler, error) {
	cache, err := store.WatchEtcd(ctx, st, cfg.Logger)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12},
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		TLSHandshakeTimeout: 3 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     time.Minute,
	}
	quiet := cfg.Logger.With("view", "standby")
	sb := replica.New(replica.Config{
		Copy: cache,
		View: func() (http.Handler, error) { return rootView(cache, ca, cfg, quiet) },
		Leader: func(ctx context.Context) (string, error) {
			ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			u, err := leader.Current(ctx, st, prefix)
			if errors.Is(err, leader.ErrNoLeader) {
				return "", fmt.Errorf("%w: %w", replica.ErrNoLeader, err)
			}
			return u, err
		},
		Transport: tr,
		Logger:    cfg.Logger,
	})
	return root.WithCORS(sb, cfg.CORSOrigins), nil
}

// rootView is a root over the standby's copy that only answers reads: it
// runs no loop, and every write it would make is refused (store.ErrFenced).
func rootView(cache store.Store, ca *pki.CA, cfg RootConfig, log *slog.Logger) (http.Handler, error) {
	au, err := auth.NewService(cache, auth.Options{Logger: log, TrustedProxies: cfg.TrustedProxies})
	if err != nil {
		return nil, fmt.Errorf("auth over the copy: %w", err)
	}
	r, err := root.New(root.Config{Store: cache, Auth: au, Logger: log, ClusterTimeout: cfg.ClusterTimeout, CA: ca})
	if err != nil {
		return nil, err
	}
	return r.Handler(), nil
}

// advertiseURL is where the other replicas reach this one's API.
func advertiseURL(cfg RootConfig) (string, error) {
	if cfg.AdvertiseURL != "" {
		u, err := url.Parse(cfg.AdvertiseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", fmt.Errorf("--advertise-url %q: want https://host:port", cfg.AdvertiseURL)
		}
		return cfg.AdvertiseURL, nil
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return "", fmt.Errorf("--api-addr %q: %w", cfg.Addr, err)
	}
	if port == "0" {
		return "", fmt.Errorf("--api-addr %q: the other replicas need a fixed port to reach this one (or give --advertise-url)", cfg.Addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("--advertise-url: not given, and no host name: %w", err)
		}
	}
	scheme := "https"
	if cfg.TLS.InsecureHTTP {
		scheme = "http"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// takingOver answers while a replica that has just won the leadership
// loads the root.
func takingOver(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "this replica is taking over as the leader: retry in a second", http.StatusServiceUnavailable)
}
