package roster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	// Name is the name the peer joined under; joining again under the same
	// name gives it its old identity back.
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
	// Timeout: a member silent this long is NOT_READY.
	Timeout time.Duration
	Now     func() time.Time
	Logger  *slog.Logger

	// Admit checks a join token and returns an error wrapping
	// link.ErrUnauthorized (or link.ErrNotReady) to refuse it. Lock held.
	Admit func(token string) error
	// Record is what is stored of a member that joins under id and name;
	// old is the member if it is known (known true). Lock held.
	Record func(id, name string, old M, known bool) any
	// New builds the member of a peer that joins for the first time. Lock held.
	New func(id, name string) M
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
// its identity and a fresh credential. A peer that joins again under the same
// name gets its old identity back, so what was assigned to it stays.
func (r *Roster[M]) Join(ctx context.Context, req link.JoinRequest) (link.JoinResponse, error) {
	if req.Name == "" || len(req.Name) > 253 {
		return link.JoinResponse{}, fmt.Errorf("%w: name: must be 1 to 253 characters", link.ErrInvalid)
	}
	r.cfg.Lock.Lock()
	err := r.cfg.Admit(req.Token)
	var id string
	for mid, m := range r.cfg.Members {
		if m.Name() == req.Name {
			id = mid
		}
	}
	r.cfg.Lock.Unlock()
	if err != nil {
		return link.JoinResponse{}, err
	}
	if id == "" {
		id = NewID()
	}
	bearer, err := r.cfg.Creds.Issue(id)
	if err != nil {
		return link.JoinResponse{}, fmt.Errorf("issue credential: %w", err)
	}
	r.cfg.Lock.Lock()
	old, known := r.cfg.Members[id]
	rec := r.cfg.Record(id, req.Name, old, known)
	r.cfg.Lock.Unlock()
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(r.cfg.Bucket, id, rec) }); err != nil {
		return link.JoinResponse{}, fmt.Errorf("store %s: %w", r.cfg.Kind, err)
	}
	r.cfg.Lock.Lock()
	_, known = r.cfg.Members[id]
	if !known {
		r.cfg.Members[id] = r.cfg.New(id, req.Name)
	}
	r.cfg.Lock.Unlock()
	if !known && r.cfg.Joined != nil {
		r.cfg.Joined(req.Name)
	}
	return link.JoinResponse{ID: id, Credential: bearer}, nil
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
