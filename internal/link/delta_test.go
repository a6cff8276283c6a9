package link

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// latestUpper keeps the last report it was given, and how many.
type latestUpper struct {
	fuzzUpper
	mu   sync.Mutex
	last Report
	n    int
}

func (u *latestUpper) Report(_ context.Context, _ string, r *Report) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.last, u.n = *r, u.n+1
	return nil
}

// instances returns the instances of the last report.
func (u *latestUpper) instances() []InstanceStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last.Instances
}

// sent is one report request as it went over the wire.
type sent struct {
	bytes int
	rep   Report
}

// wireRecorder keeps the size and the content of every report request.
type wireRecorder struct {
	h    http.Handler
	mu   sync.Mutex
	reps []sent
}

func (rec *wireRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/link/v1/report" {
		raw, _ := io.ReadAll(r.Body)
		var rep Report
		_ = json.Unmarshal(raw, &rep)
		rec.mu.Lock()
		rec.reps = append(rec.reps, sent{bytes: len(raw), rep: rep})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(raw))
	}
	rec.h.ServeHTTP(w, r)
}

// since returns the requests recorded from the i-th on.
func (rec *wireRecorder) since(i int) []sent {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reps[i:])
}

func (rec *wireRecorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reps)
}

// setPeer reports a set of instances the test changes.
type setPeer struct {
	steadyPeer
	mu      sync.Mutex
	insts   map[string]InstanceStatus
	changed chan struct{}
}

func newSetPeer(n int) *setPeer {
	p := &setPeer{insts: map[string]InstanceStatus{}, changed: make(chan struct{}, 1)}
	started := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("inst-%06d", i)
		p.insts[id] = InstanceStatus{
			InstanceID: id, Generation: 1, State: api.StateRunning, PID: 1000 + i, StartedAt: &started, NodeID: "node-1", NodeName: "w1",
			CPU: 0.0125, MemoryMB: 42, IP: fmt.Sprintf("10.18.%d.%d", i/250, 2+i%250),
		}
	}
	return p
}

func (p *setPeer) Snapshot(context.Context) *Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]InstanceStatus, 0, len(p.insts))
	for _, st := range p.insts {
		out = append(out, st)
	}
	return &Report{Node: &NodeReport{Name: "w1"}, Instances: out}
}

func (p *setPeer) Changed() <-chan struct{} { return p.changed }

// change applies f to the set and wakes the reporter.
func (p *setPeer) change(f func(map[string]InstanceStatus)) {
	p.mu.Lock()
	f(p.insts)
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// want returns the set in canonical order.
func (p *setPeer) want() []InstanceStatus {
	rep := p.Snapshot(context.Background())
	sortStatuses(rep.Instances)
	return rep.Instances
}

// runPeer runs p against h until the test ends.
func runPeer(t *testing.T, h http.Handler, p Peer, o RunOptions) {
	t.Helper()
	hs := httptest.NewServer(h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, NewClient(hs.URL, "p.secret", nil), p, o)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		hs.Close()
	})
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// TestRunReportsAHundredThousandInstancesInPagesThenDeltas: a peer with
// 100,000 instances (about 21 MB of statuses, more than maxBody) gets them
// all to the upper tier, in requests none larger than a page; when 10 of them
// change, the reports that follow carry those 10 and no more.
func TestRunReportsAHundredThousandInstancesInPagesThenDeltas(t *testing.T) {
	const n = 100_000
	up := &latestUpper{fuzzUpper: fuzzUpper{t}}
	rec := &wireRecorder{h: NewServer(up, discard()).Handler()}
	p := newSetPeer(n)
	// Reports only on changes (no heartbeat within the test).
	runPeer(t, rec, p, RunOptions{ReportInterval: time.Hour, PollWait: time.Second, FullReportEvery: time.Hour, Logger: discard()})

	want := p.want()
	waitFor(t, "the upper tier holds 100,000 instances", func() bool { return len(up.instances()) == n })
	if got := up.instances(); !reflect.DeepEqual(got, want) {
		t.Fatal("the upper tier holds other instances than the peer reported")
	}
	total, pages := 0, 0
	for _, s := range rec.since(0) {
		if s.bytes > maxBody {
			t.Errorf("a report request of %d bytes, over maxBody (%d)", s.bytes, maxBody)
		}
		if s.rep.Page != nil {
			pages++
		}
		total += s.bytes
	}
	if pages < n/PageSize {
		t.Errorf("%d pages, want at least %d", pages, n/PageSize)
	}
	if total <= maxBody {
		t.Errorf("the instances took %d bytes, no more than maxBody (%d): the test does not show paging", total, maxBody)
	}
	t.Logf("100,000 instances reported in %d pages, %d bytes in all", pages, total)

	// Change 10: 6 restarted, 2 gone, 2 new.
	mark := rec.count()
	p.change(func(m map[string]InstanceStatus) {
		for _, i := range []int{5, 17, 4_000, 50_001, 77_777, 99_999} {
			id := fmt.Sprintf("inst-%06d", i)
			st := m[id]
			st.Restarts, st.PID = 1, 7
			m[id] = st
		}
		delete(m, "inst-000003")
		delete(m, "inst-060000")
		m["new-1"] = InstanceStatus{InstanceID: "new-1", Generation: 1, State: api.StateScheduled}
		m["new-2"] = InstanceStatus{InstanceID: "new-2", Generation: 1, State: api.StateScheduled}
	})
	want = p.want()
	waitFor(t, "the upper tier holds the changed set", func() bool { return reflect.DeepEqual(up.instances(), want) })
	deltas := 0
	for _, s := range rec.since(mark) {
		entries := len(s.rep.Instances) + len(s.rep.Removed)
		if entries > 10 {
			t.Errorf("a report after 10 changes carries %d entries (%d bytes)", entries, s.bytes)
		}
		if s.rep.Base != "" {
			deltas++
			if len(s.rep.Instances) != 8 || len(s.rep.Removed) != 2 {
				t.Errorf("delta: %d statuses, %d removed; want 8 and 2", len(s.rep.Instances), len(s.rep.Removed))
			}
			t.Logf("delta of 10 changes: %d bytes", s.bytes)
		}
	}
	if got := rec.since(mark); deltas != 1 || len(got) != 1 {
		t.Errorf("%d requests, %d deltas sent after the change; want one delta", len(got), deltas)
	}
}

// swapHandler serves with the handler last stored: an upper tier that
// restarts.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

// TestRunHealsADeltaToAnUpperTierThatRestarted: a delta against a set the
// upper tier no longer holds is refused (409) and the peer sends its
// instances in full at once.
func TestRunHealsADeltaToAnUpperTierThatRestarted(t *testing.T) {
	up1 := &latestUpper{fuzzUpper: fuzzUpper{t}}
	sw := &swapHandler{}
	sw.set(NewServer(up1, discard()).Handler())
	rec := &wireRecorder{h: sw}
	p := newSetPeer(10)
	// Reports only on changes (no heartbeat within the test), so that the
	// reports below are exactly those the change causes.
	runPeer(t, rec, p, RunOptions{ReportInterval: time.Hour, PollWait: time.Second, FullReportEvery: time.Hour, Logger: discard()})
	waitFor(t, "the first upper tier holds the instances", func() bool { return reflect.DeepEqual(up1.instances(), p.want()) })

	up2 := &latestUpper{fuzzUpper: fuzzUpper{t}}
	sw.set(NewServer(up2, discard()).Handler())
	mark := rec.count()
	p.change(func(m map[string]InstanceStatus) {
		st := m["inst-000004"]
		st.Restarts = 3
		m["inst-000004"] = st
	})
	want := p.want()
	waitFor(t, "the restarted upper tier holds the changed set", func() bool { return reflect.DeepEqual(up2.instances(), want) })

	var kinds []string
	for _, s := range rec.since(mark) {
		switch {
		case s.rep.Base != "":
			kinds = append(kinds, "delta")
		case s.rep.Unchanged != "":
			kinds = append(kinds, "unchanged")
		default:
			kinds = append(kinds, fmt.Sprintf("full(%d)", len(s.rep.Instances)))
		}
	}
	if !slices.Equal(kinds, []string{"delta", "full(10)"}) {
		t.Errorf("reports after the restart: %v; want a delta (refused), then a full report", kinds)
	}
}

// TestServerRefusesBadDeltasAndPages: the upper tier refuses, naming the
// field, deltas and pages that do not fit what it holds, and applies
// nothing from a paged report that did not end.
func TestServerRefusesBadDeltasAndPages(t *testing.T) {
	insts := func(ids ...string) []InstanceStatus {
		out := make([]InstanceStatus, len(ids))
		for i, id := range ids {
			out[i] = InstanceStatus{InstanceID: id, Generation: 1, State: api.StateRunning}
		}
		return out
	}
	node := &NodeReport{Name: "w1"}
	page := func(set string, n int, last bool) *ReportPage { return &ReportPage{Set: set, Number: n, Last: last} }
	tests := []struct {
		name string
		// before are sent first and must succeed; with ackBase, the base of
		// the last request is the digest the server acknowledged.
		before  []Report
		ackBase bool
		send    Report
		code    int
		field   string
	}{
		{name: "delta against an unknown base", send: Report{Node: node, Base: "feed", Instances: insts("a")}, code: 409, field: "base"},
		{name: "delta to an upper tier that holds nothing", send: Report{Node: node, Base: Digest(nil)}, code: 409, field: "base"},
		{name: "removal of an instance not held", before: []Report{{Node: node, Instances: insts("a", "b")}}, ackBase: true,
			send: Report{Node: node, Removed: []string{"c"}}, code: 400, field: "removed"},
		{name: "removal and update of one instance", before: []Report{{Node: node, Instances: insts("a", "b")}}, ackBase: true,
			send: Report{Node: node, Instances: insts("a"), Removed: []string{"a"}}, code: 400, field: "removed"},
		{name: "removed without a base", send: Report{Node: node, Instances: insts("a"), Removed: []string{"b"}}, code: 400, field: "removed"},
		{name: "an instance twice in a full report", send: Report{Node: node, Instances: insts("a", "b", "a")}, code: 400, field: "instances"},
		{name: "page out of order", before: []Report{{Instances: insts("a"), Page: page("s1", 0, false)}},
			send: Report{Node: node, Instances: insts("b"), Page: page("s1", 2, true)}, code: 409, field: "page.number"},
		{name: "page of another report", before: []Report{{Instances: insts("a"), Page: page("s1", 0, false)}},
			send: Report{Node: node, Instances: insts("b"), Page: page("s2", 1, true)}, code: 409, field: "page.number"},
		{name: "page after a restart (no first page)", send: Report{Node: node, Instances: insts("b"), Page: page("s1", 1, true)}, code: 409, field: "page.number"},
		{name: "page number negative", send: Report{Node: node, Page: page("s1", -1, true)}, code: 400, field: "page.number"},
		{name: "page without a set", send: Report{Node: node, Page: page("", 0, true)}, code: 400, field: "page.set"},
		{name: "node before the last page", send: Report{Node: node, Instances: insts("a"), Page: page("s1", 0, false)}, code: 400, field: "node"},
		{name: "page of unchanged instances", send: Report{Node: node, Unchanged: "feed", Page: page("s1", 0, true)}, code: 400, field: "unchanged"},
		{name: "page larger than PageSize", send: Report{Node: node, Instances: insts(make([]string, PageSize+1)...), Page: page("s1", 0, true)}, code: 400, field: "instances"},
		{name: "first page of a delta against an unknown base", send: Report{Instances: insts("a"), Base: "feed", Page: page("s1", 0, false)}, code: 409, field: "base"},
		{name: "pages with different bases", before: []Report{{Instances: insts("a"), Page: page("s1", 0, false)}},
			send: Report{Node: node, Base: "feed", Page: page("s1", 1, true)}, code: 400, field: "base"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &latestUpper{fuzzUpper: fuzzUpper{t}}
			hs := httptest.NewServer(NewServer(up, discard()).Handler())
			defer hs.Close()
			c := NewClient(hs.URL, "p.secret", nil)
			ctx := context.Background()
			var ack acks
			for i, r := range tt.before {
				b, _ := json.Marshal(r)
				a, err := c.post(ctx, b)
				if err != nil {
					t.Fatalf("request %d before: %v", i, err)
				}
				ack = a
			}
			if tt.ackBase {
				tt.send.Base = ack.instances
			}
			applied := up.n
			b, _ := json.Marshal(tt.send)
			_, err := c.post(ctx, b)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.code || !strings.Contains(se.Body, tt.field+":") {
				t.Fatalf("answer %v; want %d naming %q", err, tt.code, tt.field)
			}
			if tt.code == 409 && !errors.Is(err, ErrStale) {
				t.Errorf("a 409 to a report is not ErrStale: %v", err)
			}
			if up.n != applied {
				t.Errorf("the upper tier took a report from a refused request")
			}
		})
	}
}

// TestServerAppliesAPagedReportOnlyAtItsLastPage: the upper tier holds the
// pages of a report and hands the whole of it to the Upper once, at the
// last page.
func TestServerAppliesAPagedReportOnlyAtItsLastPage(t *testing.T) {
	up := &latestUpper{fuzzUpper: fuzzUpper{t}}
	hs := httptest.NewServer(NewServer(up, discard()).Handler())
	defer hs.Close()
	c := NewClient(hs.URL, "p.secret", nil)
	ctx := context.Background()
	all := newSetPeer(5).want()
	pages := []Report{
		{Instances: all[:2], Page: &ReportPage{Set: "s", Number: 0}},
		{Instances: all[2:4], Page: &ReportPage{Set: "s", Number: 1}},
		{Node: &NodeReport{Name: "w1"}, Instances: all[4:], Page: &ReportPage{Set: "s", Number: 2, Last: true}},
	}
	var ack acks
	for i, pg := range pages {
		b, _ := json.Marshal(pg)
		a, err := c.post(ctx, b)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if last := i == len(pages)-1; (up.n == 1) != last {
			t.Fatalf("after page %d the upper tier took %d reports", i, up.n)
		}
		ack = a
	}
	if !reflect.DeepEqual(up.instances(), all) || ack.instances != Digest(all) {
		t.Errorf("the upper tier holds %d instances under %q, want the 5 of the pages under %q", len(up.instances()), ack.instances, Digest(all))
	}
}

// TestClientSendsNoPagesToAnUpperTierThatTakesNone: an upper tier from
// before pages gets a large report whole, as it always did.
func TestClientSendsNoPagesToAnUpperTierThatTakesNone(t *testing.T) {
	up := &latestUpper{fuzzUpper: fuzzUpper{t}}
	rec := &wireRecorder{h: withoutHeader{NewServer(up, discard()).Handler(), HeaderDeltas}}
	hs := httptest.NewServer(rec)
	defer hs.Close()
	insts := newSetPeer(3 * PageSize).want()
	if err := NewClient(hs.URL, "p.secret", nil).Report(context.Background(), &Report{Node: &NodeReport{Name: "w1"}, Instances: insts}); err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.since(0) {
		if s.rep.Page != nil || s.rep.Base != "" {
			t.Errorf("sent a page or a delta to an upper tier that takes none: %+v", s.rep.Page)
		}
	}
	if got := up.instances(); len(got) != len(insts) {
		t.Errorf("the upper tier took %d instances, want %d", len(got), len(insts))
	}
}

func TestDiffAndApplyDeltaRoundTrip(t *testing.T) {
	code := 2
	s := func(id string, restarts int) InstanceStatus {
		return InstanceStatus{InstanceID: id, Generation: 1, State: api.StateRunning, Restarts: restarts}
	}
	withCode := s("b", 0)
	withCode.ExitCode = &code
	tests := []struct {
		name     string
		old, cur []InstanceStatus
		changed  int
		removed  int
	}{
		{name: "nothing held", cur: []InstanceStatus{s("a", 0)}, changed: 1},
		{name: "all gone", old: []InstanceStatus{s("a", 0), s("b", 0)}, removed: 2},
		{name: "one changed", old: []InstanceStatus{s("a", 0), s("b", 0)}, cur: []InstanceStatus{s("a", 0), s("b", 1)}, changed: 1},
		{name: "exit code set", old: []InstanceStatus{s("a", 0), s("b", 0)}, cur: []InstanceStatus{s("a", 0), withCode}, changed: 1},
		{name: "one in, one out", old: []InstanceStatus{s("a", 0), s("c", 0)}, cur: []InstanceStatus{s("b", 0), s("c", 0)}, changed: 1, removed: 1},
		{name: "same", old: []InstanceStatus{s("a", 0)}, cur: []InstanceStatus{s("a", 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed, removed := diff(tt.old, tt.cur)
			if len(changed) != tt.changed || len(removed) != tt.removed {
				t.Errorf("diff: %d changed, %d removed; want %d and %d", len(changed), len(removed), tt.changed, tt.removed)
			}
			got, err := applyDelta(tt.old, changed, removed)
			if err != nil {
				t.Fatal(err)
			}
			if Digest(got) != Digest(tt.cur) {
				t.Errorf("applyDelta(diff) = %+v, want %+v", got, tt.cur)
			}
		})
	}
}

// TestClientSendsALargeDeltaInPages: a delta of more than a page of entries
// (statuses and removed ids) goes in pages, and the upper tier ends with the
// peer's whole set.
func TestClientSendsALargeDeltaInPages(t *testing.T) {
	up := &latestUpper{fuzzUpper: fuzzUpper{t}}
	rec := &wireRecorder{h: NewServer(up, discard()).Handler()}
	hs := httptest.NewServer(rec)
	defer hs.Close()
	c := NewClient(hs.URL, "p.secret", nil)
	ctx := context.Background()
	p := newSetPeer(6_000)
	old := p.want()
	ack, err := c.reportAcks(ctx, &Report{Node: &NodeReport{Name: "w1"}, Instances: old})
	if err != nil || ack.instances != Digest(old) {
		t.Fatalf("full report: ack %q, err %v", ack.instances, err)
	}
	p.change(func(m map[string]InstanceStatus) {
		for i := range 2_500 {
			delete(m, fmt.Sprintf("inst-%06d", i))
		}
		for i := range 500 {
			id := fmt.Sprintf("new-%04d", i)
			m[id] = InstanceStatus{InstanceID: id, Generation: 1, State: api.StateScheduled}
		}
	})
	cur := p.want()
	changed, removed := diff(old, cur)
	mark := rec.count()
	ack, err = c.reportAcks(ctx, &Report{Node: &NodeReport{Name: "w1"}, Base: ack.instances, Instances: changed, Removed: removed})
	if err != nil || ack.instances != Digest(cur) {
		t.Fatalf("delta: ack %q, err %v; want %q", ack.instances, err, Digest(cur))
	}
	if !reflect.DeepEqual(up.instances(), cur) {
		t.Error("the upper tier does not hold the peer's set after a paged delta")
	}
	reqs := rec.since(mark)
	if len(reqs) < 2 {
		t.Errorf("a delta of %d entries went in %d request(s), want pages", len(changed)+len(removed), len(reqs))
	}
	for i, s := range reqs {
		if n := len(s.rep.Instances) + len(s.rep.Removed); n > PageSize || s.rep.Page == nil || s.rep.Base == "" {
			t.Errorf("request %d: %d entries, page %+v, base %q", i, n, s.rep.Page, s.rep.Base)
		}
	}
}

// restartAtPage restarts the upper tier (a new server for up) when the
// first page numbered at arrives, before serving it.
type restartAtPage struct {
	sw   *swapHandler
	up   Upper
	at   int
	once sync.Once
}

func (h *restartAtPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var rep Report
	if json.Unmarshal(raw, &rep) == nil && rep.Page != nil && rep.Page.Number == h.at {
		h.once.Do(func() { h.sw.set(NewServer(h.up, discard()).Handler()) })
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	h.sw.ServeHTTP(w, r)
}

// TestRunStartsAgainWhenPagesAreCutShort: an upper tier that restarts in the
// middle of a paged report applies none of it, refuses the next page (409),
// and gets the whole report again from its first page.
func TestRunStartsAgainWhenPagesAreCutShort(t *testing.T) {
	up1, up2 := &latestUpper{fuzzUpper: fuzzUpper{t}}, &latestUpper{fuzzUpper: fuzzUpper{t}}
	sw := &swapHandler{}
	sw.set(NewServer(up1, discard()).Handler())
	rec := &wireRecorder{h: &restartAtPage{sw: sw, up: up2, at: 1}}
	p := newSetPeer(5_000)
	runPeer(t, rec, p, RunOptions{ReportInterval: time.Hour, PollWait: time.Second, FullReportEvery: time.Hour, Logger: discard()})
	want := p.want()
	waitFor(t, "the restarted upper tier holds the instances", func() bool { return reflect.DeepEqual(up2.instances(), want) })
	up1.mu.Lock()
	defer up1.mu.Unlock()
	if up1.n != 0 {
		t.Errorf("the upper tier that restarted mid-report took %d reports, want none", up1.n)
	}
	var numbers []int
	for _, s := range rec.since(0) {
		if s.rep.Page != nil {
			numbers = append(numbers, s.rep.Page.Number)
		}
	}
	if want := []int{0, 1, 0, 1, 2}; !slices.Equal(numbers, want) {
		t.Errorf("pages sent: %v, want %v (page 1 refused, then the report again)", numbers, want)
	}
}
