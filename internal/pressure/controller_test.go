package pressure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// harness is a controller on a fake clock with one fake node.
type harness struct {
	c   *Controller
	clk *clock
	src *fakeSource
	act *fakeActuator
}

func newHarness(p Policy, opts ...Option) *harness {
	h := &harness{clk: &clock{t: t0}, src: &fakeSource{}, act: &fakeActuator{fail: map[string]int{}}}
	h.c = NewController(p, append([]Option{WithNow(h.clk.Now)}, opts...)...)
	h.c.Watch(Target{Node: "edge-1", Source: h.src, Actuator: h.act})
	return h
}

// cycles runs n cycles 5 s apart with sample s, the first one now.
func (h *harness) cycles(n int, s Sample) {
	for range n {
		h.src.set(s, nil)
		h.c.Cycle(context.Background())
		h.clk.advance(5 * time.Second)
	}
}

// summary is an event without its times, for comparison.
func summary(events []Event) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		s := fmt.Sprintf("%v->%v", e.From, e.To)
		if e.Action != "" {
			s += " " + e.Action
		}
		if e.Instance != "" {
			s += " " + e.Instance
		}
		if e.Metric != "" {
			s += fmt.Sprintf(" %s=%v/%v", e.Metric, e.Value, e.Threshold)
		}
		if e.Error != "" {
			s += " error: " + e.Error
		}
		out = append(out, s)
	}
	return out
}

func wantSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %s\n want %s", what, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func TestUnitControllerLifecycle(t *testing.T) {
	logs := &logBuffer{}
	h := newHarness(Policy{Default: Thresholds{CPUPercent: 80, MemoryPercent: 80}}, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	h.act.running = []string{"low", "mid", "high"}

	h.cycles(6, cpu(90)) // t0..t25: limited at t10
	wantSame(t, "calls while limited", h.act.log(), []string{"limit"})
	if got := h.c.Levels()["edge-1"]; got != Limited {
		t.Fatalf("level = %v, want limited", got)
	}
	h.cycles(2, cpu(90))  // t30 tainted: taint + evict; t35 evict
	h.cycles(3, cpu(78))  // pressure gone (in the band): no eviction, still tainted
	h.cycles(3, cpu(90))  // back over: evict high, then nothing left, then no more asking
	h.cycles(10, cpu(50)) // calm from t70: restored at t100, once
	wantSame(t, "actuator calls", h.act.log(), []string{"limit", "taint", "evict", "evict", "evict", "evict", "restore"})
	if got := h.c.Levels()["edge-1"]; got != Normal {
		t.Fatalf("level = %v, want normal", got)
	}
	wantSame(t, "events", summary(h.c.Events(time.Time{})), []string{
		"normal->limited cpu=90/80",
		"limited->limited limit cpu=90/80",
		"limited->tainted cpu=90/80",
		"tainted->tainted taint cpu=90/80",
		"tainted->tainted evict low cpu=90/80",
		"tainted->tainted evict mid cpu=90/80",
		"tainted->tainted evict high cpu=90/80",
		"tainted->tainted evict cpu=90/80", // nothing left
		"tainted->normal cpu=50/80",
		"normal->normal restore cpu=50/80",
	})
	events := h.c.Events(time.Time{})
	if got, want := events[1].At, at(10); !got.Equal(want) {
		t.Errorf("limit event at %v, want the cycle's time %v", got, want)
	}
	if got, want := events[len(events)-1].At, at(100); !got.Equal(want) {
		t.Errorf("restore event at %v, want %v", got, want)
	}

	for _, w := range []string{
		`msg="pressure level changed" node=edge-1 from=limited to=tainted metric=cpu value=90 threshold=80`,
		`msg="pressure action" node=edge-1 from=tainted to=tainted metric=cpu value=90 threshold=80 action=evict instance=low`,
	} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %s:\n%s", w, logs.String())
		}
	}

	// A second episode limits again from scratch.
	h.cycles(3, cpu(95))
	wantSame(t, "second episode", h.act.log()[7:], []string{"limit"})
}

func TestUnitControllerSampleErrors(t *testing.T) {
	h := newHarness(Policy{Default: Thresholds{CPUPercent: 80}})
	h.cycles(2, cpu(90)) // t0, t5: over, not yet limited
	for range 3 {
		h.src.set(Sample{}, errors.New("connection refused"))
		h.c.Cycle(context.Background())
		h.clk.advance(5 * time.Second)
	}
	if got := h.c.Levels()["edge-1"]; got != Unknown {
		t.Fatalf("level after failed samples = %v, want unknown", got)
	}
	h.cycles(2, cpu(90)) // the run of over samples starts again: not limited yet
	if got := h.c.Levels()["edge-1"]; got != Normal {
		t.Fatalf("level = %v, want normal (the over run restarts after a gap)", got)
	}
	h.cycles(1, cpu(90))
	wantSame(t, "events", summary(h.c.Events(time.Time{})), []string{
		"normal->unknown error: connection refused", // once, not per failed cycle
		"unknown->normal",
		"normal->limited cpu=90/80",
		"limited->limited limit cpu=90/80",
	})
	wantSame(t, "actuator calls", h.act.log(), []string{"limit"})
}

func TestUnitControllerRetriesFailedActions(t *testing.T) {
	h := newHarness(Policy{Default: Thresholds{CPUPercent: 80}, MinPressure: -1, MinCalm: -1})
	h.act.fail[ActionLimit] = 1
	h.act.fail[ActionRestore] = 2
	h.cycles(3, cpu(90))
	h.cycles(4, cpu(10))
	wantSame(t, "actuator calls", h.act.log(), []string{"limit", "limit", "restore", "restore", "restore"})
	wantSame(t, "events", summary(h.c.Events(time.Time{})), []string{
		"normal->limited cpu=90/80",
		"limited->limited limit cpu=90/80 error: daemon said no",
		"limited->limited limit cpu=90/80",
		"limited->normal cpu=10/80",
		"normal->normal restore cpu=10/80 error: daemon said no",
		"normal->normal restore cpu=10/80 error: daemon said no",
		"normal->normal restore cpu=10/80",
	})
}

func TestUnitControllerFailedEvictionIsRetried(t *testing.T) {
	h := newHarness(Policy{Default: Thresholds{CPUPercent: 80}, MinPressure: -1, TaintAfter: -1})
	h.act.running = []string{"a"}
	h.act.fail[ActionEvict] = 1
	h.act.fail[ActionTaint] = 1
	h.cycles(4, cpu(90))
	// t0 limited; t5 tainted: taint fails, evict fails; t10 taint, evict a;
	// t15 nothing left.
	wantSame(t, "actuator calls", h.act.log(), []string{"limit", "taint", "evict", "taint", "evict", "evict"})
}

func TestUnitControllerActsOnTheNodeUnderPressureOnly(t *testing.T) {
	h := newHarness(Policy{Default: Thresholds{CPUPercent: 80}, MinPressure: -1})
	calm := &fakeSource{}
	calm.set(cpu(20), nil)
	other := &fakeActuator{}
	h.c.Watch(Target{Node: "edge-2", Source: calm, Actuator: other})
	h.cycles(2, cpu(99))
	if got := other.log(); len(got) != 0 {
		t.Errorf("calm node's actuator was called: %v", got)
	}
	if got := h.act.nodes; !slices.Equal(got, []string{"edge-1"}) {
		t.Errorf("actuator told nodes %v, want [edge-1]", got)
	}
	want := map[string]Level{"edge-1": Limited, "edge-2": Normal}
	if got := h.c.Levels(); !mapsEqual(got, want) {
		t.Errorf("Levels = %v, want %v", got, want)
	}

	// Watching a node again replaces its source but keeps its state.
	again := &fakeSource{}
	again.set(cpu(99), nil)
	h.c.Watch(Target{Node: "edge-1", Source: again, Actuator: h.act})
	h.c.Cycle(context.Background())
	if again.count() != 1 {
		t.Errorf("new source sampled %d times, want 1", again.count())
	}
	if got := h.c.Levels()["edge-1"]; got != Limited {
		t.Errorf("level after rewatch = %v, want limited", got)
	}
	wantSame(t, "calls", h.act.log(), []string{"limit"})

	h.c.Unwatch("edge-2")
	h.c.Cycle(context.Background())
	if calm.count() != 3 {
		t.Errorf("unwatched node sampled %d times, want 3 (none after Unwatch)", calm.count())
	}
	if _, ok := h.c.Levels()["edge-2"]; ok {
		t.Errorf("Levels still has edge-2 after Unwatch")
	}
}

func mapsEqual(a, b map[string]Level) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestUnitControllerEventRing(t *testing.T) {
	h := newHarness(Policy{Default: Thresholds{CPUPercent: 80}, MinPressure: -1, MinCalm: -1}, WithEventLimit(3))
	for range 3 { // 4 events per round: limited, limit, normal, restore
		h.cycles(1, cpu(90))
		h.cycles(1, cpu(10))
	}
	got := h.c.Events(time.Time{})
	wantSame(t, "kept events", summary(got), []string{
		"limited->limited limit cpu=90/80",
		"limited->normal cpu=10/80",
		"normal->normal restore cpu=10/80",
	})
	if !got[0].At.Equal(at(20)) || !got[2].At.Equal(at(25)) {
		t.Errorf("kept events at %v..%v, want t+20s..t+25s", got[0].At, got[2].At)
	}
	wantSame(t, "events since t+25s", summary(h.c.Events(at(25))), []string{
		"limited->normal cpu=10/80",
		"normal->normal restore cpu=10/80",
	})
	if got := h.c.Events(at(26)); len(got) != 0 {
		t.Errorf("events after the last = %v, want none", got)
	}
}

func TestUnitControllerRunStopsWithContext(t *testing.T) {
	src := &fakeSource{}
	src.set(cpu(10), nil)
	c := NewController(DefaultPolicy(), WithInterval(5*time.Millisecond))
	c.Watch(Target{Node: "edge-1", Source: src, Actuator: &fakeActuator{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for src.count() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if src.count() < 3 {
		t.Errorf("sampled %d times, want a cycle every interval", src.count())
	}
}

// blockingSource blocks until its context ends.
type blockingSource struct{}

func (blockingSource) Sample(ctx context.Context, node string) (Sample, error) {
	<-ctx.Done()
	return Sample{}, ctx.Err()
}

func TestUnitControllerSampleIsBoundedByTheInterval(t *testing.T) {
	c := NewController(DefaultPolicy(), WithInterval(20*time.Millisecond))
	c.Watch(Target{Node: "stuck", Source: blockingSource{}, Actuator: &fakeActuator{}})
	begin := time.Now()
	c.Cycle(context.Background())
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("cycle took %v with a hung source", took)
	}
	if got := c.Levels()["stuck"]; got != Unknown {
		t.Errorf("level of a node whose sample timed out = %v, want unknown", got)
	}
	if e := c.Events(time.Time{}); len(e) != 1 || !strings.Contains(e[0].Error, "deadline") {
		t.Errorf("events = %+v, want one naming the deadline", e)
	}
}

func TestUnitControllerWatchOnlyAndSourceless(t *testing.T) {
	src := &fakeSource{}
	src.set(cpu(99), nil)
	c := NewController(Policy{Default: Thresholds{CPUPercent: 80}, MinPressure: -1})
	c.Watch(Target{Node: "watched", Source: src})
	c.Watch(Target{Node: "blind", Actuator: &fakeActuator{}})
	c.Cycle(context.Background())
	want := map[string]Level{"watched": Limited, "blind": Unknown}
	if got := c.Levels(); !mapsEqual(got, want) {
		t.Errorf("Levels = %v, want %v", got, want)
	}
	var actions []string
	for _, e := range c.Events(time.Time{}) {
		if e.Action != "" {
			actions = append(actions, e.Action)
		}
		if e.Node == "blind" && e.Error != "target has no source" {
			t.Errorf("event of the node without a source = %+v", e)
		}
	}
	if len(actions) != 0 {
		t.Errorf("actions on a node without an actuator: %v", actions)
	}
}

// pendingActuator remembers, as a DockerActuator with a state file does,
// that it changed things before a restart.
type pendingActuator struct {
	*fakeActuator
	pending bool
}

func (p *pendingActuator) RestorePending(string) bool { return p.pending }

// A controller that starts over an actuator with something left to restore
// restores it once, on the first sample; one with nothing pending does not.
func TestUnitControllerRestoresWhatARestartLeft(t *testing.T) {
	for _, pending := range []bool{true, false} {
		clk := &clock{t: t0}
		src, act := &fakeSource{}, &pendingActuator{fakeActuator: &fakeActuator{fail: map[string]int{}}, pending: pending}
		c := NewController(Policy{Default: Thresholds{CPUPercent: 80}}, WithNow(clk.Now))
		c.Watch(Target{Node: "edge-1", Source: src, Actuator: act})
		for range 3 {
			src.set(cpu(10), nil)
			c.Cycle(context.Background())
			clk.advance(5 * time.Second)
		}
		want := []string(nil)
		if pending {
			want = []string{"restore"}
		}
		wantSame(t, fmt.Sprintf("pending=%v: actuator calls", pending), act.log(), want)
	}
}
