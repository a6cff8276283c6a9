package replica

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hedgeorch/hedge/internal/link"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCopy is a copy whose revision the test moves.
type fakeCopy struct {
	rev   atomic.Int64
	syncs atomic.Int32
}

func (c *fakeCopy) Revision() int64 { return c.rev.Load() }
func (c *fakeCopy) Sync(context.Context) error {
	c.syncs.Add(1)
	return nil
}

type fixture struct {
	copy   *fakeCopy
	builds atomic.Int32
	leader *httptest.Server
	seen   chan *http.Request
	h      *Standby
}

func newFixture(t *testing.T, leaderURL func(*fixture) (string, error)) *fixture {
	t.Helper()
	f := &fixture{copy: &fakeCopy{}, seen: make(chan *http.Request, 10)}
	f.leader = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.seen <- r
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "leader")
	}))
	t.Cleanup(f.leader.Close)
	f.h = New(Config{
		Copy: f.copy,
		View: func() (http.Handler, error) {
			n := f.builds.Add(1)
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "copy "+string(rune('0'+n)))
			}), nil
		},
		Leader:    func(context.Context) (string, error) { return leaderURL(f) },
		Transport: f.leader.Client().Transport,
	})
	return f
}

func leading(f *fixture) (string, error) { return f.leader.URL, nil }

func (f *fixture) do(t *testing.T, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Authorization", "Bearer user-token")
	req.RemoteAddr = "192.0.2.7:5555"
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w
}

func TestUnitStandbyServesStoredStateFromItsCopy(t *testing.T) {
	f := newFixture(t, leading)
	for _, path := range []string{"/api/applications/", "/api/service/s1", "/api/users/", "/api/audit"} {
		w := f.do(t, http.MethodGet, path)
		if w.Body.String() != "copy 1" || w.Header().Get(HeaderServedBy) != ServedFromCopy {
			t.Fatalf("GET %s = %q (%s); want it from the copy", path, w.Body, w.Header().Get(HeaderServedBy))
		}
	}
	f.copy.rev.Add(1) // the leader wrote
	if w := f.do(t, http.MethodGet, "/api/applications/"); w.Body.String() != "copy 2" {
		t.Fatalf("after a change: %q; want a view over the changed copy", w.Body)
	}
	if n := f.builds.Load(); n != 2 {
		t.Fatalf("view built %d times for one change; want 2", n)
	}
	if len(f.seen) != 0 {
		t.Fatalf("the leader was asked %d times for reads the copy holds", len(f.seen))
	}
}

func TestUnitStandbyForwardsTheRestToTheLeader(t *testing.T) {
	tests := []struct {
		name, method, path string
		syncs              int32
	}{
		{name: "a write", method: http.MethodPost, path: "/api/application/", syncs: 1},
		{name: "a delete", method: http.MethodDelete, path: "/api/user/ann", syncs: 1},
		{name: "liveness lives in the leader's memory", method: http.MethodGet, path: "/api/nodes/"},
		{name: "health", method: http.MethodGet, path: "/api/health"},
		{name: "logs are relayed from workers", method: http.MethodGet, path: "/api/service/s1/instance/0/logs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, leading)
			w := f.do(t, tt.method, tt.path)
			if w.Code != http.StatusCreated || w.Body.String() != "leader" || w.Header().Get(HeaderServedBy) != ServedByLeader {
				t.Fatalf("%s %s = %d %q; want the leader's answer", tt.method, tt.path, w.Code, w.Body)
			}
			r := <-f.seen
			if r.Method != tt.method || r.URL.Path != tt.path || r.Header.Get("Authorization") != "Bearer user-token" {
				t.Fatalf("the leader saw %s %s with %q; want the caller's request and token", r.Method, r.URL.Path, r.Header.Get("Authorization"))
			}
			if got := r.Header.Get("X-Forwarded-For"); got != "192.0.2.7" {
				t.Fatalf("X-Forwarded-For = %q; want the caller's address", got)
			}
			if n := f.copy.syncs.Load(); n != tt.syncs {
				t.Fatalf("copy synced %d times; want %d (a write is visible in the copy before it is answered)", n, tt.syncs)
			}
			if f.builds.Load() != 0 {
				t.Fatal("a forwarded request built a view over the copy")
			}
		})
	}
}

func TestUnitStandbyRefusesTierLinks(t *testing.T) {
	f := newFixture(t, leading)
	w := f.do(t, http.MethodPost, "/link/v1/report")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get(link.HeaderStandby) != f.leader.URL {
		t.Fatalf("link report on a standby = %d %v; want 503 naming the leader", w.Code, w.Header())
	}
	if len(f.seen) != 0 {
		t.Fatal("a link request was forwarded: a cluster's client certificate cannot cross a proxy")
	}
}

func TestUnitStandbyWithoutAReachableLeaderSaysRetry(t *testing.T) {
	tests := []struct {
		name   string
		leader func(*fixture) (string, error)
	}{
		{name: "no leader elected", leader: func(*fixture) (string, error) { return "", errors.New("no leader") }},
		{name: "leader down", leader: func(*fixture) (string, error) { return "http://127.0.0.1:1", nil }},
		{name: "leader URL unusable", leader: func(*fixture) (string, error) { return "host 127.0.0.1:10000", nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.leader)
			w := f.do(t, http.MethodPost, "/api/application/")
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
				t.Fatalf("write = %d %q (Retry-After %q); want 503 with a retry", w.Code, w.Body, w.Header().Get("Retry-After"))
			}
			if f.copy.syncs.Load() != 0 {
				t.Fatal("waited for a write that was not made")
			}
		})
	}
}

// A leader cut off from the network never answers; once another replica
// leads, the request forwarded to it is dropped (502: it may have been
// applied before the cut) instead of hanging.
func TestUnitStandbyDropsAForwardWhenTheLeaderChanges(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	var asked atomic.Int32
	h := New(Config{
		Copy: &fakeCopy{},
		View: func() (http.Handler, error) { return nil, errors.New("unused") },
		Leader: func(context.Context) (string, error) {
			if asked.Add(1) <= 2 {
				return hung.URL, nil
			}
			return "https://new-leader:10000", nil
		},
		Transport:   hung.Client().Transport,
		LeaderCheck: time.Millisecond,
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/application/", strings.NewReader("{}")))
	if w.Code != http.StatusBadGateway {
		t.Fatalf("a write forwarded to a leader that lost the leadership = %d %q; want 502", w.Code, w.Body)
	}
}
