package kube

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hedgeorch/hedge/internal/store"
)

// Buckets of the root's store that this package owns.
const (
	bucketClusters = "kube_clusters"
	bucketRepos    = "kube_chart_repos"
	bucketEnablers = "kube_enablers"
	// bucketSecret held the sealing key in versions that kept it in the
	// store next to the records it seals; loadSealer moves it out to the
	// key file.
	bucketSecret = "kube_secret"
	keyName      = "credentials-key"
)

// sealer encrypts secrets at rest with AES-256-GCM. The record's id is the
// additional data, so a sealed secret copied onto another record does not
// open.
type sealer struct{ aead cipher.AEAD }

// loadSealer reads the sealing key from keyFile, apart from the store whose
// records it seals, so that a copy of the store alone reveals no secret.
// On first use it creates the file (mode 0600). A key that an older version
// kept in the store is moved to the file, so what it sealed stays readable;
// a store key that differs from an existing file's is refused, as the
// records would not open.
func loadSealer(st store.Store, keyFile string) (*sealer, error) {
	if keyFile == "" {
		return nil, errors.New("credentials key: no key file given")
	}
	var old []byte
	err := st.View(func(tx store.Tx) error {
		err := tx.Get(bucketSecret, keyName, &old)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load credentials key: %w", err)
	}
	key, err := readKeyFile(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key = old
		if key == nil {
			key = make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return nil, fmt.Errorf("new credentials key: %w", err)
			}
		}
		if err := writeKeyFile(keyFile, key); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case old != nil && !bytes.Equal(old, key):
		return nil, fmt.Errorf("credentials key: the store holds a key other than %s's; the stored credentials would not open (move the file away to keep the store's key)", keyFile)
	}
	if old != nil {
		// The key is safely in the file: drop the store's copy.
		err := st.Update(func(tx store.Tx) error { return tx.Delete(bucketSecret, keyName) })
		if err != nil {
			return nil, fmt.Errorf("move credentials key out of the store: %w", err)
		}
	}
	return newSealer(key)
}

// readKeyFile reads a key file, refusing one that others than its owner
// may read.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("credentials key: %s has mode %v: want 0600 (only its owner may read it)", path, fi.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	return key, nil
}

// writeKeyFile creates path with key, mode 0600, durably: a temporary file
// renamed into place, so a crash leaves the old state or the whole key.
func writeKeyFile(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("credentials key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".seal-key-*")
	if err != nil {
		return fmt.Errorf("credentials key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("credentials key: write %s: %w", path, err)
	}
	return nil
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
