package link

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/pki"
)

// mapUpper is fuzzUpper that also serves a map, whose revision set moves.
type mapUpper struct {
	fuzzUpper
	mu   sync.Mutex
	rev  uint64
	wake chan struct{}
}

func newMapUpper(rev uint64) *mapUpper { return &mapUpper{rev: rev, wake: make(chan struct{})} }

func (u *mapUpper) NetMap(peer string) (*netmap.Map, <-chan struct{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return &netmap.Map{Revision: u.rev, Self: netmap.Self{ID: peer}}, u.wake
}

func (u *mapUpper) set(rev uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rev = rev
	close(u.wake)
	u.wake = make(chan struct{})
}

var _ NetMapper = (*mapUpper)(nil)

// TestUnitNetMapAnswersAtOnceOnChange: a long-poll that holds the current
// revision returns the next one when it changes, long before its wait ends
// (had it waited, it would return the revision it holds).
func TestUnitNetMapAnswersAtOnceOnChange(t *testing.T) {
	up := newMapUpper(7)
	s := NewServer(up, discard())
	srv := httptest.NewServer(&countingHandler{s: s, h: s.Handler()})
	defer srv.Close()
	c := NewClient(srv.URL, "p.secret", srv.Client())
	ctx := context.Background()

	m, err := c.NetMap(ctx, 0, time.Minute)
	if err != nil || m.Revision != 7 || m.Self.ID != "p" {
		t.Fatalf("first poll = %+v, %v; want revision 7 for peer p at once", m, err)
	}
	got := make(chan *netmap.Map, 1)
	go func() {
		m, err := c.NetMap(ctx, 7, maxWait)
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	// Change the map once the poll waits (it has counted as served).
	for srvCount(t, srv, "netmap") < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	up.set(8)
	if m := <-got; m == nil || m.Revision != 8 {
		t.Fatalf("waiting poll answered %+v, want revision 8", m)
	}
}

// srvCount asks the test server's link handler how often it served endpoint.
func srvCount(t *testing.T, srv *httptest.Server, endpoint string) uint64 {
	t.Helper()
	return srv.Config.Handler.(*countingHandler).s.Requests()[endpoint]
}

// countingHandler keeps the Server behind a test server's handler.
type countingHandler struct {
	s *Server
	h http.Handler
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.h.ServeHTTP(w, r) }

func TestUnitNetMapRefusals(t *testing.T) {
	tests := []struct {
		name string
		up   Upper
		cred string
		want int
	}{
		{"an upper tier without a map answers 404", fuzzUpper{}, "p.secret", http.StatusNotFound},
		{"no credential", newMapUpper(1), "", http.StatusUnauthorized},
		{"a wrong credential", newMapUpper(1), "q.secret", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(NewServer(tt.up, discard()).Handler())
			defer srv.Close()
			_, err := NewClient(srv.URL, tt.cred, srv.Client()).NetMap(context.Background(), 0, 0)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.want {
				t.Fatalf("NetMap = %v, want %d", err, tt.want)
			}
		})
	}
}

// mapUpperTLS is mapUpper at a root that signs certificates (mTLS).
type mapUpperTLS struct {
	peerUpper
	m *mapUpper
}

func (u mapUpperTLS) NetMap(peer string) (*netmap.Map, <-chan struct{}) { return u.m.NetMap(peer) }

func TestUnitNetMapNeedsThePeersCertificate(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := mutualServer(t, ca, mapUpperTLS{peerUpper{fuzzUpper{t}, ca}, newMapUpper(3)})
	own, _ := peerClient(ca, srv.URL, "p.secret", peerCert(t, ca, pki.KindCluster, "p"))
	if m, err := own.NetMap(context.Background(), 0, 0); err != nil || m.Revision != 3 {
		t.Fatalf("with its own certificate: %+v, %v", m, err)
	}
	other, _ := peerClient(ca, srv.URL, "p.secret", peerCert(t, ca, pki.KindCluster, "q"))
	var se *StatusError
	if _, err := other.NetMap(context.Background(), 0, 0); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("with another peer's certificate: %v, want 401", err)
	}
}

// mapPeer is a Peer that follows the map (or not) and records it.
type mapPeer struct {
	revokedPeer
	follows bool
	maps    chan *netmap.Map
}

func (p *mapPeer) FollowsNetMap() bool { return p.follows }
func (p *mapPeer) ApplyNetMap(_ context.Context, m *netmap.Map) error {
	p.maps <- m
	return nil
}

// TestUnitRunGivesEveryNewMapToANetPeer: Run polls the map for a peer that
// follows it, hands it each new revision once, and never polls for one
// that does not.
func TestUnitRunGivesEveryNewMapToANetPeer(t *testing.T) {
	for _, follows := range []bool{true, false} {
		up := newMapUpper(1)
		s := NewServer(up, discard())
		srv := httptest.NewServer(&countingHandler{s: s, h: s.Handler()})
		p := &mapPeer{revokedPeer: revokedPeer{revoked: make(chan struct{}, 16), applied: make(chan *Assignments, 64)}, follows: follows, maps: make(chan *netmap.Map, 16)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(ctx, NewClient(srv.URL, "p.secret", srv.Client()), p, RunOptions{PollWait: 30 * time.Second, Logger: discard()})
		}()
		if follows {
			if m := <-p.maps; m.Revision != 1 {
				t.Fatalf("first map revision %d, want 1", m.Revision)
			}
			up.set(2)
			if m := <-p.maps; m.Revision != 2 {
				t.Fatalf("second map revision %d, want 2", m.Revision)
			}
		} else {
			<-p.applied // the link is up: assignments were polled
		}
		cancel()
		<-done
		srv.Close()
		if n := s.Requests()["netmap"]; !follows && n != 0 {
			t.Errorf("a peer that does not follow the map polled it %d times", n)
		}
		if len(p.maps) != 0 {
			t.Errorf("revision given again: %d more maps", len(p.maps))
		}
	}
}
