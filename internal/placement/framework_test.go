package placement

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

func TestPlaceChoosesCandidate(t *testing.T) {
	tests := []struct {
		name  string
		level Level
		req   *Request
		cands []*Candidate
		want  string
	}{
		{
			name:  "best-fit takes the tightest node that fits",
			level: LevelCluster,
			req:   req(withDemand(1, 1024)),
			cands: []*Candidate{cand("roomy"), cand("tight", withFree(1, 1024)), cand("middle", withFree(2, 2048))},
			want:  "tight",
		},
		{
			name:  "worst-fit takes the roomiest node",
			level: LevelCluster,
			req:   req(withDemand(1, 1024), withPolicy(PolicyWorstFit)),
			cands: []*Candidate{cand("tight", withFree(1, 1024)), cand("roomy"), cand("middle", withFree(2, 2048))},
			want:  "roomy",
		},
		{
			name:  "tightest node is skipped when it does not fit",
			level: LevelCluster,
			req:   req(withDemand(1, 1024)),
			cands: []*Candidate{cand("roomy"), cand("too-small", withFree(1, 1000)), cand("middle", withFree(2, 2048))},
			want:  "middle",
		},
		{
			name:  "unready, cordoned and wrong-runtime nodes are skipped",
			level: LevelCluster,
			req:   req(withDemand(1, 1024)),
			cands: []*Candidate{
				cand("down", notReady, withFree(1, 1024)),
				cand("closed", cordoned, withFree(1, 1024)),
				cand("no-docker", withRuntimes(api.VirtProcess), withFree(1, 1024)),
				cand("ok"),
			},
			want: "ok",
		},
		{
			name:  "root honours the direct constraint over a tighter cluster",
			level: LevelRoot,
			req:   req(withConstraints(api.Constraint{Type: ConstraintDirect, Cluster: "far"})),
			cands: []*Candidate{cand("near", withFree(1, 600)), cand("far")},
			want:  "far",
		},
		{
			name:  "root skips a cluster whose free memory is spread thin",
			level: LevelRoot,
			req:   req(withDemand(1, 2048)),
			cands: []*Candidate{
				cand("fragmented", withCapacity(8, 8192), withFree(4, 4096), withMaxNodeFree(2, 1024)),
				cand("whole", withCapacity(8, 8192), withFree(2, 2048)),
			},
			want: "whole",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := New(tt.level).Place(context.Background(), tt.req, tt.cands)
			if err != nil {
				t.Fatalf("Place: %v", err)
			}
			if res.Chosen == nil || res.Chosen.Name != tt.want {
				t.Fatalf("chose %v, want %s", res.Chosen, tt.want)
			}
			if res.Evaluated != len(tt.cands) {
				t.Errorf("Evaluated = %d, want %d", res.Evaluated, len(tt.cands))
			}
		})
	}
}

func TestPlaceUnschedulableDiagnosis(t *testing.T) {
	tests := []struct {
		name  string
		level Level
		req   *Request
		cands []*Candidate
		want  string
	}{
		{
			name:  "brief example",
			level: LevelRoot,
			req:   req(withVirt(api.VirtProcess), withDemand(1, 4096)),
			cands: []*Candidate{
				cand("a", withFree(4, 1024)),
				cand("b", withFree(4, 2048)),
				cand("c", withRuntimes(api.VirtContainer)),
			},
			want: "0/3 clusters available: 2 insufficient memory, 1 runtime process not available",
		},
		{
			name:  "every filter once, equal counts in reason order",
			level: LevelRoot,
			req: req(withDemand(2, 2048), withReqArch("amd64"),
				withConstraints(api.Constraint{Type: ConstraintClusters, Allowed: []string{"a", "b", "c", "d", "e", "f", "g"}})),
			cands: []*Candidate{
				cand("a", notReady),
				cand("b", cordoned),
				cand("c", withRuntimes(api.VirtProcess)),
				cand("d", withArch("arm64")),
				cand("e", withFree(1, 4096)),
				cand("f", withFree(4, 4096), withMaxNodeFree(4, 1024)),
				cand("g", withFree(1, 1024)),
				cand("h"),
			},
			want: "0/8 clusters available: 1 arch amd64 not available, 1 cordoned, 1 insufficient cpu, " +
				"1 insufficient cpu and memory, 1 no single node has enough memory, " +
				"1 not in the clusters constraint's allowed list, 1 not ready, 1 runtime container not available",
		},
		{
			name:  "nodes are called nodes",
			level: LevelCluster,
			req:   req(withConstraints(api.Constraint{Type: ConstraintDirect, Node: "n9"})),
			cands: []*Candidate{cand("n1"), cand("n2"), cand("n3", notReady)},
			want:  "0/3 nodes available: 2 not a node named in the direct constraint, 1 not ready",
		},
		{
			name:  "no candidates at all",
			level: LevelCluster,
			req:   req(),
			cands: nil,
			want:  "0/0 nodes available",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := New(tt.level).Place(context.Background(), tt.req, tt.cands)
			if !errors.Is(err, ErrUnschedulable) {
				t.Fatalf("err = %v, want ErrUnschedulable", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), tt.want)
			}
			if got := res.Diagnosis.String(); got != tt.want {
				t.Errorf("Result.Diagnosis:\n got %q\nwant %q", got, tt.want)
			}
			var ue *UnschedulableError
			if !errors.As(err, &ue) || ue.Diagnosis.Total != len(tt.cands) {
				t.Errorf("errors.As UnschedulableError = %v, Total want %d", ue, len(tt.cands))
			}
			if res.Chosen != nil {
				t.Errorf("Chosen = %v, want nil", res.Chosen.Name)
			}
		})
	}
}

func TestPlaceSuccessDiagnosis(t *testing.T) {
	cands := []*Candidate{cand("a", notReady), cand("b"), cand("c", withFree(0, 0)), cand("d", notReady)}
	res, err := New(LevelCluster).Place(context.Background(), req(), cands)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	want := "1/4 nodes available: 2 not ready, 1 insufficient cpu and memory"
	if got := res.Diagnosis.String(); got != want {
		t.Errorf("Diagnosis = %q, want %q", got, want)
	}
	if res.Feasible != 1 || res.Evaluated != 4 || res.Chosen.Name != "b" {
		t.Errorf("Feasible/Evaluated/Chosen = %d/%d/%s, want 1/4/b", res.Feasible, res.Evaluated, res.Chosen.Name)
	}
}

func TestPlaceTieBreakIsDeterministic(t *testing.T) {
	// Four identical nodes: only the tie-break decides.
	build := func() []*Candidate {
		return []*Candidate{cand("d", withID("4")), cand("b", withID("2")), cand("c", withID("3")), cand("a", withID("1"))}
	}
	f := New(LevelCluster)
	for i := range 20 {
		cands := build()
		rand.New(rand.NewPCG(uint64(i), 0)).Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
		res, err := f.Place(context.Background(), req(), cands)
		if err != nil {
			t.Fatal(err)
		}
		if res.Chosen.ID != "1" {
			t.Fatalf("order %d: chose ID %s, want the lowest ID 1", i, res.Chosen.ID)
		}
	}
	t.Run("equal IDs fall back to name", func(t *testing.T) {
		cands := []*Candidate{cand("z", withID("x")), cand("m", withID("x")), cand("q", withID("x"))}
		res, err := f.Place(context.Background(), req(), cands)
		if err != nil {
			t.Fatal(err)
		}
		if res.Chosen.Name != "m" {
			t.Errorf("chose %s, want m", res.Chosen.Name)
		}
	})
}

func TestPlaceTieBreakWithRand(t *testing.T) {
	cands := []*Candidate{cand("a"), cand("b"), cand("c"), cand("d")}
	sequence := func(seed uint64) string {
		f := New(LevelCluster, WithRand(rand.New(rand.NewPCG(seed, 1))))
		var b strings.Builder
		for range 200 {
			res, err := f.Place(context.Background(), req(), cands)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(res.Chosen.Name)
		}
		return b.String()
	}
	s1, s2 := sequence(7), sequence(7)
	if s1 != s2 {
		t.Fatal("same seed gave different choices")
	}
	if sequence(8) == s1 {
		t.Error("different seeds gave the same 200 choices")
	}
	// Each of four tied candidates is picked about 50 times in 200; a biased
	// tie-break (always first or last) would fail this.
	for _, name := range []string{"a", "b", "c", "d"} {
		if n := strings.Count(s1, name); n < 25 || n > 80 {
			t.Errorf("%s chosen %d times out of 200, want about 50", name, n)
		}
	}
	t.Run("random tie-break never picks a lower score", func(t *testing.T) {
		f := New(LevelCluster, WithRand(rand.New(rand.NewPCG(1, 2))))
		cs := []*Candidate{cand("roomy1"), cand("tight", withFree(1, 512)), cand("roomy2")}
		for range 50 {
			res, err := f.Place(context.Background(), req(), cs)
			if err != nil {
				t.Fatal(err)
			}
			if res.Chosen.Name != "tight" {
				t.Fatalf("chose %s, want tight", res.Chosen.Name)
			}
		}
	})
}

func TestPlaceConcurrentWithRand(t *testing.T) {
	f := New(LevelCluster, WithRand(rand.New(rand.NewPCG(1, 2))))
	cands := []*Candidate{cand("a"), cand("b"), cand("c")}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if _, err := f.Place(context.Background(), req(), cands); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// fakeFilter rejects candidates whose name is in reject, and fails with an
// Error on a candidate named "boom".
type fakeFilter struct {
	reject map[string]bool
	calls  int
}

func (*fakeFilter) Name() string { return "Fake" }

func (f *fakeFilter) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	f.calls++
	switch {
	case c.Name == "boom":
		return NewStatus(Error, "Fake", "exploded")
	case f.reject[c.Name]:
		return NewStatus(Unschedulable, "Fake", "rejected by fake")
	}
	return nil
}

// nameScore prefers candidates by a fixed table.
type nameScore map[string]int64

func (nameScore) Name() string { return "NameScore" }

func (s nameScore) Score(_ context.Context, _ *Request, c *Candidate) (int64, *Status) {
	return s[c.Name], nil
}

// prefilterAll rejects every candidate before the loop.
type prefilterAll struct{}

func (prefilterAll) Name() string { return "NoWay" }
func (prefilterAll) Filter(context.Context, *Request, *Candidate) *Status {
	return NewStatus(Unschedulable, "NoWay", "unreachable")
}
func (prefilterAll) PreFilter(context.Context, *Request) (FilterPlugin, *Status) {
	return nil, NewStatus(Unschedulable, "NoWay", "region closed")
}

func TestPlaceWithPlugins(t *testing.T) {
	ctx := context.Background()
	t.Run("added filter runs after the defaults", func(t *testing.T) {
		ff := &fakeFilter{reject: map[string]bool{"a": true}}
		f := New(LevelCluster, WithFilter(ff))
		res, err := f.Place(ctx, req(), []*Candidate{cand("a"), cand("b"), cand("down", notReady)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Chosen.Name != "b" {
			t.Errorf("chose %s, want b", res.Chosen.Name)
		}
		if ff.calls != 2 {
			t.Errorf("fake filter called %d times, want 2 (not on the node NodeReady rejected)", ff.calls)
		}
	})
	t.Run("weighted score outvotes best-fit", func(t *testing.T) {
		// best-fit prefers tight (score 100 vs 19); weight 2 x (0 vs 100) prefers roomy.
		f := New(LevelCluster, WithScore(nameScore{"roomy": 100}, 2))
		res, err := f.Place(ctx, req(), []*Candidate{cand("tight", withFree(1, 512)), cand("roomy")})
		if err != nil {
			t.Fatal(err)
		}
		if res.Chosen.Name != "roomy" || res.Score != 19+200 {
			t.Errorf("chose %s with %d, want roomy with 219", res.Chosen.Name, res.Score)
		}
	})
	t.Run("filter error fails the placement", func(t *testing.T) {
		f := New(LevelCluster, WithFilter(&fakeFilter{}))
		_, err := f.Place(ctx, req(), []*Candidate{cand("a"), cand("boom")})
		if !errors.Is(err, ErrPluginFailed) || errors.Is(err, ErrUnschedulable) {
			t.Fatalf("err = %v, want ErrPluginFailed only", err)
		}
		if want := `placement plugin failed: Fake on "boom": exploded`; err.Error() != want {
			t.Errorf("err = %q, want %q", err, want)
		}
	})
	t.Run("prefilter rejecting all counts every candidate", func(t *testing.T) {
		f := New(LevelRoot, WithFilter(prefilterAll{}))
		_, err := f.Place(ctx, req(), []*Candidate{cand("a"), cand("b")})
		if want := "0/2 clusters available: 2 region closed"; err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	})
	t.Run("out of range score is an error", func(t *testing.T) {
		f := New(LevelCluster, WithoutDefaults(), WithScore(nameScore{"a": 101}, 1))
		_, err := f.Place(ctx, req(), []*Candidate{cand("a")})
		if !errors.Is(err, ErrPluginFailed) {
			t.Errorf("err = %v, want ErrPluginFailed", err)
		}
	})
	t.Run("without defaults nothing is filtered", func(t *testing.T) {
		f := New(LevelCluster, WithoutDefaults())
		res, err := f.Place(ctx, req(), []*Candidate{cand("b", notReady), cand("a", withFree(0, 0))})
		if err != nil || res.Chosen.Name != "a" || res.Score != 0 {
			t.Errorf("got %v, %v; want a with score 0 by tie-break", res.Chosen, err)
		}
	})
}

func TestPlaceErrors(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		f       *Framework
		ctx     context.Context
		req     *Request
		cands   []*Candidate
		wantIs  error
		wantMsg string
	}{
		{name: "unknown policy", f: New(LevelRoot), ctx: ctx, req: req(withPolicy("fastest")), cands: []*Candidate{cand("a")},
			wantIs: ErrPluginFailed, wantMsg: `placement plugin failed: PolicyScore: unknown policy "fastest", want one of: best-fit, most-traffic, traffic-most, worst-fit`},
		{name: "unknown policy even with no feasible candidate", f: New(LevelRoot), ctx: ctx, req: req(withPolicy("fastest")),
			cands: []*Candidate{cand("a", notReady)}, wantIs: ErrPluginFailed},
		{name: "unknown policy even when a prefilter rejects all", f: New(LevelRoot, WithFilter(prefilterAll{})), ctx: ctx,
			req: req(withPolicy("fastest")), cands: []*Candidate{cand("a")}, wantIs: ErrPluginFailed},
		{name: "nil request", f: New(LevelRoot), ctx: ctx, req: nil, wantIs: ErrInvalidRequest},
		{name: "negative demand", f: New(LevelRoot), ctx: ctx, req: req(withDemand(-1, 0)), wantIs: ErrInvalidRequest,
			wantMsg: "place svc/0: demand vcpus=-1 memory_mb=0, want finite and >= 0: invalid placement request"},
		{name: "nil candidate", f: New(LevelRoot), ctx: ctx, req: req(), cands: []*Candidate{cand("a"), nil}, wantIs: ErrInvalidRequest},
		{name: "canceled context", f: New(LevelRoot), ctx: canceled, req: req(), cands: []*Candidate{cand("a")}, wantIs: context.Canceled},
		{name: "invalid weight", f: New(LevelRoot, WithScore(BestFit{}, 0)), ctx: ctx, req: req(), wantIs: ErrInvalidRequest},
		{name: "nil filter", f: New(LevelRoot, WithFilter(nil)), ctx: ctx, req: req(), wantIs: ErrInvalidRequest},
		{name: "unknown level", f: New(Level(7)), ctx: ctx, req: req(), wantIs: ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.f.Place(tt.ctx, tt.req, tt.cands)
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("err = %v, want %v", err, tt.wantIs)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("err:\n got %q\nwant %q", err, tt.wantMsg)
			}
		})
	}
}

func TestPlaceCanceledMidway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cands := make([]*Candidate, 5000)
	for i := range cands {
		cands[i] = cand("n")
	}
	f := New(LevelCluster, WithFilter(cancelAfter{n: 10, cancel: cancel, seen: new(int)}), WithExactUpTo(-1))
	_, err := f.Place(ctx, req(), cands)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled from a long scan", err)
	}
}

type cancelAfter struct {
	n      int
	seen   *int
	cancel context.CancelFunc
}

func (cancelAfter) Name() string { return "CancelAfter" }
func (c cancelAfter) Filter(context.Context, *Request, *Candidate) *Status {
	*c.seen++
	if *c.seen == c.n {
		c.cancel()
	}
	return nil
}
