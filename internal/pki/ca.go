package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

// Names a tier's certificate carries so that links can verify the role of
// the peer independently of the address it was dialled at (as Nomad's
// server.<region>.nomad): only the root's certificate names RootName, and
// the root only ever signs ClusterName into a cluster's certificate, so a
// cluster can never pose as the root.
const (
	RootName    = "root.hedge"
	ClusterName = "cluster.hedge"
)

// Files in a data directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// Lifetimes of what the CA signs.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 365 * 24 * time.Hour
	// clockSkew backdates certificates so that peers whose clocks lag a
	// little accept them at once.
	clockSkew = 5 * time.Minute
)

// ErrPin is returned when a CA does not match the pin a peer was given.
var ErrPin = errdefs.New(errdefs.ErrUnauthorized, "CA does not match the pin")

// ErrInvalid marks malformed input (a pin, a PEM file, a CSR).
var ErrInvalid = errdefs.New(errdefs.ErrInvalid, "invalid")

// CA is a certificate authority: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is Cert, PEM-encoded.
	PEM []byte
	now func() time.Time
}

// LoadOrCreateCA returns the CA stored in dir, creating it (key 0600) on the
// first call.
func LoadOrCreateCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	ca, err := LoadCA(certPath, keyPath)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return ca, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Hedge CA", Organization: []string{"Hedge"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	if err := writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	return LoadCA(certPath, keyPath)
}

// LoadCA reads a CA from a certificate and an EC private key in PEM files
// (such as an operator's own CA given with --tls-ca-cert/--tls-ca-key).
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", certPath, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("CA %s: not a CA certificate: %w", certPath, ErrInvalid)
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, fmt.Errorf("CA key %s: no PEM block: %w", keyPath, ErrInvalid)
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		k, err2 := x509.ParsePKCS8PrivateKey(b.Bytes)
		ek, ok := k.(*ecdsa.PrivateKey)
		if err2 != nil || !ok {
			return nil, fmt.Errorf("CA key %s: want an EC private key: %w", keyPath, ErrInvalid)
		}
		key = ek
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("CA key %s does not belong to %s: %w", keyPath, certPath, ErrInvalid)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), now: time.Now}, nil
}

// Pin returns the CA's pin, "sha256:<hex>" of its public key.
func (ca *CA) Pin() string { return Pin(ca.Cert) }

// Pool returns a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Sign issues a serving certificate for pub, valid for a year, that names
// the DNS names and IP addresses in names. The names of a CSR are never
// used: the caller decides them.
func (ca *CA) Sign(pub any, commonName string, names []string) ([]byte, error) {
	return ca.sign(pub, commonName, names, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
}

func (ca *CA) sign(pub any, commonName string, names []string, uris []*url.URL, usage []x509.ExtKeyUsage) ([]byte, error) {
	now := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"Hedge"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		URIs:         uris,
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", commonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// SignCSR checks a PEM certificate request's signature and issues a
// certificate for its key with the given name and names (the request's own
// names are ignored). It returns the certificate followed by the CA's, so
// that the holder serves the whole chain.
func (ca *CA) SignCSR(csrPEM []byte, commonName string, names []string) ([]byte, error) {
	pub, err := csrKey(csrPEM)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Sign(pub, commonName, names)
	if err != nil {
		return nil, err
	}
	return append(leaf, ca.PEM...), nil
}

// SignPeer checks a PEM certificate request's signature and issues a
// client certificate for its key that names a peer of a tier link: common
// name id and the URI PeerURI(kind, id). With names (a cluster's
// cluster.hedge) the certificate also serves TLS under those names. The
// request's own names are ignored. It returns the chain [leaf, CA].
func (ca *CA) SignPeer(csrPEM []byte, kind, id string, names []string) ([]byte, error) {
	if kind != KindCluster && kind != KindNode || id == "" || strings.ContainsAny(id, "/?#") {
		return nil, fmt.Errorf("peer certificate for %s %q: want a cluster or node id: %w", kind, id, ErrInvalid)
	}
	pub, err := csrKey(csrPEM)
	if err != nil {
		return nil, err
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if len(names) > 0 {
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	leaf, err := ca.sign(pub, id, names, []*url.URL{PeerURI(kind, id)}, usage)
	if err != nil {
		return nil, err
	}
	return append(leaf, ca.PEM...), nil
}

// Kinds of peers named in client certificates.
const (
	KindCluster = "cluster"
	KindNode    = "node"
)

// PeerURI is the URI a peer's client certificate names it by:
// hedge://cluster/<id> or hedge://node/<id>.
func PeerURI(kind, id string) *url.URL {
	return &url.URL{Scheme: "hedge", Host: kind, Path: "/" + id}
}

// PeerOf returns the kind and id of the peer a client certificate names
// (its hedge:// URI), or ok false if it names none.
func PeerOf(cert *x509.Certificate) (kind, id string, ok bool) {
	for _, u := range cert.URIs {
		id, found := strings.CutPrefix(u.Path, "/")
		if u.Scheme == "hedge" && (u.Host == KindCluster || u.Host == KindNode) && found && id != "" {
			return u.Host, id, true
		}
	}
	return "", "", false
}

// csrKey returns the public key of a PEM certificate request whose
// signature checks.
func csrKey(csrPEM []byte) (any, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("csr: want a PEM CERTIFICATE REQUEST: %w", ErrInvalid)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr: %v: %w", err, ErrInvalid)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr: signature: %v: %w", err, ErrInvalid)
	}
	return csr.PublicKey, nil
}

// Pin returns "sha256:<hex>" of the certificate's SubjectPublicKeyInfo, the
// form kubeadm prints for --discovery-token-ca-cert-hash.
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParsePin checks that s is a pin as Pin returns it and returns it in
// lower case.
func ParsePin(s string) (string, error) {
	h, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	if b, err := hex.DecodeString(h); !ok || err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA pin %q: want sha256:<64 hex digits>: %w", s, ErrInvalid)
	}
	return "sha256:" + h, nil
}

// ParseCert returns the first certificate in PEM data.
func ParseCert(pemData []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, pemData = pem.Decode(pemData)
		if b == nil {
			return nil, fmt.Errorf("no PEM certificate: %w", ErrInvalid)
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate: %v: %w", err, ErrInvalid)
			}
			return c, nil
		}
	}
}

// ReadPool reads a PEM file of CA certificates into a pool.
func ReadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA %s: no PEM certificate: %w", path, ErrInvalid)
	}
	return p, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// writeFile writes b to path atomically with mode perm.
func writeFile(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
