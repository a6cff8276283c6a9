package placement

import (
	"context"
	"math/rand/v2"
)

// This file is how Place stays fast on very large clusters: like
// kube-scheduler's percentageOfNodesToScore, it stops scanning once it has
// found enough feasible candidates, and starts each scan where the last one
// stopped so that every candidate gets its turn. Below DefaultExactUpTo
// candidates (every edge cluster we know of) Place scans everything and its
// answer is the exact best; above, it is the best of a sample.

// DefaultExactUpTo is the most candidates Place scans in full by default.
const DefaultExactUpTo = 1000

// minFeasibleSample is the fewest feasible candidates a sampled scan looks for.
const minFeasibleSample = 100

// WithExactUpTo sets how many candidates Place scans in full before it
// samples (see sample.go); n < 0 means always in full.
func WithExactUpTo(n int) Option {
	return func(c *config) { c.exactUpTo = &n }
}

// feasibleToFind returns how many feasible candidates a scan of n needs
// before it may stop, or 0 for a full scan: kube-scheduler's adaptive share,
// 50 % less 1 % per 125 candidates, at least 5 %, at least 100.
func (f *Framework) feasibleToFind(n int) int {
	if f.exactUpTo < 0 || n <= f.exactUpTo {
		return 0
	}
	pct := max(5, 50-n/125)
	return max(minFeasibleSample, n*pct/100)
}

// sampledScan looks for want feasible candidates from the rotating start,
// wrapping around. It probes sequentially first (the common case: feasible
// candidates are plenty and the probe finds them); when they are rare it
// scans the rest in full, in parallel where the list is long enough.
func (f *Framework) sampledScan(ctx context.Context, r *Request, s scanner, cands []*Candidate, want int, seed [2]uint64) scan {
	n := len(cands)
	start := int(f.next.Load() % uint64(n))
	probe := min(n, max(4*want, f.minPerWorker))
	var pcg rand.PCG
	pcg.Seed(seed[0], seed[1])
	s.limit = want
	out := f.scanRange(ctx, r, s, cands, start, start+probe, seed, &pcg)
	if out.err == nil && out.feasible < want && probe < n {
		s.limit = 0
		rest := f.scanRange(ctx, r, s, cands, start+probe, start+n, seed, &pcg)
		out.absorb(&rest, s.random, &pcg)
	}
	f.next.Store(uint64(start + out.evaluated))
	return out
}

// scanRange scans the candidates at positions lo..hi-1 of cands read as a
// ring (0 <= lo <= hi <= lo+len(cands)): one run, or two when it wraps.
// A run without a limit long enough to split is scanned in parallel.
func (f *Framework) scanRange(ctx context.Context, r *Request, s scanner, cands []*Candidate, lo, hi int, seed [2]uint64, pcg *rand.PCG) scan {
	n := len(cands)
	lo, hi = lo%n, lo%n+(hi-lo)
	run := func(a, b int) scan {
		if w := f.workers(b - a); s.limit == 0 && w > 1 {
			return parallelScan(ctx, r, goroutineScanner(s.filters, s.scores, s.random), cands[a:b], w, seed)
		}
		return s.scan(ctx, r, cands[a:b], a, pcg)
	}
	if hi <= n {
		return run(lo, hi)
	}
	out := run(lo, n)
	if out.err != nil || (s.limit > 0 && out.feasible >= s.limit) {
		return out
	}
	if s.limit > 0 {
		s.limit -= out.feasible
	}
	rest := run(0, hi-n)
	out.absorb(&rest, s.random, pcg)
	return out
}
