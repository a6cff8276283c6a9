package placement

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DefaultPolicy is the policy of a request that names none.
const DefaultPolicy = PolicyBestFit

// PolicyScore runs the score plugin that Request.Policy names, so one
// framework serves services with different policies. Policies are registered
// by name (registerPolicy, WithPolicy); an unknown name is an Error, not a
// silent fallback, so a typo in an SLA is seen.
type PolicyScore struct {
	policies map[string]ScorePlugin
	names    []string
}

var (
	_ ScorePlugin    = (*PolicyScore)(nil)
	_ PreScorePlugin = (*PolicyScore)(nil)
)

// NewPolicyScore returns a PolicyScore choosing among policies by name.
func NewPolicyScore(policies map[string]ScorePlugin) *PolicyScore {
	p := &PolicyScore{policies: maps.Clone(policies)}
	p.names = slices.Sorted(maps.Keys(p.policies))
	return p
}

// Name returns "PolicyScore".
func (*PolicyScore) Name() string { return "PolicyScore" }

// Names returns the known policy names, sorted.
func (p *PolicyScore) Names() []string { return slices.Clone(p.names) }

// Score scores c with the policy r names.
func (p *PolicyScore) Score(ctx context.Context, r *Request, c *Candidate) (int64, *Status) {
	s, st := p.resolve(r.Policy)
	if st != nil {
		return 0, st
	}
	return s.Score(ctx, r, c)
}

// PreScore resolves the policy once per request and returns its scorer, so
// the per-candidate path does no lookup.
func (p *PolicyScore) PreScore(ctx context.Context, r *Request) (ScorePlugin, *Status) {
	s, st := p.resolve(r.Policy)
	if st != nil {
		return nil, st
	}
	if pre, ok := s.(PreScorePlugin); ok {
		return pre.PreScore(ctx, r)
	}
	return s, nil
}

func (p *PolicyScore) resolve(name string) (ScorePlugin, *Status) {
	if name == "" {
		name = DefaultPolicy
	}
	if s, ok := p.policies[name]; ok {
		return s, nil
	}
	return nil, NewStatus(Error, "PolicyScore",
		fmt.Sprintf("unknown policy %q, want one of: %s", name, strings.Join(p.names, ", ")))
}
