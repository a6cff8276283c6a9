package auth

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/hedgeorch/hedge/internal/store"
)

// newUserID returns a random user id ("u-" and 24 hex digits).
func newUserID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new user id: %w", err)
	}
	return "u-" + hex.EncodeToString(b), nil
}

// assignUserIDs gives an id to every user stored before users had one.
func assignUserIDs(tx store.Tx) error {
	users, err := store.ListAll[User](tx, bucketUsers)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.ID != "" {
			continue
		}
		if u.ID, err = newUserID(); err != nil {
			return err
		}
		if err := tx.Put(bucketUsers, u.Name, u); err != nil {
			return err
		}
	}
	return nil
}
