package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/pki"
)

func TestTLSTrust(t *testing.T) {
	t.Run("without the CA the root is refused", func(t *testing.T) {
		h := newTLSHarness(t)
		delete(h.env, "HEDGE_CA_CERT")
		h.env["HEDGE_PASSWORD"] = h.fake.password
		r := h.run("", "login")
		if r.code != 1 || !strings.Contains(r.stderr, "x509") || !strings.Contains(r.stderr, "--ca-cert") {
			t.Errorf("login without the CA: %d %q, want an x509 error and how to give the CA", r.code, r.stderr)
		}
		if h.fake.saw("POST /api/auth/login") {
			t.Error("the password reached a server the client cannot verify")
		}
	})
	t.Run("with --ca-cert the CA is kept and later commands trust it", func(t *testing.T) {
		h := newTLSHarness(t)
		delete(h.env, "HEDGE_CA_CERT")
		h.env["HEDGE_PASSWORD"] = h.fake.password
		r := h.run("", "login", "--ca-cert", h.caFile)
		if r.code != 0 || !strings.Contains(r.stdout, "Trusting the CA with fingerprint "+h.ca.Pin()) {
			t.Fatalf("login --ca-cert: %d %q %q", r.code, r.stdout, r.stderr)
		}
		if err := os.Remove(h.caFile); err != nil {
			t.Fatal(err)
		}
		if r := h.run("", "get", "nodes"); r.code != 0 {
			t.Errorf("get nodes with the CA stored at login: %s", r.stderr)
		}
	})
	t.Run("--ca-pin fetches the CA and checks it", func(t *testing.T) {
		h := newTLSHarness(t)
		delete(h.env, "HEDGE_CA_CERT")
		h.env["HEDGE_PASSWORD"] = h.fake.password
		other, err := pki.LoadOrCreateCA(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r := h.run("", "login", "--ca-pin", other.Pin())
		if r.code != 1 || !strings.Contains(r.stderr, "pin") || h.fake.saw("POST /api/auth/login") {
			t.Errorf("login with a wrong pin: %d %q (the password reached the server: %v)", r.code, r.stderr, h.fake.saw("POST /api/auth/login"))
		}
		r = h.run("", "login", "--ca-pin", "sha256:nothex")
		if r.code != 1 || !strings.Contains(r.stderr, "--ca-pin") {
			t.Errorf("login with a malformed pin: %q", r.stderr)
		}
		r = h.run("", "login", "--ca-pin", h.ca.Pin())
		if r.code != 0 || h.readConfig().CACert != string(h.ca.PEM) {
			t.Fatalf("login with the right pin: %d %q; CA stored: %v", r.code, r.stderr, h.readConfig().CACert != "")
		}
		if r := h.run("", "get", "nodes"); r.code != 0 {
			t.Errorf("get nodes after a pinned login: %s", r.stderr)
		}
	})
}
