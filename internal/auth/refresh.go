package auth

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

// bucketRefresh holds one record per login session (a family of refresh
// tokens), keyed by family id.
const bucketRefresh = "refresh_families"

// refreshFamily is a login session. Each refresh returns a new refresh
// token and makes it the only one the family accepts; presenting an older
// one means a token was copied, and ends the session for both holders (the
// rotation with reuse detection of the OAuth 2.0 Security BCP).
type refreshFamily struct {
	User      string    `json:"user"`
	Current   string    `json:"current"` // jti of the one valid refresh token
	ExpiresAt time.Time `json:"expires_at"`
}

// ErrRefreshReused: a refresh token was presented again after it had been
// exchanged; the session it belonged to is revoked.
var ErrRefreshReused = fmt.Errorf("refresh token already used: the session is revoked, log in again: %w", ErrUnauthorized)

func newFamilyID() (string, error) {
	b := make([]byte, jtiByteSize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new session: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// rotate checks that jti is the current token of family fam and, in the
// same transaction, makes next the current one. A stale jti revokes the
// family.
func (s *Service) rotate(fam, jti, next string, expires time.Time) error {
	reused := false
	err := s.st.Update(func(tx store.Tx) error {
		var f refreshFamily
		if err := tx.Get(bucketRefresh, fam, &f); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("session ended (logged out, revoked or expired): %w", ErrUnauthorized)
			}
			return err
		}
		if f.Current != jti {
			reused = true
			return tx.Delete(bucketRefresh, fam)
		}
		f.Current, f.ExpiresAt = next, expires
		return tx.Put(bucketRefresh, fam, f)
	})
	if err == nil && reused {
		s.log.Warn("refresh token reused: session revoked", "session", fam[:8])
		return ErrRefreshReused
	}
	return err
}

// startFamily records a new session whose current refresh token is jti,
// and drops expired sessions.
func (s *Service) startFamily(fam, user, jti string, expires time.Time) error {
	now := s.clock()
	return s.st.Update(func(tx store.Tx) error {
		var expired []string
		if err := tx.List(bucketRefresh, func(k string, raw []byte) error {
			var f refreshFamily
			if err := json.Unmarshal(raw, &f); err != nil || !now.Before(f.ExpiresAt) {
				expired = append(expired, k)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range expired {
			if err := tx.Delete(bucketRefresh, k); err != nil {
				return err
			}
		}
		return tx.Put(bucketRefresh, fam, refreshFamily{User: user, Current: jti, ExpiresAt: expires})
	})
}

// revokeSessions ends every session of user in tx (password changed, user
// deleted): none of their refresh tokens works again.
func revokeSessions(tx store.Tx, user string) error {
	var ended []string
	err := tx.List(bucketRefresh, func(k string, raw []byte) error {
		var f refreshFamily
		if err := json.Unmarshal(raw, &f); err != nil || f.User == user {
			ended = append(ended, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range ended {
		if err := tx.Delete(bucketRefresh, k); err != nil {
			return err
		}
	}
	return nil
}

// RevokeRefresh ends the session of a refresh token (logout): neither it
// nor any token refreshed from it works again.
func (s *Service) RevokeRefresh(refreshToken string) error {
	c, err := s.parse(refreshToken, typRefresh)
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if c.Family == "" {
		return nil
	}
	return s.st.Update(func(tx store.Tx) error { return tx.Delete(bucketRefresh, c.Family) })
}
