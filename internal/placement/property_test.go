package placement

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"pgregory.net/rapid"
)

// Names come from a small set so that constraints often match and IDs often
// collide (exercising the tie-break on Name).
var (
	propNames    = []string{"a", "b", "c", "d", "e"}
	propRuntimes = []string{api.VirtProcess, api.VirtContainer, api.VirtUnikernel}
	propArchs    = []string{"amd64", "arm64", "x86_64", "aarch64", "riscv64"}
)

func genResources(t *rapid.T, label string, max api.Resources) api.Resources {
	return api.Resources{
		VCPUs:    rapid.SampledFrom([]float64{max.VCPUs, max.VCPUs / 2, max.VCPUs / 4, 0, rapid.Float64Range(0, max.VCPUs).Draw(t, label+"_cpu_any")}).Draw(t, label+"_cpu"),
		MemoryMB: rapid.SampledFrom([]int64{max.MemoryMB, max.MemoryMB / 2, max.MemoryMB / 4, 0, rapid.Int64Range(0, max.MemoryMB).Draw(t, label+"_mem_any")}).Draw(t, label+"_mem"),
	}
}

func genCandidate(t *rapid.T, level Level) *Candidate {
	c := &Candidate{
		ID:       rapid.SampledFrom([]string{"1", "2", "3", "4"}).Draw(t, "id"),
		Name:     rapid.SampledFrom(propNames).Draw(t, "name"),
		Ready:    rapid.IntRange(0, 9).Draw(t, "ready") < 9, // rapid favours small values
		Cordoned: rapid.IntRange(0, 9).Draw(t, "cordoned") == 9,
		Runtimes: propRuntimes,
		Arch:     []string{rapid.SampledFrom(propArchs).Draw(t, "arch")},
	}
	// Mostly complete candidates, so that many requests have several
	// feasible ones and the scoring properties are exercised.
	if rapid.IntRange(0, 3).Draw(t, "odd_runtimes") == 3 {
		c.Runtimes = rapid.SliceOfDistinct(rapid.SampledFrom(propRuntimes), rapid.ID).Draw(t, "runtimes")
	}
	if rapid.IntRange(0, 3).Draw(t, "odd_arch") == 3 {
		c.Arch = rapid.SliceOfN(rapid.SampledFrom(propArchs), 0, 2).Draw(t, "archs")
	}
	if reg := rapid.SampledFrom([]string{"r1", "r2", ""}).Draw(t, "region"); reg != "" {
		c.Labels = map[string]string{LabelRegion: reg}
	}
	c.Capacity = api.Resources{
		VCPUs:    rapid.SampledFrom([]float64{4, 8, 2, 1, 0}).Draw(t, "cap_cpu"),
		MemoryMB: rapid.SampledFrom([]int64{4096, 8192, 2048, 1024, 0}).Draw(t, "cap_mem"),
	}
	c.Free = genResources(t, "free", c.Capacity)
	c.MaxNodeFree = c.Free
	if level == LevelRoot {
		c.MaxNodeFree = genResources(t, "max_node_free", c.Free)
	}
	return c
}

func genRequest(t *rapid.T) *Request {
	r := &Request{
		ServiceID:      "svc",
		Virtualization: rapid.SampledFrom(append([]string{""}, propRuntimes...)).Draw(t, "virt"),
		Demand: api.Resources{
			VCPUs:    rapid.SampledFrom([]float64{0.25, 0.5, 1, 0, 2, 6}).Draw(t, "demand_cpu"),
			MemoryMB: rapid.SampledFrom([]int64{128, 512, 1024, 0, 2000, 6000}).Draw(t, "demand_mem"),
		},
		Policy: rapid.SampledFrom([]string{"", PolicyBestFit, PolicyWorstFit}).Draw(t, "policy"),
	}
	if rapid.IntRange(0, 2).Draw(t, "use_arch") == 2 {
		r.Arch = rapid.SliceOfN(rapid.SampledFrom(propArchs), 1, 2).Draw(t, "req_arch")
	}
	names := rapid.SliceOfN(rapid.SampledFrom(propNames), 0, 3)
	for range max(0, rapid.IntRange(-2, 2).Draw(t, "n_constraints")) {
		switch rapid.SampledFrom([]string{ConstraintDirect, ConstraintClusters, "latency"}).Draw(t, "constraint") {
		case ConstraintDirect:
			r.Constraints = append(r.Constraints, api.Constraint{
				Type:    ConstraintDirect,
				Cluster: rapid.SampledFrom(append([]string{""}, propNames...)).Draw(t, "direct_cluster"),
				Node:    strings.Join(names.Draw(t, "direct_nodes"), rapid.SampledFrom([]string{";", " ; ", ";;"}).Draw(t, "sep")),
			})
		case ConstraintClusters:
			r.Constraints = append(r.Constraints, api.Constraint{Type: ConstraintClusters, Allowed: names.Draw(t, "allowed")})
		default:
			regions := rapid.SliceOfDistinct(rapid.SampledFrom([]string{"r1", "r2", "r3"}), rapid.ID).Draw(t, "latency_regions")
			r.Constraints = append(r.Constraints, api.Constraint{Type: ConstraintLatency, Area: "x", Threshold: 5, Regions: regions})
		}
	}
	return r
}

// feasibleBySpec says, from the brief and not from the plugins, whether c
// may take r. It is the oracle the framework and its plugins are held to.
func feasibleBySpec(level Level, r *Request, c *Candidate) bool {
	if !c.Ready || c.Cordoned {
		return false
	}
	if r.Virtualization != "" && !slices.Contains(c.Runtimes, r.Virtualization) {
		return false
	}
	if len(r.Arch) > 0 && !slices.ContainsFunc(c.Arch, func(h string) bool {
		return slices.ContainsFunc(r.Arch, func(a string) bool { return canonicalArch(a) == canonicalArch(h) })
	}) {
		return false
	}
	if !r.Demand.Fits(c.Free) || (level == LevelRoot && !r.Demand.Fits(c.MaxNodeFree)) {
		return false
	}
	for _, con := range r.Constraints {
		switch {
		case con.Type == ConstraintDirect && level == LevelRoot:
			if con.Cluster != "" && con.Cluster != c.Name {
				return false
			}
		case con.Type == ConstraintDirect && level == LevelCluster:
			var nodes []string
			for _, n := range strings.Split(con.Node, ";") {
				if n = strings.TrimSpace(n); n != "" {
					nodes = append(nodes, n)
				}
			}
			if len(nodes) > 0 && !slices.Contains(nodes, c.Name) {
				return false
			}
		case con.Type == ConstraintClusters && level == LevelRoot:
			if len(con.Allowed) > 0 && !slices.Contains(con.Allowed, c.Name) {
				return false
			}
		case con.Type == ConstraintLatency:
			if reg, ok := c.Labels[LabelRegion]; !ok || !slices.Contains(con.Regions, reg) {
				return false
			}
		}
	}
	return true
}

// passesPlugins runs every default filter's own Filter (not the PreFilter
// fast path the framework uses).
func passesPlugins(level Level, r *Request, c *Candidate) bool {
	for _, p := range defaultFilters(level) {
		if !p.Filter(context.Background(), r, c).IsSuccess() {
			return false
		}
	}
	return true
}

// refLeftover is the brief's "free left after placing", written out again.
func refLeftover(r *Request, c *Candidate) float64 {
	var shares []float64
	if c.Capacity.VCPUs > 0 {
		shares = append(shares, min(1, max(0, (c.Free.VCPUs-r.Demand.VCPUs)/c.Capacity.VCPUs)))
	}
	if c.Capacity.MemoryMB > 0 {
		shares = append(shares, min(1, max(0, float64(c.Free.MemoryMB-r.Demand.MemoryMB)/float64(c.Capacity.MemoryMB))))
	}
	if len(shares) == 0 {
		return 0
	}
	var sum float64
	for _, s := range shares {
		sum += s
	}
	return sum / float64(len(shares))
}

func TestPlaceProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		level := rapid.SampledFrom([]Level{LevelRoot, LevelCluster}).Draw(t, "level")
		r := genRequest(t)
		n := rapid.IntRange(0, 12).Draw(t, "n")
		cands := make([]*Candidate, n)
		for i := range cands {
			cands[i] = genCandidate(t, level)
		}
		random := rapid.Bool().Draw(t, "random")
		var opts []Option
		if random {
			opts = append(opts, WithRand(rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 0))))
		}

		res, err := New(level, opts...).Place(context.Background(), r, cands)

		var feasible []*Candidate
		for _, c := range cands {
			spec := feasibleBySpec(level, r, c)
			if plug := passesPlugins(level, r, c); plug != spec {
				t.Fatalf("plugins say feasible=%v, spec says %v, for %+v", plug, spec, *c)
			}
			if spec {
				feasible = append(feasible, c)
			}
		}
		if errors.Is(err, ErrUnschedulable) {
			if len(feasible) > 0 {
				t.Fatalf("unschedulable (%v) but %s is feasible", err, feasible[0].Name)
			}
			if res.Diagnosis.Available() != 0 || res.Diagnosis.Total != n {
				t.Fatalf("diagnosis %q does not count all %d candidates as rejected", res.Diagnosis, n)
			}
			return
		}
		if err != nil {
			t.Fatalf("Place: %v", err)
		}
		if !slices.Contains(feasible, res.Chosen) {
			t.Fatalf("chose %+v, which fails a filter", *res.Chosen)
		}
		if res.Feasible != len(feasible) || res.Diagnosis.Available() != len(feasible) {
			t.Fatalf("Feasible=%d, diagnosis %q; want %d feasible", res.Feasible, res.Diagnosis, len(feasible))
		}

		// The choice is optimal for the policy, within one score point
		// (scores are whole numbers 0..100).
		chosen := refLeftover(r, res.Chosen)
		for _, c := range feasible {
			l := refLeftover(r, c)
			switch r.Policy {
			case "", PolicyBestFit:
				if chosen > l+0.01+1e-9 {
					t.Fatalf("best-fit chose %s leaving %.4f, but %s leaves %.4f", res.Chosen.Name, chosen, c.Name, l)
				}
			case PolicyWorstFit:
				if chosen < l-0.01-1e-9 {
					t.Fatalf("worst-fit chose %s leaving %.4f, but %s leaves %.4f", res.Chosen.Name, chosen, c.Name, l)
				}
			}
		}

		// Among the best scores, the default tie-break takes the lowest
		// (ID, Name); the random one any of them.
		var scorer ScorePlugin = BestFit{}
		if r.Policy == PolicyWorstFit {
			scorer = WorstFit{}
		}
		score := func(c *Candidate) int64 { s, _ := scorer.Score(context.Background(), r, c); return s }
		var top []*Candidate
		for _, c := range feasible {
			switch s := score(c); {
			case len(top) == 0 || s > score(top[0]):
				top = []*Candidate{c}
			case s == score(top[0]):
				top = append(top, c)
			}
		}
		if score(res.Chosen) != score(top[0]) || res.Score != score(top[0]) {
			t.Fatalf("chose score %d (reported %d), best is %d", score(res.Chosen), res.Score, score(top[0]))
		}
		if !random {
			first := slices.MinFunc(top, func(a, b *Candidate) int {
				if c := strings.Compare(a.ID, b.ID); c != 0 {
					return c
				}
				return strings.Compare(a.Name, b.Name)
			})
			if res.Chosen.ID != first.ID || res.Chosen.Name != first.Name {
				t.Fatalf("tie-break chose %s/%s, want lowest %s/%s", res.Chosen.ID, res.Chosen.Name, first.ID, first.Name)
			}
		}
	})
}

// TestFitPolicyProperties focuses on scoring: every candidate is healthy and
// only capacity and free resources vary, so most draws have several feasible
// candidates to choose among.
func TestFitPolicyProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		policy := rapid.SampledFrom([]string{PolicyBestFit, PolicyWorstFit}).Draw(t, "policy")
		r := &Request{Policy: policy, Demand: api.Resources{
			VCPUs:    rapid.Float64Range(0, 2).Draw(t, "demand_cpu"),
			MemoryMB: rapid.Int64Range(0, 2048).Draw(t, "demand_mem"),
		}}
		cands := make([]*Candidate, rapid.IntRange(1, 20).Draw(t, "n"))
		for i := range cands {
			c := cand(string(rune('a' + i)))
			c.Capacity = api.Resources{VCPUs: rapid.Float64Range(0, 16).Draw(t, "cap_cpu"), MemoryMB: rapid.Int64Range(0, 16384).Draw(t, "cap_mem")}
			c.Free = genResources(t, "free", c.Capacity)
			c.MaxNodeFree = c.Free
			cands[i] = c
		}
		var opts []Option
		if rapid.Bool().Draw(t, "random") {
			opts = append(opts, WithRand(rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 0))))
		}
		res, err := New(LevelCluster, opts...).Place(context.Background(), r, cands)
		if errors.Is(err, ErrUnschedulable) {
			for _, c := range cands {
				if r.Demand.Fits(c.Free) {
					t.Fatalf("unschedulable but %s fits", c.Name)
				}
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !r.Demand.Fits(res.Chosen.Free) {
			t.Fatalf("chose %s, which does not fit", res.Chosen.Name)
		}
		chosen := refLeftover(r, res.Chosen)
		for _, c := range cands {
			if !r.Demand.Fits(c.Free) {
				continue
			}
			l := refLeftover(r, c)
			if policy == PolicyBestFit && chosen > l+0.01+1e-9 {
				t.Fatalf("best-fit chose %s leaving %.4f, but %s leaves %.4f", res.Chosen.Name, chosen, c.Name, l)
			}
			if policy == PolicyWorstFit && chosen < l-0.01-1e-9 {
				t.Fatalf("worst-fit chose %s leaving %.4f, but %s leaves %.4f", res.Chosen.Name, chosen, c.Name, l)
			}
		}
	})
}
