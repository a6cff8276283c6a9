package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"

	"github.com/hedgeorch/hedge/internal/pki"
)

// caPEM is the CA the client trusts for server: --ca-cert, else
// HEDGE_CA_CERT, else the one stored at login for that same server; nil
// means the system's roots.
func (a *app) caPEM(cfg config, server string) ([]byte, error) {
	path := a.caCert
	if path == "" {
		path = a.getenv("HEDGE_CA_CERT")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		if _, err := pki.ParseCert(b); err != nil {
			return nil, fmt.Errorf("--ca-cert %s: %w", path, err)
		}
		return b, nil
	}
	if cfg.Server == server && cfg.CACert != "" {
		return []byte(cfg.CACert), nil
	}
	return nil, nil
}

// httpFor returns the HTTP client for server, trusting its CA when one is
// known.
func (a *app) httpFor(cfg config, server string) (*http.Client, error) {
	ca, err := a.caPEM(cfg, server)
	if err != nil || ca == nil {
		return a.httpClient, err
	}
	return caClient(a.httpClient, ca)
}

// caClient returns a copy of base (or a new client) that trusts only the
// CA in caPEM.
func caClient(base *http.Client, caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA: no PEM certificate: %w", pki.ErrInvalid)
	}
	return tlsClient(base, pki.ClientConfig(pool, "")), nil
}

func tlsClient(base *http.Client, cfg *tls.Config) *http.Client {
	hc := &http.Client{}
	if base != nil {
		*hc = *base
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	hc.Transport = tr
	return hc
}

// fetchPinnedCA connects to server trusting only a CA whose key matches pin
// (the server must present it in its chain, as Hedge's root does) and
// returns that CA in PEM.
func fetchPinnedCA(req *http.Request, base *http.Client, pin string) ([]byte, error) {
	var found *x509.Certificate
	// The certificate must name the host dialled, as with any CA.
	hc := tlsClient(base, pki.PinnedConfig(pin, req.URL.Hostname(), func(c *x509.Certificate) { found = c }))
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the CA of %s: %w", req.URL.Host, err)
	}
	resp.Body.Close()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: found.Raw}), nil
}
