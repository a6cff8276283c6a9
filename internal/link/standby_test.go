package link

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// A replica that stands by applies nothing and says so: the client sends
// the request on to the next replica and stays with the one that answered.
// Given a single replica, the refusal is the answer.
func TestClientMovesOnFromAStandbyReplica(t *testing.T) {
	var standbyHits, leaderHits atomic.Int32
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		standbyHits.Add(1)
		RefuseStandby(w, "https://leader:10000")
	}))
	defer standby.Close()
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaderHits.Add(1)
		if r.Header.Get("Authorization") != "Bearer cred" || r.ContentLength == 0 {
			http.Error(w, "lost the credential or the body", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer leader.Close()

	ctx := context.Background()
	c := NewClient(standby.URL+","+leader.URL, "cred", nil)
	for range 2 {
		if err := c.Report(ctx, &Report{}); err != nil {
			t.Fatalf("report through a standby and a leader: %v", err)
		}
	}
	if standbyHits.Load() != 1 || leaderHits.Load() != 2 {
		t.Fatalf("standby asked %d times, leader %d; want 1 and 2", standbyHits.Load(), leaderHits.Load())
	}

	only := NewClient(standby.URL, "cred", nil)
	err := only.Report(ctx, &Report{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("report to a lone standby: err = %v, want its 503", err)
	}
}
