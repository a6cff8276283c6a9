package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

const (
	credentialBytes  = 32
	maxCredentialLen = 253
)

// Credentials is a small store of peer credentials kept by an upper tier:
// after a lower tier joins with a join token it gets an id and a random
// secret, and presents "<id>.<secret>" as a bearer token on every request
// afterwards. Only HashToken(secret) is stored. Safe for concurrent use.
type Credentials struct {
	st     store.Store
	bucket string
	clock  func() time.Time
}

type credential struct {
	Hash     string    `json:"hash"`
	IssuedAt time.Time `json:"issued_at"`
}

// NewCredentials keeps credentials in bucket of st. Use one bucket per kind of
// peer (e.g. "cluster_credentials" on the root, "node_credentials" on a
// cluster) so that a worker's credential never opens the root.
func NewCredentials(st store.Store, bucket string) *Credentials {
	return &Credentials{st: st, bucket: bucket, clock: time.Now}
}

// Issue creates a new secret for id, replacing any earlier one (which stops
// working), and returns the bearer "<id>.<secret>" to hand to the peer once.
// id must be non-empty, at most 253 bytes and free of spaces and control
// characters; it may contain dots (host names).
func (c *Credentials) Issue(id string) (bearer string, err error) {
	if err := validateCredentialID(id); err != nil {
		return "", fmt.Errorf("issue credential: %w", err)
	}
	buf := make([]byte, credentialBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("issue credential for %s: %w", id, err)
	}
	secret := base64.RawURLEncoding.EncodeToString(buf)
	rec := credential{Hash: HashToken(secret), IssuedAt: c.clock().UTC()}
	if err := c.st.Update(func(tx store.Tx) error { return tx.Put(c.bucket, id, rec) }); err != nil {
		return "", fmt.Errorf("issue credential for %s: %w", id, err)
	}
	return id + "." + secret, nil
}

// Check returns the id a bearer "<id>.<secret>" belongs to, or ErrUnauthorized.
// The secret's hash is compared in constant time.
func (c *Credentials) Check(bearer string) (id string, err error) {
	// The secret is base64url (no dots), so the id is everything before the
	// last dot.
	i := strings.LastIndexByte(bearer, '.')
	if i <= 0 || i == len(bearer)-1 {
		return "", fmt.Errorf("check credential: want <id>.<secret>: %w", ErrUnauthorized)
	}
	id, secret := bearer[:i], bearer[i+1:]
	var rec credential
	err = c.st.View(func(tx store.Tx) error { return tx.Get(c.bucket, id, &rec) })
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("check credential for %s: unknown id: %w", id, ErrUnauthorized)
	case err != nil:
		return "", fmt.Errorf("check credential for %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare([]byte(HashToken(secret)), []byte(rec.Hash)) != 1 {
		return "", fmt.Errorf("check credential for %s: wrong secret: %w", id, ErrUnauthorized)
	}
	return id, nil
}

// Revoke removes id's credential, so its bearer stops working at once.
// Revoking an unknown id is not an error.
func (c *Credentials) Revoke(id string) error {
	if id == "" {
		return fmt.Errorf("revoke credential: id is empty: %w", ErrInvalid)
	}
	if err := c.st.Update(func(tx store.Tx) error { return tx.Delete(c.bucket, id) }); err != nil {
		return fmt.Errorf("revoke credential for %s: %w", id, err)
	}
	return nil
}

func validateCredentialID(id string) error {
	if id == "" || len(id) > maxCredentialLen {
		return fmt.Errorf("id %q: want 1 to %d bytes: %w", id, maxCredentialLen, ErrInvalid)
	}
	if i := strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return fmt.Errorf("id %q: must not contain spaces or control characters: %w", id, ErrInvalid)
	}
	return nil
}
