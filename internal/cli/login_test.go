package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// terminal is a stdin that claims to be a file descriptor, for the prompt
// path of login and user create.
type terminal struct{ io.Reader }

func (terminal) Fd() uintptr { return 0 }

func TestLogin(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    io.Reader
		env      map[string]string
		terminal func(int) ([]byte, error)
		wantCode int
		wantOut  string
		wantErr  string // exact stderr; "URL" stands for the server
		loggedIn bool
	}{
		{
			name: "password from stdin", args: []string{"login", "--password-stdin"}, stdin: strings.NewReader("s3cret\n"),
			wantOut: "Logged in to URL as admin\n", loggedIn: true,
		},
		{
			name: "password from HEDGE_PASSWORD", args: []string{"login", "--username", "admin"},
			env: map[string]string{"HEDGE_PASSWORD": "s3cret"}, wantOut: "Logged in to URL as admin\n", loggedIn: true,
		},
		{
			name: "password asked on the terminal", args: []string{"login"}, stdin: terminal{strings.NewReader("")},
			terminal: func(int) ([]byte, error) { return []byte("s3cret"), nil },
			wantOut:  "Logged in to URL as admin\n", wantErr: "Password: \n", loggedIn: true,
		},
		{
			name: "stdin wins over the environment", args: []string{"login", "--password-stdin"}, stdin: strings.NewReader("s3cret"),
			env: map[string]string{"HEDGE_PASSWORD": "wrong"}, wantOut: "Logged in to URL as admin\n", loggedIn: true,
		},
		{
			name: "wrong password", args: []string{"login", "--password-stdin"}, stdin: strings.NewReader("nope\n"), wantCode: 1,
			wantErr: "error: log in to URL as admin: 401 Unauthorized: wrong username or password\n",
		},
		{
			name: "no password and no terminal", args: []string{"login"}, stdin: strings.NewReader(""), wantCode: 1,
			wantErr: "error: no password: use --password-stdin or set HEDGE_PASSWORD when stdin is not a terminal\n",
		},
		{
			name: "empty stdin", args: []string{"login", "--password-stdin"}, stdin: strings.NewReader("\n"), wantCode: 1,
			wantErr: "error: read password from stdin: input is empty\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for k, v := range tt.env {
				h.env[k] = v
			}
			if tt.terminal != nil {
				h.opts = append(h.opts, func(s *settings) {
					s.isTerminal = func(int) bool { return true }
					s.readPassword = tt.terminal
				})
			}
			r := h.runIn(tt.stdin, tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d; stderr: %s", r.code, tt.wantCode, r.stderr)
			}
			if want := strings.ReplaceAll(tt.wantOut, "URL", h.url); r.stdout != want {
				t.Errorf("stdout = %q, want %q", r.stdout, want)
			}
			if want := strings.ReplaceAll(tt.wantErr, "URL", h.url); r.stderr != want {
				t.Errorf("stderr = %q, want %q", r.stderr, want)
			}
			for _, secret := range []string{"s3cret", "access-1", "refresh-1"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("output shows the secret %q", secret)
				}
			}
			_, statErr := os.Stat(h.config)
			if !tt.loggedIn {
				if !errors.Is(statErr, os.ErrNotExist) {
					t.Errorf("config written after a failed login: %v", statErr)
				}
				return
			}
			cfg := h.readConfig()
			want := config{Server: h.url, Username: "admin", Token: "access-1", RefreshToken: "refresh-1"}
			if cfg != want {
				t.Errorf("config = %+v, want %+v", cfg, want)
			}
			st, err := os.Stat(h.config)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("config mode = %v, want 0600", st.Mode().Perm())
			}
		})
	}
}

func TestLoginThenUseTheStoredTokens(t *testing.T) {
	h := newHarness(t)
	if r := h.run("s3cret\n", "login", "--password-stdin"); r.code != 0 {
		t.Fatalf("login: %s", r.stderr)
	}
	// Without HEDGE_SERVER the server of the last login is used.
	delete(h.env, "HEDGE_SERVER")
	r := h.run("", "get", "apps")
	if r.code != 0 {
		t.Fatalf("get apps: %s", r.stderr)
	}
	if !strings.Contains(r.stdout, "clientsrvr") {
		t.Errorf("stdout = %q", r.stdout)
	}
	if got := h.fake.auths[len(h.fake.auths)-1]; got != "Bearer access-1" {
		t.Errorf("Authorization = %q, want the stored token", got)
	}
}

func TestRefreshOn401(t *testing.T) {
	t.Run("stale access token is refreshed and saved", func(t *testing.T) {
		h := newHarness(t)
		if err := saveConfig(h.config, config{Server: h.url, Token: "stale", RefreshToken: "refresh-0"}); err != nil {
			t.Fatal(err)
		}
		if r := h.run("", "get", "apps"); r.code != 0 {
			t.Fatalf("get apps: %s", r.stderr)
		}
		if cfg := h.readConfig(); cfg.Token != "access-1" || cfg.RefreshToken != "refresh-1" {
			t.Errorf("config = %+v, want the refreshed pair", cfg)
		}
		// The saved pair works: no second refresh.
		if r := h.run("", "get", "services"); r.code != 0 {
			t.Fatalf("get services: %s", r.stderr)
		}
		if h.fake.refreshes != 1 {
			t.Errorf("refreshes = %d, want 1", h.fake.refreshes)
		}
	})
	t.Run("refresh token rejected", func(t *testing.T) {
		h := newHarness(t)
		if err := saveConfig(h.config, config{Server: h.url, Token: "stale", RefreshToken: "old"}); err != nil {
			t.Fatal(err)
		}
		r := h.run("", "get", "apps")
		want := "error: 401 Unauthorized: token expired or invalid (run 'hedge login')\n"
		if r.code != 1 || r.stderr != want {
			t.Errorf("got %d %q, want 1 %q", r.code, r.stderr, want)
		}
	})
	t.Run("tokens of another server are never sent", func(t *testing.T) {
		h := newHarness(t)
		if err := saveConfig(h.config, config{Server: "http://elsewhere:10000", Token: h.fake.access, RefreshToken: h.fake.refresh}); err != nil {
			t.Fatal(err)
		}
		r := h.run("", "get", "apps")
		if r.code != 1 || !strings.Contains(r.stderr, "401 Unauthorized") {
			t.Errorf("got %d %q, want a 401", r.code, r.stderr)
		}
		for _, a := range h.fake.auths {
			if a != "" {
				t.Errorf("sent Authorization %q to a server that did not issue it", a)
			}
		}
		if h.fake.refreshes != 0 {
			t.Errorf("refreshes = %d, want 0", h.fake.refreshes)
		}
	})
}

func TestServerChoice(t *testing.T) {
	h := newTLSHarness(t).loggedIn()
	h.env["HEDGE_SERVER"] = "http://127.0.0.1:1" // nothing listens there
	// --server beats the environment; host:port is https.
	if r := h.run("", "--server", strings.TrimPrefix(h.url, "https://"), "get", "nodes"); r.code != 0 {
		t.Fatalf("--server host:port: %s", r.stderr)
	}
	r := h.run("", "get", "nodes")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: GET http://127.0.0.1:1/api/nodes/: ") {
		t.Errorf("with HEDGE_SERVER unreachable: %d %q", r.code, r.stderr)
	}
	if r := h.run("", "--server", "ftp://x", "get", "nodes"); r.stderr != "error: invalid server address \"ftp://x\": want http(s)://host:port\n" {
		t.Errorf("bad --server: %q", r.stderr)
	}
}

func TestNormalizeServer(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "http://127.0.0.1:10000/", want: "http://127.0.0.1:10000"},
		{in: "10.0.0.1:10000", want: "https://10.0.0.1:10000"},
		{in: "https://root.example", want: "https://root.example"},
		{in: "ftp://x", wantErr: `invalid server address "ftp://x": want http(s)://host:port`},
		{in: "", wantErr: `invalid server address "": want http(s)://host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normalizeServer(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestConfigIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "config.json")
	if err := saveConfig(path, config{Server: "http://x", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	// Saving again replaces the file and keeps it private.
	if err := saveConfig(path, config{Server: "http://x", Token: "t2"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if dir.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", dir.Mode().Perm())
	}
	cfg, err := loadConfig(path)
	if err != nil || cfg.Token != "t2" {
		t.Errorf("loaded %+v, %v", cfg, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
