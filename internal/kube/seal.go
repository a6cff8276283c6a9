package kube

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/hedgeorch/hedge/internal/store"
)

// Buckets of the root's store that this package owns.
const (
	bucketClusters = "kube_clusters"
	bucketRepos    = "kube_chart_repos"
	bucketEnablers = "kube_enablers"
	// bucketSecret holds the key that seals credentials. It is its own
	// bucket so that a dump of the records alone reveals no credential.
	bucketSecret = "kube_secret"
	keyName      = "credentials-key"
)

// sealer encrypts secrets at rest with AES-256-GCM. The record's id is the
// additional data, so a sealed secret copied onto another record does not
// open.
type sealer struct{ aead cipher.AEAD }

// loadSealer reads the key from the store, creating it on first use.
func loadSealer(st store.Store) (*sealer, error) {
	var key []byte
	err := st.Update(func(tx store.Tx) error {
		err := tx.Get(bucketSecret, keyName, &key)
		if errors.Is(err, store.ErrNotFound) {
			key = make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return err
			}
			return tx.Put(bucketSecret, keyName, key)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load credentials key: %w", err)
	}
	return newSealer(key)
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("credentials key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// Seal returns nonce || ciphertext of plain, bound to id.
func (s *sealer) Seal(id string, plain []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

// Open reverses Seal; it fails if sealed was altered or sealed for another id.
func (s *sealer) Open(id string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("open sealed secret: too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("open sealed secret of %s: %w", id, err)
	}
	return plain, nil
}
