package placement

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestParallelScanMatchesSequential: splitting the scan over goroutines must
// not change the deterministic result or the diagnosis.
func TestParallelScanMatchesSequential(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		level := rapid.SampledFrom([]Level{LevelRoot, LevelCluster}).Draw(t, "level")
		r := genRequest(t)
		cands := make([]*Candidate, rapid.IntRange(0, 40).Draw(t, "n"))
		for i := range cands {
			cands[i] = genCandidate(t, level)
		}
		workers := rapid.IntRange(2, 5).Draw(t, "workers")
		seq, seqErr := New(level, WithParallelism(1)).Place(context.Background(), r, cands)
		par, parErr := New(level, WithParallelism(workers), withMinPerWorker(2)).Place(context.Background(), r, cands)
		if (seqErr == nil) != (parErr == nil) || (seqErr != nil && seqErr.Error() != parErr.Error()) {
			t.Fatalf("errors differ: sequential %v, parallel %v", seqErr, parErr)
		}
		if seq.Chosen != par.Chosen || seq.Score != par.Score || seq.Evaluated != par.Evaluated || seq.Feasible != par.Feasible {
			t.Fatalf("results differ: sequential %+v, parallel %+v", seq, par)
		}
		if seq.Diagnosis.String() != par.Diagnosis.String() {
			t.Fatalf("diagnoses differ: %q vs %q", seq.Diagnosis, par.Diagnosis)
		}
	})
}

// TestParallelRandomTieBreakIsUniform: five tied candidates split 1+2+2
// over three goroutines must each be picked about a fifth of the time; a
// merge that picked each run's winner with equal weight would favour the
// lone one (a third of the time).
func TestParallelRandomTieBreakIsUniform(t *testing.T) {
	cands := []*Candidate{cand("a"), cand("b"), cand("c"), cand("d"), cand("e")}
	f := New(LevelCluster, WithParallelism(3), withMinPerWorker(1), WithRand(rand.New(rand.NewPCG(3, 4))))
	if w := f.workers(len(cands)); w != 3 {
		t.Fatalf("workers = %d, want 3", w)
	}
	var picks strings.Builder
	for range 1000 {
		res, err := f.Place(context.Background(), req(), cands)
		if err != nil {
			t.Fatal(err)
		}
		picks.WriteString(res.Chosen.Name)
	}
	for _, c := range cands {
		if n := strings.Count(picks.String(), c.Name); n < 150 || n > 250 {
			t.Errorf("%s picked %d times in 1000, want about 200", c.Name, n)
		}
	}
}

func TestParallelScanErrors(t *testing.T) {
	ctx := context.Background()
	many := func(n int) []*Candidate {
		out := make([]*Candidate, n)
		for i := range out {
			out[i] = cand("n")
		}
		return out
	}
	t.Run("nil candidate in a later run reports its index in the whole list", func(t *testing.T) {
		cands := many(10)
		cands[7] = nil
		_, err := New(LevelCluster, WithParallelism(3), withMinPerWorker(2)).Place(ctx, req(), cands)
		if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "candidate 7 is nil") {
			t.Errorf("err = %v, want candidate 7 is nil", err)
		}
	})
	t.Run("plugin error in a later run fails the placement", func(t *testing.T) {
		cands := many(10)
		cands[9] = cand("boom")
		_, err := New(LevelCluster, WithParallelism(3), withMinPerWorker(2), WithFilter(&lockedFake{})).Place(ctx, req(), cands)
		if !errors.Is(err, ErrPluginFailed) {
			t.Errorf("err = %v, want ErrPluginFailed", err)
		}
	})
}

// lockedFake fails on "boom" and is safe to call from several goroutines.
type lockedFake struct{}

func (lockedFake) Name() string { return "LockedFake" }
func (lockedFake) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	if c.Name == "boom" {
		return NewStatus(Error, "LockedFake", "exploded")
	}
	return nil
}

func TestWorkers(t *testing.T) {
	tests := []struct {
		name        string
		parallelism int
		n           int
		want        int
	}{
		{name: "small list stays sequential", parallelism: 8, n: 4095, want: 1},
		{name: "two runs' worth", parallelism: 8, n: 2 * 4096, want: 2},
		{name: "capped by parallelism", parallelism: 2, n: 100_000, want: 2},
		{name: "parallelism one", parallelism: 1, n: 100_000, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(LevelCluster, WithParallelism(tt.parallelism)).workers(tt.n); got != tt.want {
				t.Errorf("workers(%d) = %d, want %d", tt.n, got, tt.want)
			}
		})
	}
}
