package link

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

// revokedUpper refuses every credential, as an upper tier does for a peer
// that was deleted.
type revokedUpper struct{ fuzzUpper }

func (revokedUpper) Authenticate(string) (string, error) { return "", ErrUnauthorized }

// revokedPeer records what Run tells it.
type revokedPeer struct {
	revoked chan struct{}
	applied chan *Assignments
}

func (p *revokedPeer) Apply(_ context.Context, a *Assignments) error { p.applied <- a; return nil }
func (p *revokedPeer) Snapshot(context.Context) *Report {
	return &Report{Node: &NodeReport{Name: "w"}, Instances: []InstanceStatus{}}
}
func (p *revokedPeer) Changed() <-chan struct{}                 { return nil }
func (p *revokedPeer) Handle(context.Context, Request) Response { return Response{} }
func (p *revokedPeer) Revoked(context.Context)                  { p.revoked <- struct{}{} }

var _ Revoker = (*revokedPeer)(nil)

// TestRunTellsARevokedPeer: a peer whose credential the upper tier refuses
// is told so (it stops what it runs) and never gets a desired set.
func TestRunTellsARevokedPeer(t *testing.T) {
	srv := httptest.NewServer(NewServer(revokedUpper{}, discard()).Handler())
	defer srv.Close()
	p := &revokedPeer{revoked: make(chan struct{}, 16), applied: make(chan *Assignments, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, NewClient(srv.URL, "w.revoked", srv.Client()), p, RunOptions{PollWait: time.Second, Logger: discard()})
	}()
	select {
	case <-p.revoked:
	case <-time.After(30 * time.Second):
		t.Error("Run never told the peer its credential was refused")
	}
	cancel()
	<-done
	if len(p.applied) != 0 {
		t.Errorf("a refused peer was given %d desired sets", len(p.applied))
	}
}
