package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/store"
)

func TestUnitCredentials(t *testing.T) {
	st := store.NewMemory()
	creds := NewCredentials(st, "node_credentials")

	bearer, err := creds.Issue("edge-1.example.org")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, ok := strings.Cut(bearer, "edge-1.example.org.")
	if !ok || len(secret) < 40 {
		t.Fatalf("bearer %q: want <id>.<long secret>", bearer)
	}
	// Only the hash is stored.
	var rec credential
	if err := st.View(func(tx store.Tx) error { return tx.Get("node_credentials", "edge-1.example.org", &rec) }); err != nil {
		t.Fatal(err)
	}
	if rec.Hash != HashToken(secret) || strings.Contains(rec.Hash, secret) {
		t.Fatalf("stored %+v, want only the hash of the secret", rec)
	}

	other, err := creds.Issue("edge-2")
	if err != nil {
		t.Fatal(err)
	}
	_, otherSecret, _ := strings.Cut(other, ".")

	tests := []struct {
		name    string
		bearer  string
		wantID  string
		wantErr error
	}{
		{"valid, id with dots", bearer, "edge-1.example.org", nil},
		{"valid other", other, "edge-2", nil},
		{"secret of another id", "edge-1.example.org." + otherSecret, "", ErrUnauthorized},
		{"tampered secret", bearer[:len(bearer)-1] + flip(bearer[len(bearer)-1]), "", ErrUnauthorized},
		{"unknown id", "edge-9." + secret, "", ErrUnauthorized},
		{"no dot", "edge-1", "", ErrUnauthorized},
		{"empty secret", "edge-1.", "", ErrUnauthorized},
		{"empty id", "." + secret, "", ErrUnauthorized},
		{"empty", "", "", ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := creds.Check(tt.bearer)
			if !errors.Is(err, tt.wantErr) || id != tt.wantID {
				t.Fatalf("Check = %q, %v; want %q, %v", id, err, tt.wantID, tt.wantErr)
			}
		})
	}

	t.Run("another bucket does not accept it", func(t *testing.T) {
		if _, err := NewCredentials(st, "cluster_credentials").Check(bearer); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	})

	t.Run("reissue replaces the old secret", func(t *testing.T) {
		renewed, err := creds.Issue("edge-2")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := creds.Check(other); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("old bearer after reissue: err = %v, want ErrUnauthorized", err)
		}
		if id, err := creds.Check(renewed); err != nil || id != "edge-2" {
			t.Fatalf("new bearer: %q, %v", id, err)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		if err := creds.Revoke("edge-1.example.org"); err != nil {
			t.Fatal(err)
		}
		if _, err := creds.Check(bearer); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("revoked bearer: err = %v, want ErrUnauthorized", err)
		}
		if err := creds.Revoke("edge-1.example.org"); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
	})
}

func TestUnitCredentialIDValidation(t *testing.T) {
	creds := NewCredentials(store.NewMemory(), "node_credentials")
	for _, c := range []struct {
		name string
		id   string
	}{
		{"empty", ""},
		{"space", "edge 1"},
		{"newline", "edge\n1"},
		{"too long", strings.Repeat("a", 254)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := creds.Issue(c.id); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "id") {
				t.Fatalf("err = %v, want ErrInvalid naming the id", err)
			}
		})
	}
}

// flip returns a different base64url character than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
