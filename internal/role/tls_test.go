package role

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/pki"
)

func TestJoinTrustRefusesBadInput(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name, upper, token string
		trust              Trust
		want               string
	}{
		{name: "plain http upper tier", upper: "http://10.0.0.1:10000", token: "hedge-cluster-x", want: "--root: \"http://10.0.0.1:10000\": want https://"},
		{name: "malformed pin in the token", upper: "https://10.0.0.1:10000", token: "sha256:zz::hedge-cluster-x", want: "--join-token: CA pin"},
		{name: "malformed --ca-pin", upper: "https://10.0.0.1:10000", token: "hedge-cluster-x", trust: Trust{Pin: "md5:00"}, want: "--ca-pin: CA pin"},
		{name: "no pin and no CA", upper: "https://10.0.0.1:10000", token: "hedge-cluster-x", want: "no CA to trust"},
		{name: "--ca-cert that is not a certificate", upper: "https://10.0.0.1:10000", token: "hedge-cluster-x", trust: Trust{CACertFile: "tls_test.go"}, want: "--ca-cert tls_test.go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := joinTrust(context.Background(), log, t.TempDir(), "--root", tt.upper, "root.hedge", tt.token, tt.trust, pki.NewServing(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestInsecureAPINeedsATLSLinkListener(t *testing.T) {
	cfg := RootConfig{Addr: "127.0.0.1:0", TLS: TLSConfig{InsecureHTTP: true}, Logger: slog.New(slog.DiscardHandler)}
	if _, _, err := rootListeners(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "--link-addr") {
		t.Errorf("--api-insecure-http without --link-addr: err = %v, want one naming --link-addr", err)
	}
	// On the plain listener, the link is refused; the API is served.
	h := refuseLink(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for path, want := range map[string]int{"/link/v1/join": http.StatusForbidden, "/api/health": http.StatusTeapot} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		if rec.Code != want {
			t.Errorf("%s on the plain listener: %d, want %d", path, rec.Code, want)
		}
	}
}

func TestRootTLSTakesTheOperatorsCertificatesAndCA(t *testing.T) {
	// The operator's CA, and a certificate it signed for the API.
	opDir := t.TempDir()
	opCA, err := pki.LoadOrCreateCA(opDir)
	if err != nil {
		t.Fatal(err)
	}
	apiCert, err := opCA.IssueLocal("api", []string{"hedge.example"})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(opDir, "api.pem"), filepath.Join(opDir, "api-key.pem")
	var chain []byte
	for _, der := range apiCert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := pki.StoreKeyPair(certFile, keyFile, chain, pki.KeyPEM(apiCert.PrivateKey.(*ecdsa.PrivateKey))); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	ca, serving, err := rootTLS(dir, TLSConfig{CertFile: certFile, KeyFile: keyFile,
		CACertFile: filepath.Join(opDir, pki.CAFile), CAKeyFile: filepath.Join(opDir, pki.CAKeyFile)})
	if err != nil {
		t.Fatal(err)
	}
	if ca.Pin() != opCA.Pin() {
		t.Errorf("root CA pin %s, want the operator's %s", ca.Pin(), opCA.Pin())
	}
	stored, err := os.ReadFile(filepath.Join(dir, pki.CAFile))
	if err != nil || string(stored) != string(opCA.PEM) {
		t.Errorf("the operator's CA is not where peers and docs expect it (%v)", err)
	}
	// API clients (no tier name by SNI) get the operator's certificate;
	// tier links get the CA-signed one with the role name.
	for _, tt := range []struct{ sni, want string }{{"", "hedge.example"}, {"hedge.example", "hedge.example"}, {pki.RootName, pki.RootName}} {
		c, err := serving.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
		if err != nil || c.Leaf == nil || c.Leaf.VerifyHostname(tt.want) != nil {
			t.Errorf("SNI %q: certificate for %v, want one for %s (%v)", tt.sni, c.Leaf.DNSNames, tt.want, err)
		}
	}
	for _, bad := range []TLSConfig{{CertFile: certFile}, {CACertFile: filepath.Join(opDir, pki.CAFile)}, {CertFile: certFile, KeyFile: filepath.Join(opDir, pki.CAKeyFile)}} {
		if _, _, err := rootTLS(t.TempDir(), bad); err == nil || !strings.Contains(err.Error(), "--tls-") {
			t.Errorf("rootTLS(%+v): err = %v, want one naming the flag", bad, err)
		}
	}
}

// TestStoredIdentityWithoutCertificate: a peer that joined before mutual
// TLS (an identity, no client certificate) and has no token to join again
// is told so, and its identity is kept.
func TestStoredIdentityWithoutCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	idPath := filepath.Join(dir, "identity.json")
	if err := os.WriteFile(idPath, []byte(`{"upper":"https://10.0.0.1:10100","id":"n-1","credential":"n-1.secret"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	hc := linkClient(ca.Pool(), pki.ClusterName, pki.NewServing(nil))
	_, err = connectPeer(context.Background(), slog.New(slog.DiscardHandler), dir, "https://10.0.0.1:10100", "", "w", hc, pki.NewServing(nil), workerFiles(dir))
	if err == nil || !strings.Contains(err.Error(), "--join-token") {
		t.Errorf("err = %v, want one asking for a join token", err)
	}
	if _, err := os.Stat(idPath); err != nil {
		t.Errorf("identity dropped with no token to join again: %v", err)
	}
}
