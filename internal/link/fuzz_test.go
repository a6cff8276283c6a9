package link

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzUpper accepts one credential and checks what reaches it.
type fuzzUpper struct{ t *testing.T }

func (u fuzzUpper) Join(_ context.Context, r JoinRequest) (JoinResponse, error) {
	if r.Token != "good" {
		return JoinResponse{}, ErrUnauthorized
	}
	return JoinResponse{ID: "p", Credential: "p.secret"}, nil
}

func (u fuzzUpper) Authenticate(b string) (string, error) {
	if b != "p.secret" {
		return "", ErrUnauthorized
	}
	return "p", nil
}

func (u fuzzUpper) Report(_ context.Context, _ string, r *Report) error {
	if r.Node == nil && r.Cluster == nil {
		return errors.Join(ErrInvalid, errors.New("empty report"))
	}
	return nil
}

func (u fuzzUpper) CheckWorkerToken(_ context.Context, _ string, c TokenCheck) error {
	if c.Token != "good" {
		return ErrUnauthorized
	}
	return nil
}

var _ TokenChecker = fuzzUpper{}

func (u fuzzUpper) Assignments(string) (*Assignments, <-chan struct{}) {
	return &Assignments{Revision: 1}, make(chan struct{})
}

// FuzzServer sends arbitrary bodies to every endpoint, with and without a
// credential: the server must answer 2xx or 4xx, never 5xx or a panic.
func FuzzServer(f *testing.F) {
	for _, seed := range []string{
		`{"token":"good","name":"w"}`, `{"node":{"name":"w"},"instances":[]}`,
		`{"instances":[{"instance_id":"x","state":"RUNNING","exit_code":3}]}`,
		`{"node":{"name":"w"},"base":"0","instances":[{"instance_id":"x"}],"removed":["y"]}`,
		`{"instances":[{"instance_id":"x"}],"page":{"set":"s","number":0}}`,
		`{"node":{"name":"w"},"removed":["x","x"],"page":{"set":"s","number":1,"last":true}}`,
		`{"page":{"set":"","number":-1}}`, `{"unchanged":"probe"}`,
		`{"id":"r1","data":"aGk="}`, `{"token":"good","name":"w","use":true}`, `{"token":7}`, `{}`, `[]`, `null`, `{"node":`, "\x00\xff", `{"a":1}{"b":2}`,
	} {
		for _, path := range []string{"/link/v1/join", "/link/v1/report", "/link/v1/response", "/link/v1/worker-token"} {
			f.Add(path, seed, true)
		}
	}
	h := NewServer(fuzzUpper{}, discard()).Handler()
	f.Fuzz(func(t *testing.T, path, body string, authed bool) {
		req := httptest.NewRequest(http.MethodPost, "/link/v1/join", bytes.NewBufferString(body))
		if len(path) > 0 && path[0] == '/' {
			if r, err := http.NewRequest(http.MethodPost, "http://x"+path, bytes.NewBufferString(body)); err == nil {
				req = r
			}
		}
		if authed {
			req.Header.Set("Authorization", "Bearer p.secret")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
	})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// FuzzAssignments decodes arbitrary desired sets: the decoder fails or gives
// items whose spec is the one their service index names, never a panic.
func FuzzAssignments(f *testing.F) {
	for _, a := range []any{bigAssignments(5), (*plainAssignments)(bigAssignments(3)), Assignments{}} {
		b, _ := json.Marshal(a)
		f.Add(b)
	}
	f.Add([]byte(`{"services":[{"service_id":"s"}],"items":[{"instance_id":"x","service":1}]}`))
	f.Add([]byte(`{"items":[{"instance_id":"x","service":-1}]}`))
	f.Add([]byte(`{"items":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Assignments
		if err := json.Unmarshal(b, &a); err != nil {
			return
		}
		again, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("a decoded desired set does not encode: %v", err)
		}
		var back Assignments
		if err := json.Unmarshal(again, &back); err != nil {
			t.Fatalf("a desired set encoded does not decode: %v", err)
		}
		if len(back.Items) != len(a.Items) {
			t.Fatalf("%d items came back from %d", len(back.Items), len(a.Items))
		}
	})
}
