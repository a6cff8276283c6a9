package placement

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

// defaultMinPerWorker is the fewest candidates worth a goroutine of their own: a
// candidate costs tens of nanoseconds, starting and joining a goroutine a
// few microseconds.
const defaultMinPerWorker = 4096

// workers returns how many goroutines should scan n candidates.
func (f *Framework) workers(n int) int {
	return max(1, min(f.parallelism, n/f.minPerWorker))
}

// scanner runs the prepared plugins of one Place call over candidates. The
// context and request are passed to scan apart from it: escape analysis
// treats a struct as a whole, and keeping them out lets the prepared plugin
// slices stay on Place's stack.
type scanner struct {
	filters []FilterPlugin
	scores  []weightedScore
	random  bool
	// limit, when > 0, stops the scan once that many feasible candidates
	// were found (sample.go).
	limit int
}

// goroutineScanner is a scanner with its own copies of the prepared
// plugins: goroutines get one, so that the sequential path keeps its buffers
// on the stack (the copies, not the buffers, flow into the result).
func goroutineScanner(filters []FilterPlugin, scores []weightedScore, random bool) scanner {
	return scanner{filters: slices.Clone(filters), scores: slices.Clone(scores), random: random}
}

// scan is what scanning a run of candidates found.
type scan struct {
	best      *Candidate
	bestScore int64
	ties      uint64 // candidates that share bestScore
	evaluated int
	feasible  int
	tally     tally
	err       error
}

// scan filters and scores cands; offset is the index of cands[0] in the
// caller's list, for error messages. pcg breaks ties when s.random.
func (s scanner) scan(ctx context.Context, r *Request, cands []*Candidate, offset int, pcg *rand.PCG) (out scan) {
candidates:
	for i, c := range cands {
		if i&1023 == 1023 {
			if err := ctx.Err(); err != nil {
				out.err = fmt.Errorf("place %s/%d: %w", r.ServiceID, r.Instance, err)
				return out
			}
		}
		if c == nil {
			out.err = fmt.Errorf("place %s/%d: candidate %d is nil: %w", r.ServiceID, r.Instance, offset+i, ErrInvalidRequest)
			return out
		}
		out.evaluated++
		for _, fp := range s.filters {
			if st := fp.Filter(ctx, r, c); st != nil && st.Code != Success {
				if st.Code != Unschedulable {
					out.err = pluginError(fp, st, c)
					return out
				}
				out.tally.addStatus(st)
				continue candidates
			}
		}
		out.feasible++
		var total int64
		for _, ws := range s.scores {
			v, st := ws.plugin.Score(ctx, r, c)
			if !st.IsSuccess() {
				out.err = pluginError(ws.plugin, st, c)
				return out
			}
			if v < 0 || v > MaxScore {
				out.err = fmt.Errorf("%w: %s: score %d for %q, want 0..%d", ErrPluginFailed, ws.plugin.Name(), v, c.Name, MaxScore)
				return out
			}
			total += ws.weight * v
		}
		switch {
		case out.best == nil || total > out.bestScore:
			out.best, out.bestScore, out.ties = c, total, 1
		case total < out.bestScore:
		case s.random:
			// Reservoir sampling: the k-th equal candidate replaces the
			// current pick with probability 1/k, so each is equally likely.
			out.ties++
			if pcg.Uint64()%out.ties == 0 {
				out.best = c
			}
		case before(c, out.best):
			out.best = c
		}
		if s.limit > 0 && out.feasible >= s.limit {
			return out
		}
	}
	return out
}

// before is the deterministic tie-break: lowest ID, then lowest Name.
func before(a, b *Candidate) bool {
	return a.ID < b.ID || (a.ID == b.ID && a.Name < b.Name)
}

// parallelScan splits cands into workers contiguous runs, scans them
// concurrently (the first on the calling goroutine) and merges the results
// as one sequential scan would have found them.
func parallelScan(ctx context.Context, r *Request, s scanner, cands []*Candidate, workers int, seed [2]uint64) scan {
	parts := make([]scan, workers)
	run := func(w int) {
		lo, hi := w*len(cands)/workers, (w+1)*len(cands)/workers
		var pcg rand.PCG
		pcg.Seed(seed[0], seed[1]+uint64(w)+1)
		parts[w] = s.scan(ctx, r, cands[lo:hi], lo, &pcg)
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() { run(w) })
	}
	run(0)
	wg.Wait()

	var merge rand.PCG
	merge.Seed(seed[0], seed[1])
	out := parts[0]
	for i := 1; i < len(parts) && out.err == nil; i++ {
		out.absorb(&parts[i], s.random, &merge)
	}
	return out
}

// absorb merges the scan of a later run into out.
func (out *scan) absorb(p *scan, random bool, pcg *rand.PCG) {
	if p.err != nil {
		out.err = p.err
		return
	}
	out.evaluated += p.evaluated
	out.feasible += p.feasible
	for _, it := range p.tally.items() {
		out.tally.add(it.reason, it.count)
	}
	switch {
	case p.best == nil:
	case out.best == nil || p.bestScore > out.bestScore:
		out.best, out.bestScore, out.ties = p.best, p.bestScore, p.ties
	case p.bestScore < out.bestScore:
	case random:
		// p's pick stands for p.ties equal candidates: take it with that
		// weight, so every tied candidate stays equally likely.
		out.ties += p.ties
		if pcg.Uint64()%out.ties < p.ties {
			out.best = p.best
		}
	case before(p.best, out.best):
		out.best = p.best
	}
}
