package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

// Join token kinds: who may join with the token.
const (
	JoinKindCluster = "cluster" // a cluster joining the root
	JoinKindWorker  = "worker"  // a worker joining a cluster
)

// Bounds of a join token. A token lasts DefaultJoinTTL unless asked
// otherwise, never more than MaxJoinTTL, and may be used MaxJoinUses times at
// most (0 uses means "until it expires", as a Kubernetes bootstrap token).
const (
	DefaultJoinTTL = 24 * time.Hour
	MaxJoinTTL     = 30 * 24 * time.Hour
	MaxJoinUses    = 10000
	// JoinTokenIDLen is the length of a token's public id: the first hex
	// characters of its hash, enough to name it and never enough to use it.
	JoinTokenIDLen = 16
)

const (
	joinRandomBytes = 24
	joinTokenPrefix = "hedge-"
	maxScopeLen     = 253
)

// joinToken is the stored record of a join token, keyed by HashToken(token).
// The token itself is never stored. Records written before uses and scopes
// existed have MaxUses 0 (until expiry) and no scope.
type joinToken struct {
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	MaxUses   int       `json:"max_uses,omitempty"`
	Uses      int       `json:"uses,omitempty"`
	Cluster   string    `json:"cluster,omitempty"`
}

// JoinTokenSpec asks for a join token.
type JoinTokenSpec struct {
	// Kind is JoinKindCluster or JoinKindWorker.
	Kind string
	// TTL is how long the token is valid: 0 means DefaultJoinTTL; at most
	// MaxJoinTTL.
	TTL time.Duration
	// MaxUses bounds the joins the token admits: 1 is a single-use token,
	// 0 means any number until it expires; at most MaxJoinUses.
	MaxUses int
	// Cluster scopes a worker token to the cluster of that name; empty
	// means any cluster of this root. Cluster tokens cannot be scoped.
	Cluster string
}

// JoinTokenInfo describes a join token without its secret.
type JoinTokenInfo struct {
	ID        string
	Kind      string
	Cluster   string
	Uses      int
	MaxUses   int
	CreatedAt time.Time
	ExpiresAt time.Time
}

func (t joinToken) info(hash string) JoinTokenInfo {
	return JoinTokenInfo{ID: hash[:JoinTokenIDLen], Kind: t.Kind, Cluster: t.Cluster, Uses: t.Uses, MaxUses: t.MaxUses, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
}

// HashToken returns the hex SHA-256 of tok. Join tokens and node secrets are
// stored only in this form: they are long random strings, so a fast hash is
// enough (unlike passwords).
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func validateKind(kind string) error {
	if kind != JoinKindCluster && kind != JoinKindWorker {
		return fmt.Errorf("kind %q: want %q or %q: %w", kind, JoinKindCluster, JoinKindWorker, ErrInvalid)
	}
	return nil
}

func (spec JoinTokenSpec) validate() error {
	if err := validateKind(spec.Kind); err != nil {
		return err
	}
	switch {
	case spec.TTL < 0 || spec.TTL > MaxJoinTTL:
		return fmt.Errorf("ttl %s: want 0 (%s) up to %s: %w", spec.TTL, DefaultJoinTTL, MaxJoinTTL, ErrInvalid)
	case spec.MaxUses < 0 || spec.MaxUses > MaxJoinUses:
		return fmt.Errorf("max_uses %d: want 0 (until it expires) up to %d: %w", spec.MaxUses, MaxJoinUses, ErrInvalid)
	case spec.Cluster != "" && spec.Kind != JoinKindWorker:
		return fmt.Errorf("cluster: only worker tokens are scoped to a cluster: %w", ErrInvalid)
	case len(spec.Cluster) > maxScopeLen || strings.ContainsFunc(spec.Cluster, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("cluster %q: want a cluster name of at most %d characters without spaces: %w", spec.Cluster, maxScopeLen, ErrInvalid)
	}
	return nil
}

// CreateJoinToken issues a token with which a cluster (kind "cluster") or a
// worker (kind "worker", at any cluster) may join any number of times until
// it expires after ttl (0 means DefaultJoinTTL). See IssueJoinToken.
func (s *Service) CreateJoinToken(kind string, ttl time.Duration) (string, error) {
	tok, _, err := s.IssueJoinToken(JoinTokenSpec{Kind: kind, TTL: ttl})
	return tok, err
}

// IssueJoinToken issues a token "hedge-<kind>-<random>" as spec asks and
// returns it with its description. The token is shown only here: the store
// keeps its hash. Expired tokens are dropped here.
func (s *Service) IssueJoinToken(spec JoinTokenSpec) (string, JoinTokenInfo, error) {
	if err := spec.validate(); err != nil {
		return "", JoinTokenInfo{}, fmt.Errorf("create join token: %w", err)
	}
	if spec.TTL == 0 {
		spec.TTL = DefaultJoinTTL
	}
	buf := make([]byte, joinRandomBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", JoinTokenInfo{}, fmt.Errorf("create join token: %w", err)
	}
	tok := joinTokenPrefix + spec.Kind + "-" + base64.RawURLEncoding.EncodeToString(buf)
	now := s.clock().UTC()
	rec := joinToken{Kind: spec.Kind, CreatedAt: now, ExpiresAt: now.Add(spec.TTL), MaxUses: spec.MaxUses, Cluster: spec.Cluster}
	hash := HashToken(tok)
	err := s.st.Update(func(tx store.Tx) error {
		var expired []string
		if err := tx.List(bucketTokens, func(hash string, raw []byte) error {
			var t joinToken
			if err := json.Unmarshal(raw, &t); err != nil || !now.Before(t.ExpiresAt) {
				expired = append(expired, hash)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, h := range expired {
			if err := tx.Delete(bucketTokens, h); err != nil {
				return err
			}
		}
		return tx.Put(bucketTokens, hash, rec)
	})
	if err != nil {
		return "", JoinTokenInfo{}, fmt.Errorf("create join token: %w", err)
	}
	info := rec.info(hash)
	s.log.Info("join token created", "token_id", info.ID, "kind", spec.Kind, "cluster", spec.Cluster, "max_uses", spec.MaxUses, "expires_at", rec.ExpiresAt)
	return tok, info, nil
}

// CheckJoinToken accepts token if it was issued for kind, is not scoped to a
// cluster, has not expired and has uses left; otherwise it returns
// ErrUnauthorized. It does not count a use (see UseJoinToken).
func (s *Service) CheckJoinToken(kind, token string) error {
	return s.checkJoinToken(kind, token, "", false)
}

// CheckJoinTokenAt is CheckJoinToken for a join at the cluster named
// cluster: a worker token scoped to another cluster is refused.
func (s *Service) CheckJoinTokenAt(kind, token, cluster string) error {
	return s.checkJoinToken(kind, token, cluster, false)
}

// UseJoinToken checks token as CheckJoinTokenAt does and counts one use, in
// one store transaction, so that a token with n uses admits n joins however
// many clusters ask at once.
func (s *Service) UseJoinToken(kind, token, cluster string) error {
	return s.checkJoinToken(kind, token, cluster, true)
}

func (s *Service) checkJoinToken(kind, token, cluster string, use bool) error {
	hash := HashToken(token)
	var t joinToken
	check := func(tx store.Tx) error {
		err := tx.Get(bucketTokens, hash, &t)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("unknown or revoked token: %w", ErrUnauthorized)
		case err != nil:
			return err
		case t.Kind != kind:
			return fmt.Errorf("token is for a %s, not a %s: %w", t.Kind, kind, ErrUnauthorized)
		case !s.clock().Before(t.ExpiresAt):
			return fmt.Errorf("expired at %s: %w", t.ExpiresAt.Format(time.RFC3339), ErrUnauthorized)
		case t.MaxUses > 0 && t.Uses >= t.MaxUses:
			return fmt.Errorf("used up (%d of %d uses): %w", t.Uses, t.MaxUses, ErrUnauthorized)
		case t.Cluster != "" && t.Cluster != cluster:
			return fmt.Errorf("token is for cluster %s only: %w", t.Cluster, ErrUnauthorized)
		}
		if !use {
			return nil
		}
		t.Uses++
		return tx.Put(bucketTokens, hash, t)
	}
	var err error
	if use {
		err = s.st.Update(check)
	} else {
		err = s.st.View(check)
	}
	if err != nil {
		return fmt.Errorf("check join token: %w", err)
	}
	if use {
		s.log.Info("join token used", "token_id", hash[:JoinTokenIDLen], "kind", kind, "cluster", cluster, "uses", t.Uses, "max_uses", t.MaxUses)
	}
	return nil
}

// ListJoinTokens describes the join tokens that have not expired, oldest
// first. Secrets are never listed: only ids.
func (s *Service) ListJoinTokens() ([]JoinTokenInfo, error) {
	now := s.clock()
	out := []JoinTokenInfo{}
	err := s.st.View(func(tx store.Tx) error {
		return tx.List(bucketTokens, func(hash string, raw []byte) error {
			var t joinToken
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("decode join token: %w", err)
			}
			if now.Before(t.ExpiresAt) {
				out = append(out, t.info(hash))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list join tokens: %w", err)
	}
	slices.SortFunc(out, func(a, b JoinTokenInfo) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeJoinToken deletes the join token whose id (see JoinTokenInfo) is id:
// from then on every join with it is refused, at every cluster, since
// clusters ask the root for each join. ErrNotFound if there is none.
func (s *Service) RevokeJoinToken(id string) error {
	if len(id) != JoinTokenIDLen || strings.Trim(id, "0123456789abcdef") != "" {
		return fmt.Errorf("revoke join token: id %q: want %d lowercase hexadecimal characters: %w", id, JoinTokenIDLen, ErrInvalid)
	}
	err := s.st.Update(func(tx store.Tx) error {
		var hash string
		if err := tx.List(bucketTokens, func(h string, _ []byte) error {
			if strings.HasPrefix(h, id) {
				hash = h
			}
			return nil
		}); err != nil {
			return err
		}
		if hash == "" {
			return fmt.Errorf("join token %s: %w", id, ErrNotFound)
		}
		return tx.Delete(bucketTokens, hash)
	})
	if err != nil {
		return fmt.Errorf("revoke join token: %w", err)
	}
	s.log.Info("join token revoked", "token_id", id)
	return nil
}

// JoinTokenHashes returns the hashes of the join tokens of kind that are
// valid now, sorted. A store failure is logged and gives no hashes.
func (s *Service) JoinTokenHashes(kind string) []string {
	now := s.clock()
	var hashes []string
	err := s.st.View(func(tx store.Tx) error {
		return tx.List(bucketTokens, func(hash string, raw []byte) error {
			var t joinToken
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("decode join token: %w", err)
			}
			if t.Kind == kind && now.Before(t.ExpiresAt) {
				hashes = append(hashes, hash)
			}
			return nil
		})
	})
	if err != nil {
		s.log.Error("list join tokens", "kind", kind, "err", err)
		return nil
	}
	return hashes // List is in key order
}
