package roster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

// Member is what a tier keeps of one peer: the root's record of a cluster,
// a cluster's record of a worker node. It embeds a Desired.
type Member interface {
	// Name is the name the peer joined under. Names are unique among
	// members: see Join.
	Name() string
	// Liveness returns when the peer last reported and whether it is ready.
	Liveness() (lastSeen time.Time, ready bool)
	// SetNotReady marks the peer NOT_READY.
	SetNotReady()
}

// Config configures a Roster. The funcs marked "lock held" are called with
// Lock held and must not take it.
type Config[M Member] struct {
	// Kind names a member in logs ("cluster", "node"), with the keys
	// Kind+"_id" and Kind.
	Kind string
	// Lock is the owner's lock: it guards Members and whatever the owner
	// keeps with them.
	Lock sync.Locker
	// Members is the owner's map of members by id, shared with the roster.
	Members map[string]M
	// Store keeps member records, in Bucket.
	Store  store.Store
	Bucket string
	// Creds issues and checks the members' credentials.
	Creds *auth.Credentials
	// Timeout: a member silent this long is NOT_READY. A member heard from
	// within it is alive, and its name cannot be joined under.
	Timeout time.Duration
	Now     func() time.Time
	Logger  *slog.Logger

	// Admit checks a join token for a peer joining under name and returns
	// an error wrapping link.ErrUnauthorized (or link.ErrNotReady) to refuse
	// it. With use false it only checks; with use true it also counts one
	// use of the token. It may do I/O: the lock is not held.
	Admit func(ctx context.Context, token, name string, use bool) error
	// Record is what is stored of a member that joins under id and name.
	Record func(id, name string) any
	// New builds the member of a peer that joins. Lock held.
	New func(id, name string) M
	// Forget is told of a member being removed (deleted by an operator, or
	// dead and replaced by a new peer of its name) before it leaves
	// Members: it must move the member's work elsewhere. Lock held.
	Forget func(id string, m M)
	// Joined, when set, is told of a new member after it was added (lock
	// not held).
	Joined func(name string)
}

// Roster is the set of a tier's peers: join, authentication and liveness.
type Roster[M Member] struct {
	cfg Config[M]
}

// New returns the roster of cfg.Members.
func New[M Member](cfg Config[M]) *Roster[M] {
	return &Roster[M]{cfg: cfg}
}

// Join admits a peer that presents a join token accepted by Admit and returns
// a new identity and credential. A join never takes over a peer: while a
// member of the same name is alive (heard from within Timeout) the join is
// refused with link.ErrConflict, and once it is dead it is removed (its
// credential revoked, its work moved by Forget) and the new peer gets a new
// id, so it inherits nothing. A peer that restarts keeps its identity file
// and does not join again.
func (r *Roster[M]) Join(ctx context.Context, req link.JoinRequest) (link.JoinResponse, error) {
	if req.Name == "" || len(req.Name) > 253 {
		return link.JoinResponse{}, fmt.Errorf("%w: name: must be 1 to 253 characters", link.ErrInvalid)
	}
	// The token is checked first, so that nobody without one learns which
	// names are taken; a use is counted only once the name is known free.
	if err := r.cfg.Admit(ctx, req.Token, req.Name, false); err != nil {
		return link.JoinResponse{}, err
	}
	r.cfg.Lock.Lock()
	err := r.liveLocked(req.Name)
	r.cfg.Lock.Unlock()
	if err != nil {
		return link.JoinResponse{}, err
	}
	if err := r.cfg.Admit(ctx, req.Token, req.Name, true); err != nil {
		return link.JoinResponse{}, err
	}
	id := NewID()
	bearer, err := r.cfg.Creds.Issue(id)
	if err != nil {
		return link.JoinResponse{}, fmt.Errorf("issue credential: %w", err)
	}
	r.cfg.Lock.Lock()
	if err := r.liveLocked(req.Name); err != nil { // joined meanwhile
		r.cfg.Lock.Unlock()
		_ = r.cfg.Creds.Revoke(id)
		return link.JoinResponse{}, err
	}
	var dead []string
	for mid, m := range r.cfg.Members {
		if m.Name() == req.Name {
			dead = append(dead, mid)
			r.forgetLocked(mid, m, "replaced by a new peer of its name")
		}
	}
	r.cfg.Members[id] = r.cfg.New(id, req.Name)
	r.cfg.Lock.Unlock()
	err = r.cfg.Store.Update(func(tx store.Tx) error {
		for _, mid := range dead {
			if err := tx.Delete(r.cfg.Bucket, mid); err != nil {
				return err
			}
		}
		return tx.Put(r.cfg.Bucket, id, r.cfg.Record(id, req.Name))
	})
	for _, mid := range dead {
		if rerr := r.cfg.Creds.Revoke(mid); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return link.JoinResponse{}, fmt.Errorf("store %s: %w", r.cfg.Kind, err)
	}
	if r.cfg.Joined != nil {
		r.cfg.Joined(req.Name)
	}
	return link.JoinResponse{ID: id, Credential: bearer}, nil
}

// liveLocked fails with link.ErrConflict if a member called name is alive.
// Lock held.
func (r *Roster[M]) liveLocked(name string) error {
	now := r.cfg.Now()
	for _, m := range r.cfg.Members {
		if m.Name() != name {
			continue
		}
		if last, _ := m.Liveness(); now.Sub(last) < r.cfg.Timeout {
			return fmt.Errorf("%w: name: a live %s is called %s (heard from %s ago); pick another name, or delete it first",
				link.ErrConflict, r.cfg.Kind, name, now.Sub(last).Round(time.Second))
		}
	}
	return nil
}

// forgetLocked hands a member to Forget and drops it. Lock held.
func (r *Roster[M]) forgetLocked(id string, m M, why string) {
	r.cfg.Logger.Warn(r.cfg.Kind+" removed", r.cfg.Kind+"_id", id, r.cfg.Kind, m.Name(), "reason", why)
	if r.cfg.Forget != nil {
		r.cfg.Forget(id, m)
	}
	delete(r.cfg.Members, id)
}

// Remove deletes a member: its credential is revoked first (its next
// request gets 401), then its record, then Forget moves its work. It
// reports whether there was such a member; removing twice is not an error.
func (r *Roster[M]) Remove(id, why string) (bool, error) {
	r.cfg.Lock.Lock()
	_, ok := r.cfg.Members[id]
	r.cfg.Lock.Unlock()
	if !ok {
		return false, nil
	}
	if err := r.cfg.Creds.Revoke(id); err != nil {
		return true, fmt.Errorf("remove %s %s: %w", r.cfg.Kind, id, err)
	}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(r.cfg.Bucket, id) }); err != nil {
		return true, fmt.Errorf("remove %s %s: %w", r.cfg.Kind, id, err)
	}
	r.cfg.Lock.Lock()
	defer r.cfg.Lock.Unlock()
	if m, ok := r.cfg.Members[id]; ok {
		r.forgetLocked(id, m, why)
	}
	return true, nil
}

// Authenticate returns the id of the member a credential was issued to, or
// an error wrapping link.ErrUnauthorized.
func (r *Roster[M]) Authenticate(bearer string) (string, error) {
	id, err := r.cfg.Creds.Check(bearer)
	if err != nil {
		return "", fmt.Errorf("%w: %v", link.ErrUnauthorized, err)
	}
	return id, nil
}

// Silent is a member that has not reported for the timeout.
type Silent[M Member] struct {
	ID     string
	Member M
	// Down: it was ready until now.
	Down bool
}

// ExpireLocked marks every member silent for the timeout NOT_READY, logging
// the change once, and returns the silent members. A member loaded from disk
// at start counts as silent from that moment. Lock held.
func (r *Roster[M]) ExpireLocked() []Silent[M] {
	now := r.cfg.Now()
	var out []Silent[M]
	for id, m := range r.cfg.Members {
		last, ready := m.Liveness()
		silent := now.Sub(last)
		if silent < r.cfg.Timeout {
			continue
		}
		if ready {
			m.SetNotReady()
			r.cfg.Logger.Warn(r.cfg.Kind+" stopped reporting", r.cfg.Kind+"_id", id, r.cfg.Kind, m.Name(), "silent_for", silent.Round(time.Millisecond))
		}
		out = append(out, Silent[M]{ID: id, Member: m, Down: ready})
	}
	return out
}

// NewID returns a random identifier for a member or an instance.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
