package link

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/pki"
)

// signingUpper is fuzzUpper with a CA, as the root is.
type signingUpper struct {
	fuzzUpper
	ca *pki.CA
}

func (u signingUpper) SignCertificate(_ context.Context, peer string, csr []byte) ([]byte, error) {
	return u.ca.SignCSR(csr, "cluster "+peer, []string{pki.ClusterName})
}

func TestCertificateEndpoint(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, "c")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	signing := httptest.NewServer(NewServer(signingUpper{fuzzUpper{t}, ca}, log).Handler())
	defer signing.Close()
	plain := httptest.NewServer(NewServer(fuzzUpper{t}, log).Handler())
	defer plain.Close()
	ctx := context.Background()

	chain, err := NewClient(signing.URL, "p.secret", nil).Certificate(ctx, csr)
	if err != nil {
		t.Fatalf("certificate: %v", err)
	}
	kp, err := pki.KeyPair(chain, pki.KeyPEM(key))
	if err != nil {
		t.Fatalf("the chain does not go with the key: %v", err)
	}
	if _, err := kp.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: pki.ClusterName}); err != nil {
		t.Errorf("issued certificate: %v", err)
	}

	var se *StatusError
	for _, tt := range []struct {
		name, url, cred, csr string
		code                 int
		want                 string
	}{
		{"no credential", signing.URL, "", string(csr), http.StatusUnauthorized, ""},
		{"empty csr", signing.URL, "p.secret", "", http.StatusBadRequest, "csr: required"},
		{"garbage csr", signing.URL, "p.secret", "not a csr", http.StatusBadRequest, "csr"},
		{"tier without a CA", plain.URL, "p.secret", string(csr), http.StatusNotFound, "signs no certificates"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.url, tt.cred, nil).Certificate(ctx, []byte(tt.csr))
			if !errors.As(err, &se) || se.Code != tt.code || !strings.Contains(se.Body, tt.want) {
				t.Errorf("err = %v, want %d containing %q", err, tt.code, tt.want)
			}
		})
	}
}
