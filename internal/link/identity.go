package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Identity is what a lower tier keeps on disk after joining: who it is and how
// it proves it. The file is 0600 because the credential is a secret.
type Identity struct {
	Upper      string `json:"upper"`
	ID         string `json:"id"`
	Credential string `json:"credential"`
	// Certificate is the client certificate chain the upper tier signed at
	// this join, for the caller to keep with its key; empty for an
	// identity read from disk. It is not stored in the identity file.
	Certificate string `json:"-"`
}

// Connect returns the identity stored at path, or joins the upper tier with
// token and stores the identity it gets. A stored identity for another upper
// URL is replaced by a new join; one that shares a URL with upper (a root
// replica added to the list, or one taken away) is kept. While the upper tier cannot be reached the
// join is retried with backoff (tiers may start in any order); a refused token
// ends it at once. csr, when set, asks for a client certificate at the join
// (Identity.Certificate).
func Connect(ctx context.Context, hc *http.Client, log *slog.Logger, path, upper, token, name string, csr []byte) (Identity, error) {
	var id Identity
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &id); err != nil {
			return Identity{}, fmt.Errorf("read identity %s: %w", path, err)
		}
		if sameUpper(id.Upper, upper) && id.Credential != "" {
			id.Upper = upper
			return id, nil
		}
	case !errors.Is(err, os.ErrNotExist):
		return Identity{}, fmt.Errorf("read identity: %w", err)
	}
	if token == "" {
		return Identity{}, fmt.Errorf("not joined to %s yet: a join token is needed (--join-token)", upper)
	}
	var resp JoinResponse
	var retry backoff
	for {
		resp, err = Join(ctx, hc, upper, JoinRequest{Token: token, Name: name, CSR: string(csr)})
		var se *StatusError
		if err == nil || (errors.As(err, &se) && se.Code < 500) || ctx.Err() != nil {
			break
		}
		log.Warn("link: cannot reach the upper tier to join, retrying", "upper", upper, "err", err)
		retry.wait(ctx)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("join %s: %w", upper, err)
	}
	id = Identity{Upper: upper, ID: resp.ID, Credential: resp.Credential, Certificate: resp.Certificate}
	b, _ = json.Marshal(id)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Identity{}, fmt.Errorf("store identity: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return Identity{}, fmt.Errorf("store identity: %w", err)
	}
	return id, nil
}

// sameUpper reports whether two comma-separated lists of an upper tier's
// replicas share an address.
func sameUpper(a, b string) bool {
	for _, x := range strings.Split(a, ",") {
		for _, y := range strings.Split(b, ",") {
			if strings.TrimRight(x, "/") == strings.TrimRight(y, "/") && x != "" {
				return true
			}
		}
	}
	return false
}
