package simworker

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/pki"
)

// Config describes a fleet of simulated workers joined to one cluster.
type Config struct {
	// Cluster is the cluster's link URL (https://host:port).
	Cluster string
	// Token is a worker join token as `hedge token create --kind worker`
	// prints it ("sha256:<CA pin>::<secret>"); it must admit Count joins.
	Token string
	// Prefix names the workers: Prefix-0, Prefix-1, ...
	Prefix string
	// Count is how many workers to run.
	Count int
	// Capacity is what each worker offers (default 4 vCPUs, 8 GB).
	Capacity api.Resources
	// StartDelay is the simulated time from assignment to RUNNING
	// (default 100 ms).
	StartDelay time.Duration
	// ReportInterval is the workers' heartbeat (default 1 s, as a worker's).
	ReportInterval time.Duration
	// Joins bounds the joins under way at once (default 8).
	Joins  int
	Logger *slog.Logger
}

// ErrConfig is returned for a fleet configuration that cannot run.
var ErrConfig = errors.New("simworker: invalid configuration")

func (c *Config) defaults() error {
	switch {
	case c.Cluster == "":
		return fmt.Errorf("%w: cluster: required (https://host:port)", ErrConfig)
	case !strings.HasPrefix(c.Cluster, "https://"):
		return fmt.Errorf("%w: cluster %q: want https:// (every link is TLS)", ErrConfig, c.Cluster)
	case c.Token == "":
		return fmt.Errorf("%w: token: required (a worker join token)", ErrConfig)
	case c.Count < 1:
		return fmt.Errorf("%w: count %d: want at least 1", ErrConfig, c.Count)
	}
	if c.Prefix == "" {
		c.Prefix = "sim"
	}
	if c.Capacity == (api.Resources{}) {
		c.Capacity = api.Resources{VCPUs: 4, MemoryMB: 8 << 10}
	}
	if c.StartDelay <= 0 {
		c.StartDelay = 100 * time.Millisecond
	}
	if c.ReportInterval <= 0 {
		c.ReportInterval = time.Second
	}
	if c.Joins <= 0 {
		c.Joins = 8
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Fleet is a running set of simulated workers.
type Fleet struct {
	// Workers are the fleet's workers, in the order of their names.
	Workers []*Worker
	wg      sync.WaitGroup
}

// Start joins cfg.Count simulated workers to the cluster, each with its own
// TLS connections, identity and credential, and keeps them linked until
// ctx ends (Wait waits for that). It returns once every worker has joined,
// or with the first join that failed.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	pin, secret, err := pki.SplitToken(cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("simworker: token: %w", err)
	}
	if pin == "" {
		return nil, fmt.Errorf("%w: token: want one that carries the CA pin (sha256:...::secret)", ErrConfig)
	}
	pool, err := FetchCA(ctx, cfg.Cluster, pin)
	if err != nil {
		return nil, err
	}
	f := &Fleet{Workers: make([]*Worker, cfg.Count)}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, cfg.Joins)
	errs := make(chan error, cfg.Count)
	var joins sync.WaitGroup
	for i := range cfg.Count {
		w := NewWorker(fmt.Sprintf("%s-%d", cfg.Prefix, i), cfg.Capacity, cfg.StartDelay)
		f.Workers[i] = w
		joins.Add(1)
		go func() {
			defer joins.Done()
			select {
			case sem <- struct{}{}:
			case <-jctx.Done():
				return
			}
			defer func() { <-sem }()
			cert := pki.NewServing(nil)
			hc := linkClient(pool, cert)
			resp, err := join(jctx, hc, cfg.Cluster, secret, w.name, cert)
			if err != nil {
				errs <- fmt.Errorf("simworker %s: %w", w.name, err)
				cancel()
				return
			}
			c := link.NewClient(cfg.Cluster, resp.Credential, hc)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer hc.CloseIdleConnections()
				defer w.stop()
				link.Run(ctx, c, w, link.RunOptions{ReportInterval: cfg.ReportInterval, Logger: cfg.Logger.With("node", w.name)})
			}()
		}()
	}
	joins.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return f, err
	}
	return f, ctx.Err()
}

// Wait waits until every worker stopped (after the context given to Start
// ended).
func (f *Fleet) Wait() { f.wg.Wait() }

// join presents the token with a certificate request, retrying while the
// cluster cannot be reached or answers 5xx; a refusal ends it. The client
// certificate signed at the join goes into cert, and the join's connection
// (made without one) is closed, as a worker does.
func join(ctx context.Context, hc *http.Client, cluster, secret, name string, cert *pki.Serving) (link.JoinResponse, error) {
	key, err := pki.NewKey()
	if err != nil {
		return link.JoinResponse{}, err
	}
	csr, err := pki.CSR(key, name)
	if err != nil {
		return link.JoinResponse{}, err
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		resp, err := link.Join(ctx, hc, cluster, link.JoinRequest{Token: secret, Name: name, CSR: string(csr)})
		var se *link.StatusError
		if err == nil {
			c, err := pki.KeyPair([]byte(resp.Certificate), pki.KeyPEM(key))
			if err != nil {
				return link.JoinResponse{}, fmt.Errorf("join: client certificate: %w", err)
			}
			cert.Set(c)
			hc.CloseIdleConnections()
			return resp, nil
		}
		if errors.As(err, &se) && se.Code < 500 {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return link.JoinResponse{}, fmt.Errorf("join: %w (last: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// linkClient is one worker's HTTP client: its own connections, TLS that
// trusts only the pinned CA, expects the cluster's name and presents the
// client certificate cert holds, as a worker's.
func linkClient(pool *x509.CertPool, cert *pki.Serving) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = pki.PeerConfig(pool, pki.ClusterName, cert)
	tr.MaxIdleConnsPerHost = 4 // the two long-polls and a report
	return &http.Client{Transport: tr}
}

// FetchCA connects to the cluster at url, checks that it presents a CA
// with the given pin and a certificate that CA signed for the cluster's
// name, and returns a pool of that CA alone: what a worker does on its
// first join. It retries while the cluster cannot be reached.
func FetchCA(ctx context.Context, url, pin string) (*x509.CertPool, error) {
	var ca *x509.Certificate
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = pki.PinnedConfig(pin, pki.ClusterName, func(c *x509.Certificate) { ca = c })
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/link/v1/", nil)
		if err != nil {
			return nil, fmt.Errorf("simworker: cluster %q: %w", url, err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			return pool, nil
		}
		if errors.Is(err, pki.ErrPin) {
			return nil, fmt.Errorf("simworker: %s is not the cluster the token names: %w", url, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("simworker: fetch the CA of %s: %w (last: %w)", url, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}
