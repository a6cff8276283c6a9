package root

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/placement"
	"github.com/hedgeorch/hedge/internal/sla"
	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/topology"
)

// TestErrorsReachTheClient sends every domain sentinel the root's handlers
// can meet through apiError and a real HTTP server, and checks the status
// and that the Go client's api sentinels (errors.Is) agree with it.
func TestErrorsReachTheClient(t *testing.T) {
	clientSentinels := []error{api.ErrInvalid, api.ErrUnauthorized, api.ErrForbidden, api.ErrNotFound, api.ErrConflict}
	tests := []struct {
		name   string
		err    error
		status int
		want   error // nil: no api sentinel matches
	}{
		{"root not found", ErrNotFound, 404, api.ErrNotFound},
		{"root conflict", ErrConflict, 409, api.ErrConflict},
		{"root invalid", ErrInvalid, 400, api.ErrInvalid},
		{"root gone", ErrGone, 503, nil},
		{"root unplaceable", ErrUnplaceable, 422, api.ErrInvalid},
		{"root forbidden", ErrForbidden, 403, api.ErrForbidden},
		{"auth unauthorized", auth.ErrUnauthorized, 401, api.ErrUnauthorized},
		{"auth forbidden", auth.ErrForbidden, 403, api.ErrForbidden},
		{"auth invalid", auth.ErrInvalid, 400, api.ErrInvalid},
		{"auth rate limited", auth.ErrRateLimited, 429, nil},
		{"store not found", store.ErrNotFound, 404, api.ErrNotFound},
		{"store conflict", store.ErrConflict, 409, api.ErrConflict},
		{"sla invalid", sla.ErrInvalid, 400, api.ErrInvalid},
		{"topology invalid", topology.ErrInvalid, 400, api.ErrInvalid},
		{"placement unschedulable", placement.ErrUnschedulable, 422, api.ErrInvalid},
		{"link peer gone", link.ErrNoPeer, 503, nil},
		{"store fenced: another replica leads", store.ErrFenced, 503, nil},
		{"internal", store.ErrClosed, 500, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			a := humago.New(mux, huma.DefaultConfig("test", "0"))
			huma.Register(a, huma.Operation{OperationID: "health", Method: http.MethodGet, Path: "/api/health"},
				func(ctx context.Context, _ *struct{}) (*struct{}, error) {
					return nil, apiError(fmt.Errorf("do the thing: %w", tt.err))
				})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			_, err := api.NewClient(srv.URL).Health(context.Background())
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status != tt.status {
				t.Fatalf("got %v, want status %d", err, tt.status)
			}
			for _, s := range clientSentinels {
				if got, want := errors.Is(err, s), s == tt.want; got != want {
					t.Errorf("errors.Is(%v, api %q) = %v, want %v", err, s, got, want)
				}
			}
		})
	}
}
