package placement

import (
	"context"

	"github.com/hedgeorch/hedge/api"
)

// PolicyBestFit is the default policy: pack instances tightly, keeping large
// holes free for large instances.
const PolicyBestFit = "best-fit"

// BestFit scores highest the candidate with the least free resources left
// after placing the request, as a share of its capacity averaged over cpu and
// memory: 100 leaves nothing free, 0 leaves everything free.
type BestFit struct{}

var _ ScorePlugin = BestFit{}

func init() { registerPolicy(PolicyBestFit, func(Level) ScorePlugin { return BestFit{} }) }

// Name returns "BestFit".
func (BestFit) Name() string { return "BestFit" }

// Score returns 100 × (1 − leftover share).
func (BestFit) Score(_ context.Context, r *Request, c *Candidate) (int64, *Status) {
	return shareToScore(1 - Leftover(r.Demand, c)), nil
}

// Leftover is the share of c's capacity that stays free after placing
// demand, in [0, 1], averaged over the dimensions c has capacity in. A
// dimension with no capacity says nothing about fit and is left out (no
// division by zero); with no capacity at all the leftover is 0.
func Leftover(demand api.Resources, c *Candidate) float64 {
	var sum float64
	n := 0
	if c.Capacity.VCPUs > 0 {
		sum += clamp01((c.Free.VCPUs - demand.VCPUs) / c.Capacity.VCPUs)
		n++
	}
	if c.Capacity.MemoryMB > 0 {
		sum += clamp01(float64(c.Free.MemoryMB-demand.MemoryMB) / float64(c.Capacity.MemoryMB))
		n++
	}
	switch n {
	case 0:
		return 0
	case 1:
		return sum
	default:
		return sum / 2
	}
}

func clamp01(x float64) float64 {
	switch {
	case x > 1:
		return 1
	case x >= 0:
		return x
	default: // negative, or NaN from odd inputs
		return 0
	}
}

// shareToScore maps [0, 1] to 0..MaxScore, rounding to nearest.
func shareToScore(x float64) int64 {
	return int64(clamp01(x)*float64(MaxScore) + 0.5)
}
