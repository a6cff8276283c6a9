package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

// Join token kinds: who may join with the token.
const (
	JoinKindCluster = "cluster" // a cluster joining the root
	JoinKindWorker  = "worker"  // a worker joining a cluster
)

const (
	defaultJoinTTL  = 24 * time.Hour
	joinRandomBytes = 24
	joinTokenPrefix = "hedge-"
)

// joinToken is the stored record of a join token, keyed by HashToken(token).
// The token itself is never stored.
type joinToken struct {
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
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

// CreateJoinToken issues a token "hedge-<kind>-<random>" with which a cluster
// (kind "cluster") or a worker (kind "worker") may join until it expires
// after ttl (0 means 24h). It may be used any number of times until then, so
// one token can enrol a fleet. Expired tokens are dropped here.
func (s *Service) CreateJoinToken(kind string, ttl time.Duration) (string, error) {
	if err := validateKind(kind); err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	if ttl < 0 {
		return "", fmt.Errorf("create join token: ttl %s: want 0 (24h) or more: %w", ttl, ErrInvalid)
	}
	if ttl == 0 {
		ttl = defaultJoinTTL
	}
	buf := make([]byte, joinRandomBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	tok := joinTokenPrefix + kind + "-" + base64.RawURLEncoding.EncodeToString(buf)
	now := s.clock().UTC()
	rec := joinToken{Kind: kind, CreatedAt: now, ExpiresAt: now.Add(ttl)}
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
		return tx.Put(bucketTokens, HashToken(tok), rec)
	})
	if err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	s.log.Info("join token created", "kind", kind, "expires_at", rec.ExpiresAt)
	return tok, nil
}

// CheckJoinToken accepts token if it was issued for kind and has not expired;
// otherwise it returns ErrUnauthorized.
func (s *Service) CheckJoinToken(kind, token string) error {
	var t joinToken
	err := s.st.View(func(tx store.Tx) error { return tx.Get(bucketTokens, HashToken(token), &t) })
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("check join token: unknown token: %w", ErrUnauthorized)
	case err != nil:
		return fmt.Errorf("check join token: %w", err)
	case t.Kind != kind:
		return fmt.Errorf("check join token: token is for a %s, not a %s: %w", t.Kind, kind, ErrUnauthorized)
	case !s.clock().Before(t.ExpiresAt):
		return fmt.Errorf("check join token: expired at %s: %w", t.ExpiresAt.Format(time.RFC3339), ErrUnauthorized)
	}
	return nil
}

// JoinTokenHashes returns the hashes of the join tokens of kind that are
// valid now, sorted. Clusters keep these so that they can admit workers while
// the root is unreachable (see MatchJoinToken). A store failure is logged and
// gives no hashes: admitting nobody is the safe answer.
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

// MatchJoinToken checks token against hashes from JoinTokenHashes(kind), as a
// cluster does offline. It checks the token's kind prefix and compares in
// constant time; ErrUnauthorized if nothing matches. Expiry is not known
// offline, so the caller must refresh its hashes from the root whenever it
// can.
func MatchJoinToken(hashes []string, kind, token string) error {
	if !strings.HasPrefix(token, joinTokenPrefix+kind+"-") {
		return fmt.Errorf("match join token: not a %s token: %w", kind, ErrUnauthorized)
	}
	h := []byte(HashToken(token))
	found := 0
	for _, want := range hashes {
		found |= subtle.ConstantTimeCompare(h, []byte(want))
	}
	if found != 1 {
		return fmt.Errorf("match join token: unknown token: %w", ErrUnauthorized)
	}
	return nil
}
