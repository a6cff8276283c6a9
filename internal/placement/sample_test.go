package placement

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestFeasibleToFind(t *testing.T) {
	f := New(LevelCluster)
	for _, tt := range []struct{ n, want int }{
		{10, 0}, {1000, 0}, // exact
		{1001, 420},   // 50 - 8 = 42 %
		{5000, 500},   // 10 %
		{10_000, 500}, // 5 %, the floor
		{100_000, 5000},
	} {
		if got := f.feasibleToFind(tt.n); got != tt.want {
			t.Errorf("feasibleToFind(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
	if got := New(LevelCluster, WithExactUpTo(-1)).feasibleToFind(1_000_000); got != 0 {
		t.Errorf("WithExactUpTo(-1): feasibleToFind = %d, want a full scan", got)
	}
}

func manyCands(n int) []*Candidate {
	out := make([]*Candidate, n)
	for i := range out {
		out[i] = cand(fmt.Sprintf("n%05d", i))
	}
	return out
}

// A sampled scan stops at the number of feasible candidates it needs, and
// the next one starts where it stopped, so every candidate gets its turn.
func TestSampledScanRotates(t *testing.T) {
	ctx := context.Background()
	cands := manyCands(5000)
	f := New(LevelCluster)
	seen := map[string]bool{}
	for i := range 10 {
		res, err := f.Place(ctx, req(withDemand(1, 512)), cands)
		if err != nil {
			t.Fatal(err)
		}
		if res.Evaluated != 500 || res.Feasible != 500 {
			t.Fatalf("call %d: evaluated %d, feasible %d; want 500 each", i, res.Evaluated, res.Feasible)
		}
		seen[res.Chosen.Name] = true
	}
	if len(seen) != 10 {
		t.Errorf("10 calls chose %d distinct candidates, want 10 (one per sample)", len(seen))
	}
}

// Sampling never costs feasibility: one candidate that fits, anywhere in
// the list, is found, and an answer of unschedulable means none fits.
func TestSampledScanFindsTheOnlyFit(t *testing.T) {
	cands := manyCands(5000)
	for _, c := range cands {
		c.Free.MemoryMB = 100
	}
	// The default, and small goroutine shares so that the rest of the ring
	// is scanned in parallel once the probe comes back short.
	for _, f := range []*Framework{New(LevelCluster), New(LevelCluster, withMinPerWorker(100))} {
		onlyFit(t, f, cands)
	}
}

func onlyFit(t *testing.T, f *Framework, cands []*Candidate) {
	t.Helper()
	ctx := context.Background()
	for _, at := range []int{0, 2500, 4999} {
		cands[at].Free.MemoryMB = 4096
		res, err := f.Place(ctx, req(withDemand(1, 512)), cands)
		if err != nil || res.Chosen != cands[at] {
			t.Fatalf("only fit at %d: chose %v, %v", at, res.Chosen, err)
		}
		cands[at].Free.MemoryMB = 100
	}
	res, err := f.Place(ctx, req(withDemand(1, 512)), cands)
	if !errors.Is(err, ErrUnschedulable) || res.Evaluated != 5000 {
		t.Fatalf("nothing fits: evaluated %d, err %v; want all 5000 and unschedulable", res.Evaluated, err)
	}
}

// Up to DefaultExactUpTo candidates the answer is the exact best.
func TestSmallListsAreScannedInFull(t *testing.T) {
	cands := manyCands(DefaultExactUpTo)
	cands[777].Free.VCPUs = 1 // best-fit: the fullest node
	res, err := New(LevelCluster).Place(context.Background(), req(withDemand(1, 512)), cands)
	if err != nil || res.Chosen != cands[777] || res.Evaluated != DefaultExactUpTo {
		t.Fatalf("chose %v after %d, %v; want n00777 after a full scan", res.Chosen, res.Evaluated, err)
	}
}
