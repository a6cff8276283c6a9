package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDelete(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantReq string
	}{
		{"app by name", []string{"delete", "app", "clientsrvr"}, "application clientsrvr deleted\n", "DELETE /api/application/a1"},
		{"app by ID", []string{"delete", "application", "a2"}, "application demo deleted\n", "DELETE /api/application/a2"},
		{"service by ID", []string{"delete", "svc", "s3"}, "service demo/nginx deleted\n", "DELETE /api/service/s3"},
		{"service by app/name", []string{"delete", "service", "clientsrvr/curl"}, "service clientsrvr/curl deleted\n", "DELETE /api/service/s1"},
		{"instance", []string{"delete", "instance", "clientsrvr/nginx", "1"}, "instance 1 of clientsrvr/nginx deleted\n", "DELETE /api/service/s2/instance/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t).loggedIn()
			r := h.run("", tt.args...)
			if r.code != 0 || r.stdout != tt.wantOut {
				t.Errorf("got %d %q (%s), want %q", r.code, r.stdout, r.stderr, tt.wantOut)
			}
			if !h.fake.saw(tt.wantReq) {
				t.Errorf("requests = %v, want %s", h.fake.requests, tt.wantReq)
			}
		})
	}
}

func TestLogs(t *testing.T) {
	t.Run("first instance, server's default tail", func(t *testing.T) {
		h := newHarness(t).loggedIn()
		r := h.run("", "logs", "clientsrvr/nginx")
		if r.code != 0 || r.stdout != "GET / 200\nGET /x 404\n" {
			t.Errorf("got %d %q %q", r.code, r.stdout, r.stderr)
		}
		if len(h.fake.logTails) != 1 || h.fake.logTails[0] != "" {
			t.Errorf("tails = %q, want no tail parameter", h.fake.logTails)
		}
	})
	t.Run("tail", func(t *testing.T) {
		h := newHarness(t).loggedIn()
		r := h.run("", "logs", "s2", "0", "--tail", "11")
		if r.code != 0 || r.stdout != "GET /x 404\n" {
			t.Errorf("got %d %q %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("follow prints only new bytes", func(t *testing.T) {
		h := newHarness(t).loggedIn()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h.fake.logs["s2/0"] = []byte("line1\nline2\n")
		h.fake.onLogs = func(f *fakeRoot, n int) {
			switch n {
			case 1:
				f.logs["s2/0"] = append(f.logs["s2/0"], "line3\n"...)
			case 2:
				f.logs["s2/0"] = append(f.logs["s2/0"], "line4\nline5\n"...)
			case 5:
				cancel()
			}
		}
		done := make(chan result)
		go func() { done <- h.runCtx(ctx, strings.NewReader(""), "logs", "clientsrvr/nginx", "--tail", "12", "-f") }()
		select {
		case r := <-done:
			if r.code != 0 || r.stdout != "line1\nline2\nline3\nline4\nline5\n" {
				t.Errorf("got %d %q %q", r.code, r.stdout, r.stderr)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("logs -f did not stop when its context ended")
		}
	})
}

func TestOverlap(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur string
		want      int
	}{
		{"nothing before", "", "abc", 0},
		{"nothing now", "abc", "", 0},
		{"unchanged", "abc\n", "abc\n", 4},
		{"window not full yet", "a\n", "a\nb\n", 2},
		{"window slid", "l1\nl2\n", "l2\nl3\n", 3},
		{"everything new", "l1\nl2\n", "l3\nl4\n", 0},
		{"partial prefix match is not an overlap", "xxab", "abxy", 2},
		{"repetitive", "aaaa", "aaab", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := overlap([]byte(tt.prev), []byte(tt.cur)); got != tt.want {
				t.Errorf("overlap(%q, %q) = %d, want %d", tt.prev, tt.cur, got, tt.want)
			}
		})
	}
}

func TestToken(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"worker with ttl", []string{"token", "create", "--kind", "worker", "--ttl", "1h"}, "join-worker-3600\n"},
		{"cluster with default ttl", []string{"token", "create", "--kind", "cluster"}, "join-cluster-86400\n"},
		{"server default ttl", []string{"token", "create", "--kind", "cluster", "--ttl", "0"}, "join-cluster-0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t).loggedIn()
			r := h.run("", tt.args...)
			if r.code != 0 || r.stdout != tt.want || r.stderr != "" {
				t.Errorf("got %d %q %q, want only %q on stdout", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
}

func TestUser(t *testing.T) {
	t.Run("create with password on stdin", func(t *testing.T) {
		h := newHarness(t).loggedIn()
		r := h.run("pw1\n", "user", "create", "alice", "--password-stdin")
		if r.code != 0 || r.stdout != "user alice created\n" {
			t.Fatalf("got %d %q %q", r.code, r.stdout, r.stderr)
		}
		u := h.fake.users[len(h.fake.users)-1]
		if u.Username != "alice" || len(u.Roles) != 1 || u.Roles[0] != "Application_Provider" {
			t.Errorf("user = %+v", u)
		}
	})
	t.Run("create with roles, password asked twice", func(t *testing.T) {
		h := newHarness(t).loggedIn()
		h.opts = append(h.opts, func(s *settings) {
			s.isTerminal = func(int) bool { return true }
			s.readPassword = func(int) ([]byte, error) { return []byte("pw2"), nil }
		})
		r := h.runIn(terminal{strings.NewReader("")}, "user", "create", "ops", "--role", "Admin", "--role", "Infrastructure_Provider")
		if r.code != 0 || r.stderr != "Password: \nRepeat password: \n" {
			t.Fatalf("got %d %q %q", r.code, r.stdout, r.stderr)
		}
		if u := h.fake.users[len(h.fake.users)-1]; strings.Join(u.Roles, ",") != "Admin,Infrastructure_Provider" {
			t.Errorf("roles = %v", u.Roles)
		}
	})
	t.Run("passwords that differ", func(t *testing.T) {
		h := newHarness(t).loggedIn()
		answers := []string{"one", "two"}
		h.opts = append(h.opts, func(s *settings) {
			s.isTerminal = func(int) bool { return true }
			s.readPassword = func(int) ([]byte, error) {
				a := answers[0]
				answers = answers[1:]
				return []byte(a), nil
			}
		})
		r := h.runIn(terminal{strings.NewReader("")}, "user", "create", "ops")
		if r.code != 1 || !strings.HasSuffix(r.stderr, "error: the passwords do not match\n") {
			t.Errorf("got %d %q", r.code, r.stderr)
		}
		if h.fake.saw("POST /api/user/") {
			t.Error("user created despite the mismatch")
		}
	})
	t.Run("HEDGE_PASSWORD is not a new user's password", func(t *testing.T) {
		h := newHarness(t).loggedIn()
		h.env["HEDGE_PASSWORD"] = "s3cret"
		r := h.run("", "user", "create", "eve")
		if r.code != 1 || r.stderr != "error: no password: use --password-stdin when stdin is not a terminal\n" {
			t.Errorf("got %d %q", r.code, r.stderr)
		}
	})
	t.Run("delete", func(t *testing.T) {
		h := newHarness(t).loggedIn()
		if r := h.run("", "user", "delete", "bob"); r.code != 0 || r.stdout != "user bob deleted\n" {
			t.Errorf("got %d %q %q", r.code, r.stdout, r.stderr)
		}
		r := h.run("", "user", "delete", "bob")
		if r.code != 1 || r.stderr != "error: delete user bob: 404 Not Found: user bob not found\n" {
			t.Errorf("second delete: %d %q", r.code, r.stderr)
		}
	})
}

func TestVersion(t *testing.T) {
	h := newHarness(t).loggedIn()
	r := h.run("", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Client: v1.2.3 (go") || !strings.HasSuffix(r.stdout, "Server: v9.9.9 ("+h.url+", ok)\n") {
		t.Errorf("got %d %q %q", r.code, r.stdout, r.stderr)
	}

	r = h.run("", "version", "--client", "-o", "json")
	var info versionInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.Client.Version != "v1.2.3" || info.Server != nil {
		t.Errorf("version --client -o json = %q (%v)", r.stdout, err)
	}

	h.env["HEDGE_SERVER"] = "http://127.0.0.1:1"
	r = h.run("", "version")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "Client: v1.2.3") || !strings.HasPrefix(r.stderr, "error: ask the root for its version: ") {
		t.Errorf("unreachable root: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestAllow(t *testing.T) {
	h := newHarness(t).loggedIn()
	if r := h.run("", "allow", "add", "edge1", "bob"); r.code != 0 || r.stdout != "bob may use privileged settings on cluster edge1\n" {
		t.Fatalf("add: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if !h.fake.saw("PUT /api/allow/edge1/bob") {
		t.Errorf("requests = %v, want PUT /api/allow/edge1/bob", h.fake.requests)
	}
	if r := h.run("", "allow", "list"); r.code != 0 || !strings.Contains(r.stdout, "edge1") || !strings.Contains(r.stdout, "bob") {
		t.Errorf("list: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := h.run("", "allow", "rm", "edge1", "bob"); r.code != 0 || !h.fake.saw("DELETE /api/allow/edge1/bob") {
		t.Errorf("remove: %d %q %q, requests %v", r.code, r.stdout, r.stderr, h.fake.requests)
	}
	if r := h.run("", "allow", "list", "-o", "json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list after remove: %d %q %q", r.code, r.stdout, r.stderr)
	}
}
