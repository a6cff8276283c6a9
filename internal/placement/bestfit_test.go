package placement

import (
	"context"
	"testing"
)

// fitCases are shared by BestFit and WorstFit: the two must be mirror images.
var fitCases = []struct {
	name     string
	req      *Request
	cand     *Candidate
	bestFit  int64
	worstFit int64
}{
	{name: "empty node, small instance: 3/4 cpu and 7/8 memory left",
		req: req(withDemand(1, 512)), cand: cand("n"), bestFit: 19, worstFit: 81},
	{name: "instance fills the node", req: req(withDemand(4, 4096)), cand: cand("n"), bestFit: 100, worstFit: 0},
	{name: "half used node, instance takes the rest of cpu",
		req: req(withDemand(2, 0)), cand: cand("n", withFree(2, 2048)), bestFit: 75, worstFit: 25},
	{name: "no cpu capacity: memory alone decides",
		req: req(withDemand(0, 1024)), cand: cand("n", withCapacity(0, 4096), withFree(0, 4096)), bestFit: 25, worstFit: 75},
	{name: "no memory capacity: cpu alone decides",
		req: req(withDemand(1, 0)), cand: cand("n", withCapacity(4, 0), withFree(4, 0)), bestFit: 25, worstFit: 75},
	{name: "no capacity at all counts as full",
		req: req(withDemand(0, 0)), cand: cand("n", withCapacity(0, 0), withFree(0, 0)), bestFit: 100, worstFit: 0},
	{name: "free above capacity is clamped",
		req: req(withDemand(0, 0)), cand: cand("n", withFree(8, 8192)), bestFit: 0, worstFit: 100},
}

func TestBestFit(t *testing.T) {
	for _, tt := range fitCases {
		t.Run(tt.name, func(t *testing.T) {
			got, st := BestFit{}.Score(context.Background(), tt.req, tt.cand)
			if st != nil {
				t.Fatalf("status = %v, want nil", st)
			}
			if got != tt.bestFit {
				t.Errorf("score = %d, want %d", got, tt.bestFit)
			}
		})
	}
}

func TestBestFitPrefersTighterCandidate(t *testing.T) {
	ctx := context.Background()
	r := req(withDemand(1, 1024))
	tight := cand("tight", withFree(1.5, 1500))
	roomy := cand("roomy", withFree(3, 3000))
	st, _ := BestFit{}.Score(ctx, r, tight)
	sr, _ := BestFit{}.Score(ctx, r, roomy)
	if st <= sr {
		t.Errorf("tight scored %d, roomy %d; best-fit must prefer the tighter node", st, sr)
	}
}
