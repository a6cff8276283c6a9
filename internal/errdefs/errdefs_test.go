package errdefs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
)

// TestUnitSentinelWrapsKind: a domain sentinel keeps its message and is of
// its kind, also when wrapped with context.
func TestUnitSentinelWrapsKind(t *testing.T) {
	errBad := errdefs.New(errdefs.ErrInvalid, "invalid descriptor")
	err := fmt.Errorf("%w: memory: must be positive", errBad)
	if !errors.Is(err, errBad) || !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("errors.Is: sentinel %v, kind %v; want both true", errors.Is(err, errBad), errors.Is(err, errdefs.ErrInvalid))
	}
	if errors.Is(err, errdefs.ErrNotFound) {
		t.Error("an invalid error is also not found")
	}
	if got := err.Error(); got != "invalid descriptor: memory: must be positive" {
		t.Errorf("message = %q", got)
	}
}

// TestUnitInternalErrorNotEchoed: an error of no kind answers 500 "internal
// error" with a request id, and not its own text.
func TestUnitInternalErrorNotEchoed(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	status, msg := errdefs.HTTP(log, errors.New("open /var/lib/hedge/secret.db: permission denied"))
	var line struct {
		RequestID string `json:"request_id"`
		Err       string `json:"err"`
	}
	if err := json.Unmarshal(logged.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", logged.String(), err)
	}
	if status != http.StatusInternalServerError || strings.Contains(msg, "secret") || !strings.HasPrefix(msg, "internal error") {
		t.Errorf("HTTP(internal) = %d, %q; want 500, \"internal error\" and no detail", status, msg)
	}
	if line.RequestID == "" || !strings.Contains(msg, line.RequestID) || !strings.Contains(line.Err, "secret.db") {
		t.Errorf("log %+v, answer %q: want the real error logged under the request id the answer names", line, msg)
	}
}

// TestClientAgreesWithServer sends each kind over HTTP as the server maps
// it, and checks that the Go client maps the answer back to the matching
// api sentinel (and to no other).
func TestClientAgreesWithServer(t *testing.T) {
	clientSentinels := []error{api.ErrInvalid, api.ErrUnauthorized, api.ErrForbidden, api.ErrNotFound, api.ErrConflict}
	tests := []struct {
		name string
		kind error
		want error // the api sentinel, nil when the client has none
	}{
		{"invalid", errdefs.ErrInvalid, api.ErrInvalid},
		{"not found", errdefs.ErrNotFound, api.ErrNotFound},
		{"conflict", errdefs.ErrConflict, api.ErrConflict},
		{"unauthorized", errdefs.ErrUnauthorized, api.ErrUnauthorized},
		{"forbidden", errdefs.ErrForbidden, api.ErrForbidden},
		{"unschedulable", errdefs.ErrUnschedulable, api.ErrInvalid},
		{"rate limited", errdefs.ErrRateLimited, nil},
		{"unavailable", errdefs.ErrUnavailable, nil},
		{"internal", errors.New("disk on fire"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				status, msg := errdefs.HTTP(slog.New(slog.DiscardHandler), fmt.Errorf("%w: thing", tt.kind))
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(status)
				_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "title": http.StatusText(status), "detail": msg})
			}))
			defer srv.Close()
			_, err := api.NewClient(srv.URL).Health(context.Background())
			if err == nil {
				t.Fatal("client saw no error")
			}
			for _, s := range clientSentinels {
				if got, want := errors.Is(err, s), s == tt.want; got != want {
					t.Errorf("errors.Is(%v, api %q) = %v, want %v", err, s, got, want)
				}
			}
		})
	}
}
