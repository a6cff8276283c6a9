package placement

import "context"

// PolicyWorstFit spreads instances: the candidate left with the most room
// wins, which keeps load even and leaves headroom for bursts.
const PolicyWorstFit = "worst-fit"

// WorstFit scores highest the candidate with the largest share of its
// capacity still free after placing the request: the opposite of BestFit.
type WorstFit struct{}

var _ ScorePlugin = WorstFit{}

func init() { registerPolicy(PolicyWorstFit, func(Level) ScorePlugin { return WorstFit{} }) }

// Name returns "WorstFit".
func (WorstFit) Name() string { return "WorstFit" }

// Score returns 100 × leftover share (see Leftover).
func (WorstFit) Score(_ context.Context, r *Request, c *Candidate) (int64, *Status) {
	return shareToScore(Leftover(r.Demand, c)), nil
}
