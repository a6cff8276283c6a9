package roster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

// TestMain checks that a Loop's Run stops with its context.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type peer struct {
	name  string
	last  time.Time
	ready bool
}

func (p *peer) Name() string                { return p.name }
func (p *peer) Liveness() (time.Time, bool) { return p.last, p.ready }
func (p *peer) SetNotReady()                { p.ready = false }

type fixture struct {
	mu      sync.Mutex
	members map[string]*peer
	now     time.Time
	joined  []string
	// uses counts the joins Admit was told to count; forgotten lists the
	// members handed to Forget.
	uses      int
	forgotten []string
	r         *Roster[*peer]
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir() + "/roster.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{members: map[string]*peer{}, now: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.r = New(Config[*peer]{
		Kind: "node", Lock: &f.mu, Members: f.members,
		Store: st, Bucket: "nodes", Creds: auth.NewCredentials(st, "creds"),
		Timeout: 5 * time.Second, Now: func() time.Time { return f.now },
		Logger: slog.New(slog.DiscardHandler),
		Admit: func(_ context.Context, token, _ string, use bool) error {
			if token != "good" {
				return fmt.Errorf("%w: bad token", link.ErrUnauthorized)
			}
			if use {
				f.uses++
			}
			return nil
		},
		Record: func(id, name string) any { return map[string]string{"id": id, "name": name} },
		New:    func(id, name string) *peer { return &peer{name: name, last: f.now} },
		Forget: func(id string, _ *peer) { f.forgotten = append(f.forgotten, id) },
		Joined: func(name string) { f.joined = append(f.joined, name) },
	})
	return f
}

func TestUnitJoin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		req  link.JoinRequest
		want error
	}{
		{"empty name", link.JoinRequest{Token: "good"}, link.ErrInvalid},
		{"long name", link.JoinRequest{Name: string(make([]byte, 254)), Token: "good"}, link.ErrInvalid},
		{"bad token", link.JoinRequest{Name: "a", Token: "bad"}, link.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.r.Join(ctx, tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("Join: got %v, want %v", err, tt.want)
			}
		})
	}
	first, err := f.r.Join(ctx, link.JoinRequest{Name: "a", Token: "good"})
	if err != nil {
		t.Fatal(err)
	}
	// A takeover of a live member is refused, and uses no token.
	if _, err := f.r.Join(ctx, link.JoinRequest{Name: "a", Token: "good"}); !errors.Is(err, link.ErrConflict) {
		t.Fatalf("joining under a live member's name: %v, want ErrConflict", err)
	}
	if f.uses != 1 || len(f.joined) != 1 || len(f.members) != 1 {
		t.Errorf("after a refused takeover: %d uses, Joined told %v, %d members; want 1, [a], 1", f.uses, f.joined, len(f.members))
	}
	if id, err := f.r.Authenticate(first.Credential); err != nil || id != first.ID {
		t.Errorf("Authenticate(first credential) = %q, %v; want %q", id, err, first.ID)
	}
	// Past the timeout the member is dead: the name goes to a new member.
	f.now = f.now.Add(5 * time.Second)
	again, err := f.r.Join(ctx, link.JoinRequest{Name: "a", Token: "good"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == first.ID {
		t.Errorf("joining under a dead member's name gave its id %s, want a new one", first.ID)
	}
	if len(f.members) != 1 || len(f.forgotten) != 1 || f.forgotten[0] != first.ID {
		t.Errorf("after the dead member was replaced: %d members, forgotten %v; want 1, [%s]", len(f.members), f.forgotten, first.ID)
	}
	if _, err := f.r.Authenticate(first.Credential); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("the dead member's credential: %v, want ErrUnauthorized", err)
	}
	if id, err := f.r.Authenticate(again.Credential); err != nil || id != again.ID {
		t.Errorf("Authenticate(new credential) = %q, %v; want %q", id, err, again.ID)
	}
	if _, err := f.r.Authenticate("nonsense"); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("Authenticate(nonsense) = %v, want ErrUnauthorized", err)
	}
	// Remove revokes at once and forgets the member; twice is harmless.
	if ok, err := f.r.Remove(again.ID, "test"); !ok || err != nil {
		t.Fatalf("Remove = %v, %v; want true, nil", ok, err)
	}
	if _, err := f.r.Authenticate(again.Credential); !errors.Is(err, link.ErrUnauthorized) {
		t.Errorf("a removed member's credential: %v, want ErrUnauthorized", err)
	}
	if ok, err := f.r.Remove(again.ID, "test"); ok || err != nil {
		t.Errorf("second Remove = %v, %v; want false, nil", ok, err)
	}
	if len(f.members) != 0 || len(f.forgotten) != 2 {
		t.Errorf("after Remove: %d members, forgotten %v", len(f.members), f.forgotten)
	}
}

func TestUnitExpire(t *testing.T) {
	f := newFixture(t)
	f.members["quiet"] = &peer{name: "quiet", last: f.now, ready: true}
	f.members["loud"] = &peer{name: "loud", last: f.now.Add(4 * time.Second), ready: true}
	f.now = f.now.Add(5 * time.Second)
	f.mu.Lock()
	got := f.r.ExpireLocked()
	again := f.r.ExpireLocked()
	f.mu.Unlock()
	if len(got) != 1 || got[0].ID != "quiet" || !got[0].Down {
		t.Fatalf("first check: %+v, want only quiet, down now", got)
	}
	if f.members["quiet"].ready || !f.members["loud"].ready {
		t.Errorf("quiet ready=%v, loud ready=%v; want false, true", f.members["quiet"].ready, f.members["loud"].ready)
	}
	if len(again) != 1 || again[0].Down {
		t.Errorf("second check: %+v, want quiet still silent but not down again", again)
	}
}

func TestUnitDesired(t *testing.T) {
	d := NewDesired(7)
	rev, wake := d.Revision()
	d.Bump()
	select {
	case <-wake:
	default:
		t.Fatal("Bump did not close the wake channel")
	}
	if next, _ := d.Revision(); next != rev+1 {
		t.Errorf("revision after Bump = %d, want %d", next, rev+1)
	}
}

func TestUnitPending(t *testing.T) {
	m := map[string]int{"c": 1, "a": 2, "b": 0, "d": 3}
	got := Pending(m, func(v int) bool { return v > 0 })
	want := []int{2, 1, 3} // keys a, c, d
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Pending = %v, want %v (ordered by key, unplaced only)", got, want)
	}
}

func TestUnitLoopRunsOnTrigger(t *testing.T) {
	l := NewLoop()
	ctx, cancel := context.WithCancel(context.Background())
	passes := make(chan struct{}, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, func() {}, func(context.Context) { passes <- struct{}{} })
	}()
	l.Trigger()
	<-passes
	cancel()
	<-done
}
