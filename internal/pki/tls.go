package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// Serving holds a certificate that can be replaced while servers (or, for
// a link's client certificate, clients) use it, so that certificates rotate
// without a restart.
type Serving struct {
	mu   sync.RWMutex
	cert *tls.Certificate
	// operator, when set, is served to clients that do not ask for a
	// tier name by SNI (browsers, the CLI): the certificate the operator
	// gave for the API.
	operator *tls.Certificate
}

// NewServing returns a Serving that starts with cert.
func NewServing(cert *tls.Certificate) *Serving { return &Serving{cert: cert} }

// SetOperator serves cert to API clients; tier links (SNI RootName or
// ClusterName) still get the CA-signed certificate.
func (s *Serving) SetOperator(cert *tls.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.operator = cert
}

// Set replaces the certificate.
func (s *Serving) Set(cert *tls.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cert = cert
}

// Current returns the CA-signed certificate.
func (s *Serving) Current() *tls.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cert
}

// GetCertificate implements tls.Config.GetCertificate.
func (s *Serving) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.operator != nil && hello.ServerName != RootName && hello.ServerName != ClusterName {
		return s.operator, nil
	}
	return s.cert, nil
}

// ServerConfig returns the TLS settings of a listener serving s.
func (s *Serving) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.GetCertificate}
}

// MutualConfig is ServerConfig on a listener where tier links arrive: a
// client certificate is asked for, and one that is given must verify
// against clients (the CA) for client authentication, or the handshake
// fails. Clients without one (API users, a join) still connect; the link
// server refuses their link requests.
func (s *Serving) MutualConfig(clients *x509.CertPool) *tls.Config {
	c := s.ServerConfig()
	c.ClientCAs, c.ClientAuth = clients, tls.VerifyClientCertIfGiven
	return c
}

// GetClientCertificate implements tls.Config.GetClientCertificate: s holds
// the client certificate of a link (a peer's). Before it holds one (while
// joining) no certificate is sent.
func (s *Serving) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if c := s.Current(); c != nil {
		return c, nil
	}
	return &tls.Certificate{}, nil
}

// NeedsRenewal reports whether cert has passed two thirds of its lifetime
// at now (or cannot be read).
func NeedsRenewal(cert *tls.Certificate, now time.Time) bool {
	if cert == nil || cert.Leaf == nil {
		return true
	}
	life := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore)
	return now.After(cert.Leaf.NotBefore.Add(life * 2 / 3))
}

// Renew calls renew whenever the certificate held by s needs renewal,
// checking every interval until ctx ends. Failures are logged and tried
// again at the next check.
func Renew(ctx context.Context, s *Serving, interval time.Duration, now func() time.Time, log *slog.Logger,
	renew func(context.Context) (*tls.Certificate, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !NeedsRenewal(s.Current(), now()) {
			continue
		}
		c, err := renew(ctx)
		if err != nil {
			log.Warn("tls: cannot renew the certificate yet", "err", err)
			continue
		}
		s.Set(c)
		log.Info("tls: certificate renewed", "not_after", c.Leaf.NotAfter)
	}
}

// NewKey returns a fresh ECDSA P-256 key.
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// CSR returns a PEM certificate request for key.
func CSR(key *ecdsa.PrivateKey, commonName string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: commonName}}, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// KeyPEM encodes key.
func KeyPEM(key *ecdsa.PrivateKey) []byte {
	der, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// KeyPair parses a PEM chain and key into a certificate with Leaf set.
func KeyPair(chainPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("key pair: %v: %w", err, ErrInvalid)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("key pair: %v: %w", err, ErrInvalid)
		}
	}
	return &c, nil
}

// LoadKeyPair reads a certificate chain and key from PEM files.
func LoadKeyPair(certPath, keyPath string) (*tls.Certificate, error) {
	c, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	k, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	kp, err := KeyPair(c, k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	return kp, nil
}

// StoreKeyPair writes a chain (0644) and key (0600) to PEM files.
func StoreKeyPair(certPath, keyPath string, chainPEM, keyPEM []byte) error {
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	if err := writeFile(certPath, chainPEM, 0o644); err != nil {
		return fmt.Errorf("store certificate: %w", err)
	}
	return nil
}

// IssueLocal issues a serving certificate with a fresh key from ca itself
// (the root's own), naming names, with the chain [leaf, CA].
func (ca *CA) IssueLocal(commonName string, names []string) (*tls.Certificate, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Sign(&key.PublicKey, commonName, names)
	if err != nil {
		return nil, err
	}
	return KeyPair(append(leaf, ca.PEM...), KeyPEM(key))
}

// HostNames returns the names a root's certificate should carry so that
// clients reach it by any local address: localhost, the loopback and
// interface addresses, the host name, and extra (--tls-san).
func HostNames(extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				names = append(names, n.IP.String())
			}
		}
	}
	return append(names, extra...)
}

// ClientConfig returns TLS settings that trust only pool and expect the
// server to be named serverName ("" for the host dialled).
func ClientConfig(pool *x509.CertPool, serverName string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: serverName}
}

// PeerConfig is ClientConfig for a tier link that proves the peer's
// identity with the client certificate held by cert, read at each
// handshake so that a renewed one is used at once.
func PeerConfig(pool *x509.CertPool, serverName string, cert *Serving) *tls.Config {
	c := ClientConfig(pool, serverName)
	c.GetClientCertificate = cert.GetClientCertificate
	return c
}

// PinnedConfig returns TLS settings for the first contact with an upper
// tier whose CA is known only by its pin: the server must present, in its
// chain, a CA certificate whose public key matches pin, and a leaf that this
// CA signed for serverName. found is called with that CA, for the caller to
// store and trust from then on.
func PinnedConfig(pin, serverName string, found func(*x509.Certificate)) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		// Verified below against the pinned CA instead of system roots.
		InsecureSkipVerify: true, //nolint:gosec // replaced by VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			ca, err := VerifyPinned(cs.PeerCertificates, pin, serverName)
			if err != nil {
				return err
			}
			if found != nil {
				found(ca)
			}
			return nil
		},
	}
}

// VerifyPinned checks a chain as PinnedConfig does and returns the CA.
func VerifyPinned(chain []*x509.Certificate, pin, serverName string) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("tls: no certificate presented: %w", ErrPin)
	}
	var ca *x509.Certificate
	for _, c := range chain[1:] {
		if c.IsCA && Pin(c) == pin {
			ca = c
		}
	}
	if ca == nil {
		return nil, fmt.Errorf("tls: the server's chain has no CA with pin %s: %w", pin, ErrPin)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: serverName}); err != nil {
		return nil, errors.Join(ErrPin, err)
	}
	return ca, nil
}
