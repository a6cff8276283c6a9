package link

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

func TestUntilNext(t *testing.T) {
	base := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		now   time.Time
		every time.Duration
		want  time.Duration
	}{
		{name: "on a whole second", now: base, every: time.Second, want: time.Second},
		{name: "mid-second", now: base.Add(300 * time.Millisecond), every: time.Second, want: 700 * time.Millisecond},
		{name: "just before a tick skips it", now: base.Add(950 * time.Millisecond), every: time.Second, want: 1050 * time.Millisecond},
		{name: "three seconds", now: base.Add(time.Second), every: 3 * time.Second, want: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := untilNext(tt.now, tt.every); got != tt.want {
				t.Errorf("untilNext = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDigestCountsEveryField(t *testing.T) {
	// A field added to InstanceStatus must be added to Digest (and here).
	if n := reflect.TypeFor[InstanceStatus]().NumField(); n != 14 {
		t.Fatalf("InstanceStatus has %d fields; Digest hashes 14: add the new ones to it", n)
	}
	code, now := 1, time.Now()
	base := InstanceStatus{InstanceID: "a", Generation: 1, State: api.StateRunning}
	changes := map[string]func(*InstanceStatus){
		"InstanceID": func(s *InstanceStatus) { s.InstanceID = "b" },
		"Generation": func(s *InstanceStatus) { s.Generation = 2 },
		"State":      func(s *InstanceStatus) { s.State = api.StateFailed },
		"Reason":     func(s *InstanceStatus) { s.Reason = "x" },
		"ExitCode":   func(s *InstanceStatus) { s.ExitCode = &code },
		"Restarts":   func(s *InstanceStatus) { s.Restarts = 1 },
		"PID":        func(s *InstanceStatus) { s.PID = 9 },
		"StartedAt":  func(s *InstanceStatus) { s.StartedAt = &now },
		"NodeID":     func(s *InstanceStatus) { s.NodeID = "n" },
		"NodeName":   func(s *InstanceStatus) { s.NodeName = "n" },
		"CPU":        func(s *InstanceStatus) { s.CPU = 0.5 },
		"IP":         func(s *InstanceStatus) { s.IP = "10.18.0.2" },
		"MemoryMB":   func(s *InstanceStatus) { s.MemoryMB = 3 },
		"Limited":    func(s *InstanceStatus) { s.Limited = true },
	}
	d0 := Digest([]InstanceStatus{base})
	if d0 != Digest([]InstanceStatus{base}) {
		t.Fatal("Digest is not deterministic")
	}
	if Digest(nil) == d0 {
		t.Error("no instances and one instance have the same digest")
	}
	for field, change := range changes {
		s := base
		change(&s)
		if Digest([]InstanceStatus{s}) == d0 {
			t.Errorf("changing %s does not change the digest", field)
		}
	}
}

// recordingUpper keeps every report it is given.
type recordingUpper struct {
	fuzzUpper
	mu      sync.Mutex
	reports []Report
}

func (u *recordingUpper) Report(_ context.Context, _ string, r *Report) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reports = append(u.reports, *r)
	return nil
}

// bodyRecorder keeps the bodies of the reports that reach the server.
type bodyRecorder struct {
	h      http.Handler
	mu     sync.Mutex
	bodies []Report
}

func (b *bodyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/link/v1/report" {
		raw, _ := io.ReadAll(r.Body)
		var rep Report
		_ = json.Unmarshal(raw, &rep)
		b.mu.Lock()
		b.bodies = append(b.bodies, rep)
		b.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(raw))
	}
	b.h.ServeHTTP(w, r)
}

func TestReportsOfUnchangedInstancesCarryADigest(t *testing.T) {
	up := &recordingUpper{fuzzUpper: fuzzUpper{t}}
	srv := NewServer(up, slog.New(slog.DiscardHandler))
	rec := &bodyRecorder{h: srv.Handler()}
	hs := httptest.NewServer(rec)
	defer hs.Close()
	c := NewClient(hs.URL, "p.secret", nil)
	ctx := context.Background()
	insts := []InstanceStatus{{InstanceID: "a", Generation: 1, State: api.StateRunning, PID: 42}}
	node := &NodeReport{Name: "n"}

	ack, err := c.report(ctx, &Report{Node: node, Instances: insts})
	if err != nil || ack != Digest(insts) {
		t.Fatalf("full report: ack %q, err %v; want the instances' digest", ack, err)
	}
	if _, err := c.report(ctx, &Report{Node: node, Unchanged: ack}); err != nil {
		t.Fatalf("report of unchanged instances: %v", err)
	}
	if _, err := c.report(ctx, &Report{Node: node, Unchanged: "0"}); !errors.Is(err, ErrStale) {
		t.Errorf("report of unchanged instances under another digest: %v, want ErrStale", err)
	}
	if _, err := c.report(ctx, &Report{Node: node, Unchanged: ack, Instances: insts}); !errors.Is(err, ErrInvalid) {
		t.Errorf("report with both instances and a digest: %v, want ErrInvalid", err)
	}
	// A new server (an upper tier that restarted) holds nothing.
	hs2 := httptest.NewServer(NewServer(up, slog.New(slog.DiscardHandler)).Handler())
	defer hs2.Close()
	if _, err := NewClient(hs2.URL, "p.secret", nil).report(ctx, &Report{Node: node, Unchanged: ack}); !errors.Is(err, ErrStale) {
		t.Errorf("report of unchanged instances to a restarted upper tier: %v, want ErrStale", err)
	}

	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.reports) != 2 {
		t.Fatalf("the upper tier took %d reports, want 2 (the full one and the unchanged one)", len(up.reports))
	}
	if !reflect.DeepEqual(up.reports[1].Instances, insts) {
		t.Errorf("the report of unchanged instances reached the upper tier with %+v, want %+v", up.reports[1].Instances, insts)
	}
}

// steadyPeer reports the same instances every time.
type steadyPeer struct{ insts []InstanceStatus }

func (p steadyPeer) Apply(context.Context, *Assignments) error { return nil }
func (p steadyPeer) Snapshot(context.Context) *Report {
	return &Report{Node: &NodeReport{Name: "n"}, Instances: append([]InstanceStatus(nil), p.insts...)}
}
func (p steadyPeer) Changed() <-chan struct{}                 { return nil }
func (p steadyPeer) Handle(context.Context, Request) Response { return Response{} }

func TestRunSendsADigestWhileInstancesAreUnchanged(t *testing.T) {
	up := &recordingUpper{fuzzUpper: fuzzUpper{t}}
	insts := []InstanceStatus{{InstanceID: "a", Generation: 1, State: api.StateRunning}}
	bodies := runUntilReports(t, NewServer(up, slog.New(slog.DiscardHandler)).Handler(), insts, 5)
	if len(bodies[0].Instances) != 1 || bodies[0].Unchanged != "" {
		t.Errorf("first report: %+v, want the instances in full", bodies[0])
	}
	for i, b := range bodies[1:] {
		if len(b.Instances) != 0 || b.Unchanged != Digest(insts) {
			t.Errorf("report %d: %d instances, unchanged %q; want only the digest", i+1, len(b.Instances), b.Unchanged)
		}
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	for i, r := range up.reports {
		if !reflect.DeepEqual(r.Instances, insts) {
			t.Errorf("report %d reached the upper tier with %+v", i, r.Instances)
		}
	}
}

// runUntilReports runs a steadyPeer reporting insts against h until h has
// seen n reports, and returns the bodies it saw.
func runUntilReports(t *testing.T, h http.Handler, insts []InstanceStatus, n int) []Report {
	t.Helper()
	return runPeerUntilReports(t, h, steadyPeer{insts}, time.Hour, n)
}

// runPeerUntilReports runs p against h, with full reports at least every
// fullEvery, until h has seen n reports, and returns the bodies it saw.
func runPeerUntilReports(t *testing.T, h http.Handler, p Peer, fullEvery time.Duration, n int) []Report {
	t.Helper()
	rec := &bodyRecorder{h: h}
	hs := httptest.NewServer(rec)
	defer hs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, NewClient(hs.URL, "p.secret", nil), p, RunOptions{
			ReportInterval: 10 * time.Millisecond, PollWait: 10 * time.Millisecond, FullReportEvery: fullEvery,
		})
	}()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		rec.mu.Lock()
		got := len(rec.bodies)
		rec.mu.Unlock()
		if got >= n {
			break
		}
	}
	cancel()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.bodies) < n {
		t.Fatalf("%d reports sent, want at least %d", len(rec.bodies), n)
	}
	return rec.bodies
}

// withoutHeader answers as an upper tier of an older release that does not
// send the header name: before digests (HeaderDigest), before deltas and
// pages (HeaderDeltas).
type withoutHeader struct {
	h    http.Handler
	name string
}

type headerDropper struct {
	http.ResponseWriter
	name string
}

func (w headerDropper) WriteHeader(code int) {
	w.Header().Del(w.name)
	w.ResponseWriter.WriteHeader(code)
}

func (o withoutHeader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.h.ServeHTTP(headerDropper{w, o.name}, r)
}

func TestRunSendsAllInstancesToAnUpperTierThatDoesNotAcknowledge(t *testing.T) {
	up := &recordingUpper{fuzzUpper: fuzzUpper{t}}
	insts := []InstanceStatus{{InstanceID: "a", Generation: 1, State: api.StateRunning}}
	bodies := runUntilReports(t, withoutHeader{NewServer(up, slog.New(slog.DiscardHandler)).Handler(), HeaderDigest}, insts, 3)
	for i, b := range bodies {
		if len(b.Instances) != 1 || b.Unchanged != "" {
			t.Errorf("report %d: %d instances, unchanged %q; want them all", i, len(b.Instances), b.Unchanged)
		}
	}
}

// changingPeer reports an instance whose restart count goes up at every
// snapshot.
type changingPeer struct {
	steadyPeer
	mu sync.Mutex
	n  int
}

func (p *changingPeer) Snapshot(context.Context) *Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	return &Report{Node: &NodeReport{Name: "n"}, Instances: []InstanceStatus{{InstanceID: "a", Generation: 1, State: api.StateRunning, Restarts: p.n}}}
}

func TestRunSendsAllInstancesWhenTheyChangeAndPeriodically(t *testing.T) {
	insts := []InstanceStatus{{InstanceID: "a", Generation: 1, State: api.StateRunning}}
	tests := []struct {
		name      string
		peer      Peer
		fullEvery time.Duration
	}{
		{name: "instances change at every report", peer: &changingPeer{}, fullEvery: time.Hour},
		{name: "unchanged, but full reports are due every time", peer: steadyPeer{insts}, fullEvery: time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &recordingUpper{fuzzUpper: fuzzUpper{t}}
			bodies := runPeerUntilReports(t, NewServer(up, slog.New(slog.DiscardHandler)).Handler(), tt.peer, tt.fullEvery, 4)
			for i, b := range bodies {
				if len(b.Instances) != 1 || b.Unchanged != "" {
					t.Errorf("report %d: %d instances, unchanged %q; want them all", i, len(b.Instances), b.Unchanged)
				}
			}
		})
	}
}
