package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newCA(t *testing.T) *CA {
	t.Helper()
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestLoadOrCreateCAKeepsTheSameCA(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Pin() != b.Pin() {
		t.Errorf("second start made a new CA: %s then %s", a.Pin(), b.Pin())
	}
	st, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode = %v (err %v), want 0600", st.Mode().Perm(), err)
	}
	if _, err := ParsePin(a.Pin()); err != nil {
		t.Errorf("own pin does not parse: %v", err)
	}
}

// serve runs an HTTPS server with cert and returns its URL.
func serve(t *testing.T, cert *tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = NewServing(cert).ServerConfig()
	// httptest fills an empty Certificates with its own, which Go prefers
	// to GetCertificate for clients that send no server name (IPs).
	srv.TLS.Certificates = []tls.Certificate{*cert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(url string, cfg *tls.Config) error {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestClusterCertificateVerifiesAgainstTheRootCA(t *testing.T) {
	ca := newCA(t)
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := CSR(key, "a name the root ignores")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.SignCSR(csr, "cluster c-1", []string{ClusterName})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := KeyPair(chain, KeyPEM(key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kp.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: ClusterName}); err != nil {
		t.Errorf("cluster certificate does not verify against the root CA as %s: %v", ClusterName, err)
	}
	if _, err := kp.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: RootName}); err == nil {
		t.Errorf("a cluster certificate passes as the root's")
	}
	if _, err := kp.Leaf.Verify(x509.VerifyOptions{Roots: newCA(t).Pool(), DNSName: ClusterName}); err == nil {
		t.Errorf("cluster certificate verifies against another CA")
	}
}

func TestSignCSRRefusesBadInput(t *testing.T) {
	ca := newCA(t)
	for _, tc := range []struct{ name, csr string }{
		{"empty", ""},
		{"not PEM", "hello"},
		{"a certificate, not a request", string(ca.PEM)},
		{"garbage request", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ca.SignCSR([]byte(tc.csr), "x", []string{ClusterName}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "csr") {
				t.Errorf("err = %v, want ErrInvalid naming csr", err)
			}
		})
	}
}

func TestPinnedConnection(t *testing.T) {
	ca := newCA(t)
	cert, err := ca.IssueLocal("root", []string{RootName, "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, cert)
	other := newCA(t)
	for _, tc := range []struct {
		name, pin string
		wantErr   bool
	}{
		{"right pin", ca.Pin(), false},
		{"pin of another CA", other.Pin(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var found *x509.Certificate
			err := get(url, PinnedConfig(tc.pin, RootName, func(c *x509.Certificate) { found = c }))
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "pin") {
					t.Errorf("err = %v, want the pin refused", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("pinned connection: %v", err)
			}
			if found == nil || Pin(found) != ca.Pin() {
				t.Errorf("CA found = %v, want the root's", found)
			}
		})
	}
}

func TestClientWithoutTheCAIsRefused(t *testing.T) {
	ca := newCA(t)
	cert, err := ca.IssueLocal("root", []string{RootName, "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, cert)
	var uae x509.UnknownAuthorityError
	if err := get(url, &tls.Config{}); !errors.As(err, &uae) {
		t.Errorf("client with system roots: err = %v, want x509 unknown authority", err)
	}
	if err := get(url, ClientConfig(newCA(t).Pool(), RootName)); !errors.As(err, &uae) {
		t.Errorf("client with another CA: err = %v, want x509 unknown authority", err)
	}
	if err := get(url, ClientConfig(ca.Pool(), RootName)); err != nil {
		t.Errorf("client with the CA: %v", err)
	}
	var hne x509.HostnameError
	if err := get(url, ClientConfig(ca.Pool(), ClusterName)); !errors.As(err, &hne) {
		t.Errorf("the root's certificate passes as a cluster's: err = %v", err)
	}
}

func TestPlainHTTPGetsNoService(t *testing.T) {
	ca := newCA(t)
	cert, err := ca.IssueLocal("root", []string{RootName})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, cert)
	resp, err := http.Get("http://" + strings.TrimPrefix(url, "https://") + "/link/v1/join")
	if err != nil {
		t.Fatalf("plain request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// Go's TLS server answers a plain-HTTP request with 400 and no content.
	if resp.StatusCode != http.StatusBadRequest || string(b) == "ok" || !strings.Contains(string(b), "HTTPS") {
		t.Errorf("plain HTTP got %d %q, want a refusal asking for HTTPS", resp.StatusCode, b)
	}
}

func TestSplitToken(t *testing.T) {
	pin := newCA(t).Pin()
	for _, tc := range []struct {
		name, tok, pin, secret string
		wantErr                bool
	}{
		{name: "with pin", tok: JoinToken(pin, "hedge-cluster-x"), pin: pin, secret: "hedge-cluster-x"},
		{name: "secret only", tok: "hedge-cluster-x", secret: "hedge-cluster-x"},
		{name: "bad pin", tok: "sha256:abc::hedge-cluster-x", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s, err := SplitToken(tc.tok)
			if (err != nil) != tc.wantErr || p != tc.pin || s != tc.secret {
				t.Errorf("SplitToken(%q) = %q, %q, %v", tc.tok, p, s, err)
			}
		})
	}
}

func TestRenewReplacesAnAgingCertificate(t *testing.T) {
	ca := newCA(t)
	old, err := ca.IssueLocal("root", []string{RootName})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServing(old)
	ctx, cancel := context.WithCancel(context.Background())
	later := old.Leaf.NotAfter.Add(-old.Leaf.NotAfter.Sub(old.Leaf.NotBefore) / 4) // past 2/3 of its life
	done := make(chan struct{})
	go func() {
		defer close(done)
		Renew(ctx, s, time.Millisecond, func() time.Time { return later }, slog.New(slog.DiscardHandler), func(context.Context) (*tls.Certificate, error) {
			cancel()
			return ca.IssueLocal("root", []string{RootName})
		})
	}()
	<-done
	if s.Current() == old {
		t.Error("certificate past two thirds of its life was not renewed")
	}
}

func TestSignPeerNamesThePeer(t *testing.T) {
	ca := newCA(t)
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := CSR(key, "a name the CA ignores")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, kind, id string
		names          []string
		serves         bool
		wantErr        bool
	}{
		{name: "cluster", kind: KindCluster, id: "c-1", names: []string{ClusterName}, serves: true},
		{name: "worker", kind: KindNode, id: "n-1"},
		{name: "unknown kind", kind: "root", id: "r", wantErr: true},
		{name: "empty id", kind: KindNode, id: "", wantErr: true},
		{name: "id with a slash", kind: KindNode, id: "a/b", wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			chain, err := ca.SignPeer(csr, tt.kind, tt.id, tt.names)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			kp, err := KeyPair(chain, KeyPEM(key))
			if err != nil {
				t.Fatal(err)
			}
			client := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if _, err := kp.Leaf.Verify(client); err != nil {
				t.Errorf("not a client certificate of the CA: %v", err)
			}
			if kind, id, ok := PeerOf(kp.Leaf); !ok || kind != tt.kind || id != tt.id || kp.Leaf.Subject.CommonName != tt.id {
				t.Errorf("names %s %q (CN %q), want %s %q", kind, id, kp.Leaf.Subject.CommonName, tt.kind, tt.id)
			}
			_, err = kp.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: ClusterName})
			if serves := err == nil; serves != tt.serves {
				t.Errorf("serves TLS as %s: %v, want %v", ClusterName, serves, tt.serves)
			}
			if _, err := kp.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: RootName}); err == nil {
				t.Error("a peer's certificate passes as the root's")
			}
		})
	}
}

// TestExpiredClientCertificateIsRenewed: a peer whose client certificate
// has expired (signed by a CA whose clock was two years back) is refused
// by a mutual-TLS listener; Renew, checking with the clock, replaces it
// and the same client is accepted at its next connection, without being
// rebuilt.
func TestExpiredClientCertificateIsRenewed(t *testing.T) {
	ca := newCA(t)
	issue := func(now time.Time) *tls.Certificate {
		t.Helper()
		ca.now = func() time.Time { return now }
		key, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		csr, err := CSR(key, "n")
		if err != nil {
			t.Fatal(err)
		}
		chain, err := ca.SignPeer(csr, KindNode, "n-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := KeyPair(chain, KeyPEM(key))
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	serving, err := ca.IssueLocal("root", []string{RootName})
	if err != nil {
		t.Fatal(err)
	}
	expired := issue(time.Now().Add(-2 * leafLifetime))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
		}
	}))
	srv.TLS = NewServing(serving).MutualConfig(ca.Pool())
	srv.StartTLS()
	defer srv.Close()
	holder := NewServing(expired)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: PeerConfig(ca.Pool(), RootName, holder), DisableKeepAlives: true}}
	call := func() error {
		resp, err := hc.Get(srv.URL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
	if err := call(); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("with an expired client certificate: %v, want the handshake refused as expired", err)
	}

	now := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Renew(ctx, holder, time.Millisecond, func() time.Time { return now }, slog.New(slog.DiscardHandler), func(context.Context) (*tls.Certificate, error) {
			cancel()
			return issue(now), nil
		})
	}()
	<-done
	if c := holder.Current(); c == expired || !c.Leaf.NotAfter.After(now) {
		t.Fatal("the expired certificate was not renewed")
	}
	if err := call(); err != nil {
		t.Errorf("renewed certificate refused: %v", err)
	}
}
