package cli

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/root"
	"github.com/hedgeorch/hedge/internal/store"
)

// TestGetAuditFromARealRoot runs `hedge get audit` against a real root's
// API: the admin's change is listed, the user filter works, and a tenant is
// refused.
func TestGetAuditFromARealRoot(t *testing.T) {
	st := store.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	svc, err := auth.NewService(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EnsureAdmin("admin-secret-1"); err != nil {
		t.Fatal(err)
	}
	r, err := root.New(root.Config{Store: st, Auth: svc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)

	ctx := context.Background()
	admin := api.NewClient(srv.URL)
	adminTok, err := admin.Login(ctx, auth.AdminUser, "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateUser(ctx, "carol", "carols-password"); err != nil {
		t.Fatal(err)
	}
	carolTok, err := api.NewClient(srv.URL).Login(ctx, "carol", "carols-password")
	if err != nil {
		t.Fatal(err)
	}

	h := &harness{t: t, url: srv.URL, config: filepath.Join(t.TempDir(), "config.json")}
	h.env = map[string]string{"HEDGE_SERVER": srv.URL, "HEDGE_CONFIG": h.config}
	login := func(user string, tok api.TokenPair) {
		t.Helper()
		if err := saveConfig(h.config, config{Server: srv.URL, Username: user, Token: tok.Token, RefreshToken: tok.RefreshToken}); err != nil {
			t.Fatal(err)
		}
	}

	login(auth.AdminUser, adminTok)
	res := h.run("", "get", "audit")
	if res.code != 0 {
		t.Fatalf("hedge get audit: exit %d: %s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "SEQ") ||
		!strings.Contains(lines[1], "admin") || !strings.Contains(lines[1], "POST") ||
		!strings.Contains(lines[1], "/api/user/") || !strings.Contains(lines[1], "200") || !strings.Contains(lines[1], "127.0.0.1") {
		t.Fatalf("hedge get audit printed:\n%s\nwant a header and the admin's POST /api/user/ with status 200 from 127.0.0.1", res.stdout)
	}
	if strings.Contains(res.stdout, "carols-password") {
		t.Fatalf("the audit log shows a password:\n%s", res.stdout)
	}
	if res := h.run("", "get", "audit", "--user", "carol"); res.code != 0 || !strings.Contains(res.stdout, "No audit entries") {
		t.Fatalf("hedge get audit --user carol: exit %d, stdout %q, stderr %q; want no entries", res.code, res.stdout, res.stderr)
	}

	login("carol", carolTok)
	if res := h.run("", "get", "audit"); res.code == 0 || !strings.Contains(res.stderr, "403") {
		t.Fatalf("a tenant's hedge get audit: exit %d, stdout %q, stderr %q; want a 403 failure", res.code, res.stdout, res.stderr)
	}
}
