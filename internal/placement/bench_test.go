package placement

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

// benchCandidates returns n nodes of a busy fleet, the same for every run: 5 %
// not ready, 2 % cordoned, 10 % without a container runtime, a fifth arm64,
// 4..64 vcpus with random reservations (some full).
func benchCandidates(n int) []*Candidate {
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	out := make([]*Candidate, n)
	// As the cluster and the root build them (NewCandidates): one backing
	// array, and the few distinct runtime and arch lists shared.
	backing := make([]Candidate, n)
	both, proc := []string{api.VirtProcess, api.VirtContainer}, []string{api.VirtProcess}
	amd, arm := []string{"amd64"}, []string{"arm64"}
	for i := range out {
		name := fmt.Sprintf("node-%06d", i)
		c := &backing[i]
		*c = Candidate{
			ID:       "id-" + name,
			Name:     name,
			Ready:    rng.IntN(100) >= 5,
			Cordoned: rng.IntN(100) < 2,
			Runtimes: both,
			Arch:     amd,
		}
		if rng.IntN(10) == 0 {
			c.Runtimes = proc
		}
		if rng.IntN(5) == 0 {
			c.Arch = arm
		}
		cores := float64(int(4) << rng.IntN(5))
		c.Capacity = api.Resources{VCPUs: cores, MemoryMB: int64(cores) * 2048}
		used := rng.Float64()
		c.Free = api.Resources{VCPUs: cores * (1 - used), MemoryMB: int64(float64(c.Capacity.MemoryMB) * (1 - used))}
		c.MaxNodeFree = c.Free
		out[i] = c
	}
	return out
}

func runPlaceBench(b *testing.B, f *Framework, r *Request, cands []*Candidate) {
	b.Helper()
	ctx := context.Background()
	if _, err := f.Place(ctx, r, cands); err != nil {
		b.Fatalf("Place: %v", err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := f.Place(ctx, r, cands); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "placements/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n)/float64(len(cands)), "ns/candidate")
}

// BenchmarkPlace is the common case: one container instance, default policy,
// no constraints, over a cluster of n nodes.
func BenchmarkPlace(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		cands := benchCandidates(n)
		b.Run(fmt.Sprintf("candidates=%d", n), func(b *testing.B) {
			runPlaceBench(b, New(LevelCluster), req(withDemand(1, 1024)), cands)
		})
	}
}

// BenchmarkPlaceExact is BenchmarkPlace with every candidate scanned
// (WithExactUpTo(-1)): the exact best, at the cost of a full scan.
func BenchmarkPlaceExact(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		cands := benchCandidates(n)
		b.Run(fmt.Sprintf("candidates=%d", n), func(b *testing.B) {
			runPlaceBench(b, New(LevelCluster, WithExactUpTo(-1)), req(withDemand(1, 1024)), cands)
		})
	}
}

// BenchmarkPlaceConstrained adds every request-dependent filter: an arch
// list, a direct constraint naming 20 nodes, and worst-fit.
func BenchmarkPlaceConstrained(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		cands := benchCandidates(n)
		var names []string
		for i := 0; i < n; i += n / 20 {
			names = append(names, cands[i].Name)
		}
		r := req(withDemand(0.5, 256), withReqArch("amd64", "x86_64"), withPolicy(PolicyWorstFit),
			withConstraints(api.Constraint{Type: ConstraintDirect, Node: strings.Join(names, "; ")}))
		b.Run(fmt.Sprintf("candidates=%d", n), func(b *testing.B) {
			runPlaceBench(b, New(LevelCluster), r, cands)
		})
	}
}
