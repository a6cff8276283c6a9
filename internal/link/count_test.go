package link

import (
	"context"
	"maps"
	"net/http/httptest"
	"testing"
)

// TestServerCountsRequestsByEndpoint: every request a peer sends is counted
// under its endpoint, answered well or not, across the server's handlers.
func TestServerCountsRequestsByEndpoint(t *testing.T) {
	s := NewServer(fuzzUpper{t: t}, discard())
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	other := httptest.NewServer(s.Handler()) // a second listener (--link-addr)
	defer other.Close()
	ctx := context.Background()

	if _, err := Join(ctx, srv.Client(), srv.URL, JoinRequest{Token: "bad"}); err == nil {
		t.Fatal("a bad token joined")
	}
	resp, err := Join(ctx, srv.Client(), srv.URL, JoinRequest{Token: "good"})
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{Node: &NodeReport{Name: "w"}, Instances: []InstanceStatus{}}
	for _, base := range []string{srv.URL, other.URL, other.URL} {
		if err := NewClient(base, resp.Credential, srv.Client()).Report(ctx, rep); err != nil {
			t.Fatal(err)
		}
	}
	got := s.Requests()
	want := map[string]uint64{"join": 2, "report": 3, "assignments": 0, "requests": 0, "response": 0, "worker-token": 0, "certificate": 0, "netmap": 0}
	if !maps.Equal(got, want) {
		t.Errorf("Requests() = %v, want %v", got, want)
	}
}
