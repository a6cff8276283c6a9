package placement

import (
	"context"
	"math"
)

// PolicyMostTraffic prefers the candidate with the highest network receive
// rate, as the ASSIST-IoT Smart Orchestrator documents it: services that
// consume a site's data go where the data arrives. PolicyTrafficMost is the
// spelling that orchestrator's documentation uses.
const (
	PolicyMostTraffic = "most-traffic"
	PolicyTrafficMost = "traffic-most"
)

// MostTraffic scores candidates by their reported receive rate on a log
// scale: 10 points per decade of bytes per second, 100 at 10 GB/s, so that
// candidates an order of magnitude apart are clearly ranked and scores need
// no normalisation across candidates.
type MostTraffic struct{}

var _ ScorePlugin = MostTraffic{}

func init() {
	registerPolicy(PolicyMostTraffic, func(Level) ScorePlugin { return MostTraffic{} })
	registerPolicy(PolicyTrafficMost, func(Level) ScorePlugin { return MostTraffic{} })
}

// Name returns "MostTraffic".
func (MostTraffic) Name() string { return "MostTraffic" }

// Score returns 10 × log10(1 + receive rate), capped to 0..MaxScore.
func (MostTraffic) Score(_ context.Context, _ *Request, c *Candidate) (int64, *Status) {
	if c.NetRxBytesPS <= 0 || math.IsNaN(c.NetRxBytesPS) {
		return 0, nil
	}
	return int64(min(float64(MaxScore), math.Round(10*math.Log10(1+c.NetRxBytesPS)))), nil
}
