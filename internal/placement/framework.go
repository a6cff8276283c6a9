package placement

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Framework places instances at one level by running its filter and score
// plugins over the candidates. It is safe for concurrent use.
type Framework struct {
	level   Level
	filters []FilterPlugin
	scores  []weightedScore
	policy  *PolicyScore // nil without defaults

	rndMu sync.Mutex
	rnd   *rand.Rand // nil: deterministic tie-break

	parallelism  int // goroutines per Place call at most
	minPerWorker int // candidates per goroutine at least
	exactUpTo    int // scan in full up to this many candidates (sample.go)
	// next is where the next sampled scan starts.
	next atomic.Uint64

	err error // an invalid option; Place reports it
}

type weightedScore struct {
	plugin ScorePlugin
	weight int64
}

// Option configures a Framework.
type Option func(*config)

type config struct {
	filters      []FilterPlugin
	scores       []weightedScore
	policies     map[string]ScorePlugin
	rnd          *rand.Rand
	parallelism  int
	minPerWorker int // tests lower it to reach the parallel path cheaply
	exactUpTo    *int
	noDefaults   bool
	errs         []error
}

// WithFilter adds a filter that runs after the default filters.
func WithFilter(p FilterPlugin) Option {
	return func(c *config) {
		if p == nil {
			c.errs = append(c.errs, errors.New("with filter: nil plugin"))
			return
		}
		c.filters = append(c.filters, p)
	}
}

// WithScore adds a score plugin whose score, times weight, is added to the
// default policy's score. weight must be positive.
func WithScore(p ScorePlugin, weight int64) Option {
	return func(c *config) {
		switch {
		case p == nil:
			c.errs = append(c.errs, errors.New("with score: nil plugin"))
		case weight <= 0:
			c.errs = append(c.errs, fmt.Errorf("with score %s: weight %d, want > 0", p.Name(), weight))
		default:
			c.scores = append(c.scores, weightedScore{p, weight})
		}
	}
}

// WithPolicy makes p selectable as Request.Policy name, replacing a default
// policy of that name. Policies registered in this package need no option.
func WithPolicy(name string, p ScorePlugin) Option {
	return func(c *config) {
		if p == nil || name == "" {
			c.errs = append(c.errs, fmt.Errorf("with policy %q: empty name or nil plugin", name))
			return
		}
		if c.policies == nil {
			c.policies = make(map[string]ScorePlugin)
		}
		c.policies[name] = p
	}
}

// WithRand makes Place break ties among equally scored candidates at random,
// drawing from r. Without it the tie-break is deterministic: lowest ID, then
// lowest Name. r is used under a lock, once per Place call.
func WithRand(r *rand.Rand) Option {
	return func(c *config) { c.rnd = r }
}

// WithParallelism sets how many goroutines may scan the candidates of one
// Place call; n < 1 means runtime.GOMAXPROCS (the default). Place splits
// only lists of at least 4096 candidates per goroutine, because
// starting goroutines costs more than scanning a small list. Results do not
// depend on it, except which of equally scored candidates WithRand picks.
func WithParallelism(n int) Option {
	return func(c *config) { c.parallelism = n }
}

// WithoutDefaults leaves out the default filters and the policy score, so
// that a Framework runs only the plugins given with WithFilter and WithScore.
// Mostly for tests and for callers that assemble their own set.
func WithoutDefaults() Option {
	return func(c *config) { c.noDefaults = true }
}

// New returns a Framework for level with the default plugins for that level
// (see registry.go) followed by those added with options. Invalid options do
// not panic: every Place call then fails with ErrInvalidRequest.
func New(level Level, opts ...Option) *Framework {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	f := &Framework{level: level, rnd: cfg.rnd, parallelism: cfg.parallelism, minPerWorker: cfg.minPerWorker}
	if f.parallelism < 1 {
		f.parallelism = runtime.GOMAXPROCS(0)
	}
	if f.minPerWorker < 1 {
		f.minPerWorker = defaultMinPerWorker
	}
	f.exactUpTo = DefaultExactUpTo
	if cfg.exactUpTo != nil {
		f.exactUpTo = *cfg.exactUpTo
	}
	if level != LevelRoot && level != LevelCluster {
		cfg.errs = append(cfg.errs, fmt.Errorf("level %d, want LevelRoot or LevelCluster", int(level)))
	}
	if !cfg.noDefaults {
		f.filters = defaultFilters(level)
		policies := defaultPolicies(level)
		for name, p := range cfg.policies {
			policies[name] = p
		}
		f.policy = NewPolicyScore(policies)
		f.scores = append(f.scores, weightedScore{f.policy, 1})
	} else if len(cfg.policies) > 0 {
		f.policy = NewPolicyScore(cfg.policies)
		f.scores = append(f.scores, weightedScore{f.policy, 1})
	}
	f.filters = append(f.filters, cfg.filters...)
	f.scores = append(f.scores, cfg.scores...)
	if err := errors.Join(cfg.errs...); err != nil {
		f.err = fmt.Errorf("new placement framework: %w: %w", ErrInvalidRequest, err)
	}
	return f
}

// Level returns the level the framework places at.
func (f *Framework) Level() Level { return f.level }

// Policies returns the names Request.Policy may take, sorted, so that an API
// can reject an unknown policy before anything is stored.
func (f *Framework) Policies() []string {
	if f.policy == nil {
		return nil
	}
	return f.policy.Names()
}

// Result of one placement.
type Result struct {
	// Chosen is the best candidate (a pointer into the slice given to
	// Place), nil when none fits.
	Chosen *Candidate
	// Score is Chosen's weighted score.
	Score int64
	// Evaluated is how many candidates went through the filters.
	Evaluated int
	// Feasible is how many passed every filter.
	Feasible int
	// Diagnosis counts the rejections.
	Diagnosis Diagnosis
}

// inlinePlugins is how many prepared plugins fit in Place's stack buffers.
const inlinePlugins = 16

// Place returns the best candidate for r: the one that passes every filter
// with the highest weighted score, ties broken as WithRand says. If none
// passes, the error wraps ErrUnschedulable and its message is the Diagnosis
// (also in the Result). A plugin Error fails the call with ErrPluginFailed.
// Place neither modifies nor keeps r and cands.
func (f *Framework) Place(ctx context.Context, r *Request, cands []*Candidate) (Result, error) {
	res := Result{Diagnosis: Diagnosis{Total: len(cands), Level: f.level}}
	if f.err != nil {
		return res, f.err
	}
	if err := validRequest(r); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("place %s/%d: %w", r.ServiceID, r.Instance, err)
	}

	var filterBuf [inlinePlugins]FilterPlugin
	var scoreBuf [inlinePlugins]weightedScore
	filters, rejectAll, err := f.preFilter(ctx, r, filterBuf[:0])
	if err != nil {
		return res, err
	}
	scores, err := f.preScore(ctx, r, scoreBuf[:0])
	if err != nil {
		return res, err // even when nothing fits: a bad policy must be seen
	}
	if rejectAll != nil {
		var t tally
		t.add(rejectAll.Reason, len(cands))
		res.Evaluated = len(cands)
		return f.unschedulable(res, &t)
	}

	var seed [2]uint64
	random := f.rnd != nil
	if random {
		f.rndMu.Lock()
		seed = [2]uint64{f.rnd.Uint64(), f.rnd.Uint64()}
		f.rndMu.Unlock()
	}
	var out scan
	if want := f.feasibleToFind(len(cands)); want > 0 {
		out = f.sampledScan(ctx, r, scanner{filters: filters, scores: scores, random: random}, cands, want, seed)
	} else if workers := f.workers(len(cands)); workers > 1 {
		out = parallelScan(ctx, r, goroutineScanner(filters, scores, random), cands, workers, seed)
	} else {
		var pcg rand.PCG
		pcg.Seed(seed[0], seed[1])
		out = scanner{filters: filters, scores: scores, random: random}.scan(ctx, r, cands, 0, &pcg)
	}
	if out.err != nil {
		return res, out.err
	}
	res.Evaluated, res.Feasible = out.evaluated, out.feasible
	if out.best == nil {
		return f.unschedulable(res, &out.tally)
	}
	res.Chosen, res.Score = out.best, out.bestScore
	res.Diagnosis.Rejected = out.tally.rejected()
	return res, nil
}

func (f *Framework) unschedulable(res Result, t *tally) (Result, error) {
	res.Diagnosis.Rejected = t.rejected()
	return res, &UnschedulableError{Diagnosis: res.Diagnosis}
}

// preFilter returns the filters to run on each candidate for r, appended to
// buf. rejectAll is set when a PreFilter found that no candidate can fit.
func (f *Framework) preFilter(ctx context.Context, r *Request, buf []FilterPlugin) (filters []FilterPlugin, rejectAll *Status, err error) {
	filters = buf
	for _, p := range f.filters {
		pre, ok := p.(PreFilterPlugin)
		if !ok {
			filters = append(filters, p)
			continue
		}
		bound, st := pre.PreFilter(ctx, r)
		switch {
		case st.IsSuccess():
		case st.Code == Unschedulable:
			return nil, st, nil
		default:
			return nil, nil, pluginError(p, st, nil)
		}
		if bound != nil {
			filters = append(filters, bound)
		}
	}
	return filters, nil, nil
}

// preScore returns the scorers to run on each feasible candidate for r,
// appended to buf.
func (f *Framework) preScore(ctx context.Context, r *Request, buf []weightedScore) ([]weightedScore, error) {
	scores := buf
	for _, ws := range f.scores {
		pre, ok := ws.plugin.(PreScorePlugin)
		if !ok {
			scores = append(scores, ws)
			continue
		}
		bound, st := pre.PreScore(ctx, r)
		if !st.IsSuccess() {
			return nil, pluginError(ws.plugin, st, nil)
		}
		if bound != nil {
			scores = append(scores, weightedScore{bound, ws.weight})
		}
	}
	return scores, nil
}

func pluginError(p Plugin, st *Status, c *Candidate) error {
	name := st.Plugin
	if name == "" {
		name = p.Name()
	}
	if c != nil {
		return fmt.Errorf("%w: %s on %q: %s", ErrPluginFailed, name, c.Name, st.Reason)
	}
	return fmt.Errorf("%w: %s: %s", ErrPluginFailed, name, st.Reason)
}

func validRequest(r *Request) error {
	if r == nil {
		return fmt.Errorf("place: nil request: %w", ErrInvalidRequest)
	}
	d := r.Demand
	if !(d.VCPUs >= 0) || math.IsInf(d.VCPUs, 1) || d.MemoryMB < 0 {
		return fmt.Errorf("place %s/%d: demand vcpus=%v memory_mb=%d, want finite and >= 0: %w",
			r.ServiceID, r.Instance, d.VCPUs, d.MemoryMB, ErrInvalidRequest)
	}
	return nil
}
