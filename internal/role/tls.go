package role

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/pki"
)

// TLSConfig is how the root serves TLS. By default it needs nothing: the
// root creates its CA in its data directory and serves a certificate the CA
// signed for its host names and addresses.
type TLSConfig struct {
	// CertFile and KeyFile are a certificate the operator gives for the API
	// (e.g. from a public CA); tier links keep the CA-signed one.
	CertFile, KeyFile string
	// CACertFile and CAKeyFile are an operator's CA to use instead of
	// creating one.
	CACertFile, CAKeyFile string
	// SANs are extra host names or addresses for the root's certificate.
	SANs []string
	// InsecureHTTP serves the API listener in plain HTTP, for use behind a
	// TLS-terminating proxy only; tier links then need LinkAddr.
	InsecureHTTP bool
	// LinkAddr, when set, is a second listener, always TLS, where clusters
	// dial in (and where the API is served too).
	LinkAddr string
}

// renewCheck is how often serving certificates are checked for renewal.
const renewCheck = time.Hour

// rootTLS loads or creates the root's CA and its serving certificate.
func rootTLS(dir string, cfg TLSConfig) (*pki.CA, *pki.Serving, error) {
	var ca *pki.CA
	var err error
	switch {
	case cfg.CACertFile != "" || cfg.CAKeyFile != "":
		if cfg.CACertFile == "" || cfg.CAKeyFile == "" {
			return nil, nil, errors.New("--tls-ca-cert and --tls-ca-key: give both or neither")
		}
		ca, err = pki.LoadCA(cfg.CACertFile, cfg.CAKeyFile)
	default:
		ca, err = pki.LoadOrCreateCA(dir)
	}
	if err != nil {
		return nil, nil, err
	}
	if cfg.CACertFile != "" {
		// Peers of hedge up and the docs expect the CA here.
		if err := os.WriteFile(filepath.Join(dir, pki.CAFile), ca.PEM, 0o644); err != nil {
			return nil, nil, fmt.Errorf("store CA: %w", err)
		}
	}
	cert, err := ca.IssueLocal("hedge root", append([]string{pki.RootName}, pki.HostNames(cfg.SANs)...))
	if err != nil {
		return nil, nil, err
	}
	s := pki.NewServing(cert)
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, nil, errors.New("--tls-cert and --tls-key: give both or neither")
		}
		op, err := pki.LoadKeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-cert: %w", err)
		}
		s.SetOperator(op)
	}
	return ca, s, nil
}

// renewRoot keeps the root's own serving certificate fresh.
func renewRoot(ctx context.Context, ca *pki.CA, s *pki.Serving, cfg TLSConfig, log *slog.Logger) {
	pki.Renew(ctx, s, renewCheck, time.Now, log, func(context.Context) (*tls.Certificate, error) {
		return ca.IssueLocal("hedge root", append([]string{pki.RootName}, pki.HostNames(cfg.SANs)...))
	})
}

// httpsURL checks that an upper tier's URL is https (a bare host:port is
// taken as one) and returns it. Root replicas are given comma-separated;
// each is checked.
func httpsURL(flag, raw string) (string, error) {
	var out []string
	for _, one := range strings.Split(raw, ",") {
		if !strings.Contains(one, "://") {
			one = "https://" + one
		}
		u, err := url.Parse(one)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("%s: %q is not a URL (want https://host:port)", flag, one)
		}
		if u.Scheme != "https" {
			return "", fmt.Errorf("%s: %q: want https:// (every link is TLS)", flag, one)
		}
		out = append(out, strings.TrimRight(one, "/"))
	}
	return strings.Join(out, ","), nil
}

// Trust is how a lower tier comes to trust the CA of its upper tier.
type Trust struct {
	// Pin is the CA's pin ("sha256:<hex>"), from the join token or --ca-pin.
	Pin string
	// CACertFile is the CA itself, given by the operator (--ca-cert).
	CACertFile string
}

// trustUpper returns the pool of CAs that the upper tier at upper must be
// signed by, as serverName. The CA is kept in dir: given as a file it is
// copied there; known by its pin only, it is fetched from the upper tier
// (retrying until it answers), checked against the pin, and stored.
func trustUpper(ctx context.Context, log *slog.Logger, dir, upper, serverName string, tr Trust) (*x509.CertPool, error) {
	caPath := filepath.Join(dir, pki.CAFile)
	if tr.CACertFile != "" {
		b, err := os.ReadFile(tr.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		if _, err := pki.ParseCert(b); err != nil {
			return nil, fmt.Errorf("--ca-cert %s: %w", tr.CACertFile, err)
		}
		if err := storeCA(caPath, b); err != nil {
			return nil, err
		}
	}
	if b, err := os.ReadFile(caPath); err == nil {
		c, err := pki.ParseCert(b)
		if err != nil {
			return nil, fmt.Errorf("CA %s: %w", caPath, err)
		}
		if tr.Pin == "" || pki.Pin(c) == tr.Pin {
			return pki.ReadPool(caPath)
		}
		log.Warn("tls: the stored CA does not match the pin given; fetching the CA again", "ca", caPath, "pin", tr.Pin)
	}
	if tr.Pin == "" {
		return nil, fmt.Errorf("no CA to trust for %s: give the join token that `hedge token create` prints (it carries the CA pin), --ca-pin or --ca-cert", upper)
	}
	var ca *x509.Certificate
	tr2 := http.DefaultTransport.(*http.Transport).Clone()
	tr2.TLSClientConfig = pki.PinnedConfig(tr.Pin, serverName, func(c *x509.Certificate) { ca = c })
	hc := &http.Client{Transport: tr2, Timeout: 10 * time.Second}
	defer tr2.CloseIdleConnections()
	replicas := strings.Split(upper, ",")
	for i, wait := 0, 250*time.Millisecond; ; i, wait = i+1, min(2*wait, 5*time.Second) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, replicas[i%len(replicas)]+"/link/v1/", nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			break
		}
		if errors.Is(err, pki.ErrPin) {
			return nil, fmt.Errorf("%s is not the tier the join token names: %w", upper, err)
		}
		log.Warn("tls: cannot reach the upper tier to fetch its CA, retrying", "upper", upper, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	if err := storeCA(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})); err != nil {
		return nil, err
	}
	log.Info("tls: CA of the upper tier verified against the pin and stored", "ca", caPath, "pin", tr.Pin)
	return pki.ReadPool(caPath)
}

func storeCA(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store CA: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("store CA: %w", err)
	}
	return nil
}

// linkClient is the HTTP client of a link to an upper tier: TLS that trusts
// only pool, expects serverName, and presents the client certificate that
// cert holds (none while joining).
func linkClient(pool *x509.CertPool, serverName string, cert *pki.Serving) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = pki.PeerConfig(pool, serverName, cert)
	return &http.Client{Transport: tr}
}

// peerFiles are where a lower tier keeps the certificate of its link and
// its key. A cluster's (serverName pki.ClusterName) also serves its
// workers.
type peerFiles struct {
	cert, key  string
	serverName string
}

// clusterFiles and workerFiles are the certificate files of a cluster and
// a worker in their data directories.
func clusterFiles(dir string) peerFiles {
	return peerFiles{filepath.Join(dir, "tls-cert.pem"), filepath.Join(dir, "tls-key.pem"), pki.ClusterName}
}

func workerFiles(dir string) peerFiles {
	return peerFiles{cert: filepath.Join(dir, "client-cert.pem"), key: filepath.Join(dir, "client-key.pem")}
}

// load returns the stored certificate if it is still valid: signed by
// pool's CA for client authentication (and serverName), naming a peer.
func (f peerFiles) load(pool *x509.CertPool) (*tls.Certificate, error) {
	c, err := pki.LoadKeyPair(f.cert, f.key)
	if err != nil {
		return nil, err
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: f.serverName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("certificate %s: %w", f.cert, err)
	}
	if _, _, ok := pki.PeerOf(c.Leaf); !ok {
		return nil, fmt.Errorf("certificate %s names no peer (issued before mutual TLS)", f.cert)
	}
	return c, nil
}

// store keeps a chain the upper tier signed with its key, and returns them
// as a certificate.
func (f peerFiles) store(chain []byte, key *ecdsa.PrivateKey) (*tls.Certificate, error) {
	keyPEM := pki.KeyPEM(key)
	c, err := pki.KeyPair(chain, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate from the upper tier: %w", err)
	}
	if err := pki.StoreKeyPair(f.cert, f.key, chain, keyPEM); err != nil {
		return nil, err
	}
	return c, nil
}

// connectPeer joins the upper tier (or reads the stored identity) and puts
// the peer's client certificate in cert: the stored one while it is valid,
// or the one signed at a new join. An identity kept without a valid
// certificate (joined before mutual TLS, or whose certificate expired while
// it was down) is dropped, so that the peer joins again with its token; with
// no token it is kept and the start fails, saying so.
func connectPeer(ctx context.Context, log *slog.Logger, dir, upper, secret, name string, hc *http.Client, cert *pki.Serving, files peerFiles) (link.Identity, error) {
	pool := hc.Transport.(*http.Transport).TLSClientConfig.RootCAs
	idPath := filepath.Join(dir, "identity.json")
	if _, err := os.Stat(idPath); err == nil {
		c, err := files.load(pool)
		if err != nil && secret == "" {
			return link.Identity{}, fmt.Errorf("the stored identity has no valid client certificate (%w): join again with a join token (--join-token)", err)
		}
		if err != nil {
			log.Warn("tls: the stored identity has no valid client certificate; joining again", "err", err)
			if err := os.Remove(idPath); err != nil {
				return link.Identity{}, fmt.Errorf("drop identity: %w", err)
			}
		} else {
			cert.Set(c)
		}
	}
	key, err := pki.NewKey()
	if err != nil {
		return link.Identity{}, err
	}
	csr, err := pki.CSR(key, name)
	if err != nil {
		return link.Identity{}, err
	}
	id, err := link.Connect(ctx, hc, log, idPath, upper, secret, name, csr)
	if err != nil {
		return link.Identity{}, err
	}
	if id.Certificate != "" {
		c, err := files.store([]byte(id.Certificate), key)
		if err != nil {
			return link.Identity{}, err
		}
		cert.Set(c)
	}
	// The join's connection presented no certificate: the link's requests
	// take new connections that present this one.
	hc.CloseIdleConnections()
	c := cert.Current()
	if c == nil {
		return link.Identity{}, fmt.Errorf("%s signed no client certificate at the join (an upper tier from before mutual TLS?)", upper)
	}
	if _, peer, _ := pki.PeerOf(c.Leaf); peer != id.ID {
		return link.Identity{}, fmt.Errorf("certificate %s names %q, not this peer (%s): remove it and identity.json and join again", files.cert, peer, id.ID)
	}
	return id, nil
}

// renewPeer keeps the peer's certificate fresh: the upper tier signs a new
// key over the link (authenticated by the current certificate) past two
// thirds of its life, and the next handshake (and, for a cluster, its
// listener) uses it.
func renewPeer(ctx context.Context, log *slog.Logger, cert *pki.Serving, files peerFiles, hc *http.Client, lc *link.Client, name string) {
	renew := func(ctx context.Context) (*tls.Certificate, error) {
		key, err := pki.NewKey()
		if err != nil {
			return nil, err
		}
		csr, err := pki.CSR(key, name)
		if err != nil {
			return nil, err
		}
		chain, err := lc.Certificate(ctx, csr)
		if err != nil {
			return nil, fmt.Errorf("certificate from the upper tier: %w", err)
		}
		c, err := files.store(chain, key)
		if err != nil {
			return nil, err
		}
		// Connections made with the old certificate are not reused:
		// idle ones are closed, so the next request proves the new one.
		cert.Set(c)
		hc.CloseIdleConnections()
		return c, nil
	}
	if pki.NeedsRenewal(cert.Current(), time.Now()) {
		if _, err := renew(ctx); err != nil {
			log.Warn("tls: cannot renew the certificate yet", "err", err)
		}
	}
	pki.Renew(ctx, cert, renewCheck, time.Now, log, renew)
}

// joinTrust checks the upper tier's URL, splits the join token into its CA
// pin and secret, and returns the link's HTTP client, trusting only that CA,
// expecting serverName and presenting the client certificate cert holds.
func joinTrust(ctx context.Context, log *slog.Logger, dir, flag, upper, serverName, token string, tr Trust, cert *pki.Serving) (string, string, *http.Client, error) {
	u, err := httpsURL(flag, upper)
	if err != nil {
		return "", "", nil, err
	}
	pin, secret, err := pki.SplitToken(token)
	if err != nil {
		return "", "", nil, fmt.Errorf("--join-token: %w", err)
	}
	if tr.Pin != "" {
		if tr.Pin, err = pki.ParsePin(tr.Pin); err != nil {
			return "", "", nil, fmt.Errorf("--ca-pin: %w", err)
		}
		if pin != "" && pin != tr.Pin {
			return "", "", nil, fmt.Errorf("--ca-pin %s differs from the pin in --join-token (%s)", tr.Pin, pin)
		}
	} else {
		tr.Pin = pin
	}
	pool, err := trustUpper(ctx, log, dir, u, serverName, tr)
	if err != nil {
		return "", "", nil, err
	}
	return u, secret, linkClient(pool, serverName, cert), nil
}
