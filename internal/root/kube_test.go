package root

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/kube/kubeproc"
)

// fakeKubeEnv makes the test binary play hedge-kube (TestMain): it answers
// every forwarded call with what it was told about the caller and what the
// root's socket answered. The real hedge-kube is proven by test/kube.
const fakeKubeEnv = "HEDGE_TEST_FAKE_KUBE"

// kubeEcho is the fake hedge-kube's answer.
type kubeEcho struct {
	Path          string `json:"path"`
	User          string `json:"user"`
	UserID        string `json:"user_id"`
	Admin         bool   `json:"admin"`
	Authorization string `json:"authorization"`
	RootClusters  int    `json:"root_clusters"`
}

func fakeKube() int {
	cfg, gone, err := kubeproc.ReadConfig(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := kubeproc.InheritedListener()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rc := kubeproc.NewRootClient(cfg.RootSocket, cfg.Secret, nil)
	h := kubeproc.Authenticate(cfg.Secret, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c := kubeproc.CallerFrom(req.Context())
		_ = json.NewEncoder(w).Encode(kubeEcho{Path: req.URL.Path, User: c.User, UserID: c.UserID, Admin: c.Admin,
			Authorization: req.Header.Get("Authorization"), RootClusters: len(rc.Clusters())})
	}))
	srv := &http.Server{Handler: h}
	go func() {
		<-gone
		_ = srv.Close()
	}()
	_ = srv.Serve(ln)
	return 0
}

// kubeDir is a short directory for the sockets (a unix socket path is at
// most 107 bytes).
func kubeDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "hedge-kube")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (h *harness) kubeCall(method, path, token string) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.ctx, method, h.srv.URL+path, strings.NewReader("{}"))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestKubeProgramMissingAnswers503(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true, kube: KubeOptions{Dir: kubeDir(t), Program: filepath.Join(t.TempDir(), "hedge-kube")}})
	_, tp := h.login("admin", adminPassword)
	for _, p := range []string{"/api/k8sclusters/", "/api/chartrepo", "/api/enabler/instanced"} {
		code, body := h.kubeCall(http.MethodGet, p, tp.Token)
		if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "needs the hedge-kube program next to hedge (go build ./cmd/hedge-kube)") {
			t.Errorf("GET %s = %d %s; want 503 naming hedge-kube", p, code, body)
		}
	}
	// The rest of the root works.
	if code, body := h.kubeCall(http.MethodGet, "/api/clusters/", tp.Token); code != http.StatusOK {
		t.Errorf("GET /api/clusters/ = %d %s", code, body)
	}
}

func TestKubeChildGetsCallerAndRefusesStrangers(t *testing.T) {
	t.Setenv(fakeKubeEnv, "1")
	dir := kubeDir(t)
	h := newHarness(t, harnessOptions{admin: true, kube: KubeOptions{Dir: dir, Program: os.Args[0]}})
	h.addUser("alice")
	_, admin := h.login("admin", adminPassword)
	_, alice := h.login("alice", userPassword)

	if code, body := h.kubeCall(http.MethodGet, "/api/k8sclusters/", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d %s; want 401", code, body)
	}
	// Looking costs nothing: while nothing Kubernetes was ever stored, the
	// lists answer [] without starting hedge-kube (the fake would echo).
	for _, p := range []string{"/api/k8sclusters/", "/api/chartrepo", "/api/enabler/instanced"} {
		if code, body := h.kubeCall(http.MethodGet, p, admin.Token); code != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("GET %s before any change = %d %s; want 200 [] from the root itself", p, code, body)
		}
	}
	for _, tt := range []struct {
		name, token, user string
		admin             bool
	}{{"admin", admin.Token, "admin", true}, {"app provider", alice.Token, "alice", false}} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := h.kubeCall(http.MethodPost, "/api/chartrepo", tt.token)
			var got kubeEcho
			if code != http.StatusOK || json.Unmarshal(body, &got) != nil {
				t.Fatalf("POST /api/chartrepo = %d %s", code, body)
			}
			u, err := h.auth.GetUser(tt.user)
			if err != nil {
				t.Fatal(err)
			}
			want := kubeEcho{Path: "/api/chartrepo", User: tt.user, UserID: u.ID, Admin: tt.admin}
			if got != want {
				t.Errorf("hedge-kube was told %+v; want %+v (and no bearer token)", got, want)
			}
		})
	}

	// A caller cannot name another user to hedge-kube: the identity
	// headers it sends are replaced by the root's.
	adminUser, err := h.auth.GetUser("admin")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(h.ctx, http.MethodPost, h.srv.URL+"/api/chartrepo", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+alice.Token)
	req.Header.Set(kubeproc.HeaderUser, "admin")
	req.Header.Set(kubeproc.HeaderUserID, adminUser.ID)
	req.Header.Set(kubeproc.HeaderAdmin, "true")
	resp, err := h.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var spoofed kubeEcho
	err = json.NewDecoder(resp.Body).Decode(&spoofed)
	resp.Body.Close()
	if err != nil || spoofed.User != "alice" || spoofed.UserID == adminUser.ID || spoofed.Admin {
		t.Errorf("alice sending admin's identity headers: hedge-kube was told %+v (%v); want alice", spoofed, err)
	}

	// Once hedge-kube runs, lists go to it.
	if code, body := h.kubeCall(http.MethodGet, "/api/k8sclusters/", admin.Token); code != http.StatusOK || !strings.Contains(string(body), `"path":"/api/k8sclusters/"`) {
		t.Errorf("GET /api/k8sclusters/ after a change = %d %s; want hedge-kube's answer", code, body)
	}

	for _, sock := range []string{kubeproc.ChildSocket, kubeproc.RootSocket} {
		p := filepath.Join(dir, sock)
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", sock, st.Mode().Perm(), err)
		}
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", p)
		}}}
		for _, secret := range []string{"", "not-the-secret"} {
			req, _ := http.NewRequest(http.MethodGet, "http://x"+kubeproc.PathClusters, nil)
			req.Header.Set(kubeproc.HeaderUser, "admin")
			req.Header.Set(kubeproc.HeaderAdmin, "true")
			if secret != "" {
				req.Header.Set(kubeproc.HeaderSecret, secret)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", sock, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with secret %q: %d; want 401", sock, secret, resp.StatusCode)
			}
		}
		hc.CloseIdleConnections()
	}
}

// TestKubeBackplaneDoesNotEchoInternalErrors: what the root answers
// hedge-kube goes through errdefs: errors of a kind keep their message and
// status, and an internal error is "internal error" with a request id.
func TestKubeBackplaneDoesNotEchoInternalErrors(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tests := []struct {
		name       string
		err        error
		status     int
		want, hide string
	}{
		{"not found", fmt.Errorf("%w: cluster c-1", ErrNotFound), http.StatusNotFound, "cluster c-1", ""},
		{"internal", errors.New("open /var/lib/hedge/root/state.db: input/output error"), http.StatusInternalServerError, "internal error (request id ", "state.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.root.writeKube(w, nil, tt.err)
			body := w.Body.String()
			if w.Code != tt.status || !strings.Contains(body, tt.want) || (tt.hide != "" && strings.Contains(body, tt.hide)) {
				t.Errorf("answer %d %s; want %d saying %q and not %q", w.Code, body, tt.status, tt.want, tt.hide)
			}
		})
	}
}
