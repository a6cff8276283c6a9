package link

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hedgeorch/hedge/internal/pki"
)

// peerUpper is fuzzUpper at a root: it signs its peers' certificates with a
// CA and says its peers are clusters.
type peerUpper struct {
	fuzzUpper
	ca *pki.CA
}

func (u peerUpper) SignCertificate(_ context.Context, peer string, csr []byte) ([]byte, error) {
	return u.ca.SignPeer(csr, pki.KindCluster, peer, []string{pki.ClusterName})
}

func (u peerUpper) PeerKind() string { return pki.KindCluster }

// peerCert is a client certificate that ca signs for a peer of kind and id.
func peerCert(t *testing.T, ca *pki.CA, kind, id string) *tls.Certificate {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.SignPeer(csr, kind, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.KeyPair(chain, pki.KeyPEM(key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mutualServer serves up over TLS as the root's link listener does: a
// client certificate is verified if given.
func mutualServer(t *testing.T, ca *pki.CA, up Upper) *httptest.Server {
	t.Helper()
	cert, err := ca.IssueLocal("root", []string{pki.RootName})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(NewServer(up, slog.New(slog.DiscardHandler)).Handler())
	srv.TLS = pki.NewServing(cert).MutualConfig(ca.Pool())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// peerClient is a link client that presents cert (none if nil).
func peerClient(ca *pki.CA, url, cred string, cert *tls.Certificate) (*Client, *pki.Serving) {
	holder := pki.NewServing(cert)
	tr := &http.Transport{TLSClientConfig: pki.PeerConfig(ca.Pool(), pki.RootName, holder)}
	return NewClient(url, cred, &http.Client{Transport: tr}), holder
}

func TestLinkRequestsNeedTheClientCertificateOfTheirPeer(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := mutualServer(t, ca, peerUpper{fuzzUpper{t}, ca})
	report := &Report{Node: &NodeReport{Name: "n"}}
	ctx := context.Background()

	for _, tt := range []struct {
		name      string
		cert      *tls.Certificate
		refused   bool
		handshake bool
	}{
		{"its own certificate", peerCert(t, ca, pki.KindCluster, "p"), false, false},
		{"no certificate", nil, true, false},
		{"another peer's certificate", peerCert(t, ca, pki.KindCluster, "q"), true, false},
		{"a node's certificate of the same id", peerCert(t, ca, pki.KindNode, "p"), true, false},
		{"a certificate of another CA", peerCert(t, other, pki.KindCluster, "p"), true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lc, _ := peerClient(ca, srv.URL, "p.secret", tt.cert)
			err := lc.Report(ctx, report)
			if !tt.refused {
				if err != nil {
					t.Fatalf("report with the peer's credential and certificate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("report with a valid credential was accepted")
			}
			// A certificate of another CA fails the handshake; the others
			// reach the link server, which answers 401.
			var se *StatusError
			if isStatus := errors.As(err, &se); isStatus == tt.handshake || isStatus && se.Code != http.StatusUnauthorized {
				t.Errorf("err = %v, want %s", err, map[bool]string{true: "a failed handshake", false: "401"}[tt.handshake])
			}
			if _, err := lc.Assignments(ctx, 0, 0); err == nil {
				t.Error("assignments were given")
			}
		})
	}
}

func TestJoinGivesAClientCertificateNamingThePeer(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := mutualServer(t, ca, peerUpper{fuzzUpper{t}, ca})
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, "a name the root ignores")
	if err != nil {
		t.Fatal(err)
	}
	// Joining needs no client certificate: the peer has none yet.
	lc, holder := peerClient(ca, srv.URL, "", nil)
	resp, err := Join(context.Background(), lc.hc, srv.URL, JoinRequest{Token: "good", Name: "c", CSR: string(csr)})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	cert, err := pki.KeyPair([]byte(resp.Certificate), pki.KeyPEM(key))
	if err != nil {
		t.Fatalf("join answered no certificate for the key: %v", err)
	}
	if kind, id, ok := pki.PeerOf(cert.Leaf); !ok || kind != pki.KindCluster || id != resp.ID {
		t.Errorf("certificate names %s %q, want cluster %q", kind, id, resp.ID)
	}
	holder.Set(cert)
	// The join's connection went without a certificate: as connectPeer
	// does, later requests take new ones.
	lc.hc.CloseIdleConnections()
	lc = NewClient(srv.URL, resp.Credential, lc.hc)
	if err := lc.Report(context.Background(), &Report{Node: &NodeReport{Name: "n"}}); err != nil {
		t.Errorf("report with the certificate of the join: %v", err)
	}
	if _, err := Join(context.Background(), lc.hc, srv.URL, JoinRequest{Token: "good", Name: "c", CSR: "garbage"}); err == nil {
		t.Error("a join with a malformed CSR was accepted")
	}
}
