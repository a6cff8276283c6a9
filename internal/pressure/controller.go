package pressure

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Source reads a node's resources. Implemented by GlancesSource; the cluster
// can implement it from the metrics its workers report.
type Source interface {
	// Sample measures node now. It may leave Sample.At zero.
	Sample(ctx context.Context, node string) (Sample, error)
}

// Actuator acts on the instances of one kind of target (a Docker host, a
// Hedge worker). Every method must be idempotent (the controller retries one
// that failed, and calls Limit and Taint again if the node comes back under
// pressure before a Restore succeeded), and must skip instances labelled
// LabelRole=RoleMonitoring or LabelPressure=PressureExempt.
type Actuator interface {
	// Limit tightens the limits of the node's lowest-priority instances,
	// remembering the old ones for Restore.
	Limit(ctx context.Context, node string) error
	// Taint stops new placements on the node.
	Taint(ctx context.Context, node string) error
	// Evict stops ONE instance, the lowest-priority one first, and returns
	// what it stopped; "" when nothing is left to stop.
	Evict(ctx context.Context, node string) (evicted string, err error)
	// Restore lifts the limits and taints and brings back what Evict
	// stopped.
	Restore(ctx context.Context, node string) error
}

// Labels and values that actuators honour.
const (
	// LabelPriority holds an instance's priority, an integer (default 0):
	// the lowest are limited and evicted first.
	LabelPriority = "hedge.priority"
	// LabelPressure=PressureExempt opts an instance out of limits and
	// evictions.
	LabelPressure  = "hedge.pressure"
	PressureExempt = "exempt"
	// LabelRole=RoleMonitoring marks the monitoring (the Glances exporter):
	// it is never limited or evicted, or the controller would blind itself.
	LabelRole      = "hedge.role"
	RoleMonitoring = "monitoring"
)

// Target is one watched node: where its samples come from and what acts on
// it.
type Target struct {
	Node   string
	Source Source
	// Actuator may be nil: the node is then only watched (a nodes file
	// entry without an orchestrator), its levels and events kept, nothing
	// done.
	Actuator Actuator
}

// errNoSource is the sample error of a target without a Source.
var errNoSource = errors.New("target has no source")

// DefaultInterval is how often the controller samples by default.
const DefaultInterval = 5 * time.Second

// DefaultEventLimit is how many events the controller keeps by default.
const DefaultEventLimit = 1000

// actionTimeout bounds one actuator call: a stop waits for the container's
// grace period, but a hung daemon must not stall the node forever.
const actionTimeout = 2 * time.Minute

// Option configures a Controller.
type Option func(*Controller)

// WithLogger sets where events are logged (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(c *Controller) {
		if l != nil {
			c.log = l
		}
	}
}

// WithNow sets the clock used for samples without a time and for actions
// (default time.Now).
func WithNow(now func() time.Time) Option {
	return func(c *Controller) {
		if now != nil {
			c.now = now
		}
	}
}

// WithInterval sets the time between cycles (default DefaultInterval). It
// also bounds one sample.
func WithInterval(d time.Duration) Option {
	return func(c *Controller) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithEventLimit sets how many events are kept (default DefaultEventLimit).
func WithEventLimit(n int) Option {
	return func(c *Controller) {
		if n > 0 {
			c.eventLimit = n
		}
	}
}

// Controller watches nodes and acts on the ones under pressure.
type Controller struct {
	policy     Policy
	log        *slog.Logger
	now        func() time.Time
	interval   time.Duration
	eventLimit int

	// cycleMu lets one cycle run at a time: a node's state is changed only
	// by the cycle's goroutine for that node.
	cycleMu sync.Mutex

	mu      sync.Mutex
	targets map[string]*watched
	events  []Event // ring of eventLimit, oldest at events[first]
	first   int
}

// watched is the state of one target. Its fields change under
// Controller.mu.
type watched struct {
	target  Target
	machine *Machine
	// unknown: the last sample failed.
	unknown bool
	// What has been done since the node last left Normal.
	limited, tainted, exhausted bool
	// restorePending: back to Normal, Restore not yet successful.
	restorePending bool
}

// NewController returns a controller that applies p to the nodes it will be
// told to Watch. p should pass Validate.
func NewController(p Policy, opts ...Option) *Controller {
	c := &Controller{
		policy:     p,
		log:        slog.New(slog.DiscardHandler),
		now:        time.Now,
		interval:   DefaultInterval,
		eventLimit: DefaultEventLimit,
		targets:    make(map[string]*watched),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Watch starts watching t.Node. Watching a node again replaces its source
// and actuator but keeps its state, so a reconfiguration does not forget a
// node's pressure.
func (c *Controller) Watch(t Target) {
	c.mu.Lock()
	if w, ok := c.targets[t.Node]; ok {
		w.target = t
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	// An actuator that kept what it did across a restart of the process
	// gets its Restore once the node is seen normal. Asked outside the
	// lock: it may ask a daemon or an API server.
	p, ok := t.Actuator.(RestorePender)
	pending := ok && p.RestorePending(t.Node)
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.targets[t.Node]; ok {
		w.target = t
		return
	}
	c.targets[t.Node] = &watched{target: t, machine: NewMachine(t.Node, c.policy), restorePending: pending}
}

// RestorePender is an Actuator that remembers, across restarts, what it
// changed: a new controller then calls Restore once the node is normal.
type RestorePender interface {
	RestorePending(node string) bool
}

// Unwatch stops watching node. It does not act: a node left limited or
// tainted stays so until its actuator's Restore is called.
func (c *Controller) Unwatch(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.targets, node)
}

// Levels returns the level of every watched node; Unknown for a node whose
// last sample failed.
func (c *Controller) Levels() map[string]Level {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Level, len(c.targets))
	for n, w := range c.targets {
		out[n] = w.machine.Level()
		if w.unknown {
			out[n] = Unknown
		}
	}
	return out
}

// Events returns the kept events at or after since, oldest first. Events of
// one cycle may share a time, so a caller that polls with the time of the
// last event it saw gets that event again rather than missing its peers.
func (c *Controller) Events(since time.Time) []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Event
	for i := range c.events {
		e := c.events[(c.first+i)%len(c.events)]
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	return out
}

// Run runs a cycle every interval until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		c.Cycle(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Cycle samples every watched node, feeds its machine and acts, the nodes in
// parallel. It returns when all are done. Run calls it; tests and callers
// that drive their own schedule may call it directly.
func (c *Controller) Cycle(ctx context.Context) {
	c.cycleMu.Lock()
	defer c.cycleMu.Unlock()
	type job struct {
		w *watched
		t Target
	}
	c.mu.Lock()
	jobs := make([]job, 0, len(c.targets))
	for _, w := range c.targets {
		jobs = append(jobs, job{w, w.target})
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() { c.step(ctx, j.w, j.t) })
	}
	wg.Wait()
}

// plan is what one cycle does on one node.
type plan struct {
	level                        Level
	cause                        reading
	limit, taint, evict, restore bool
}

// step is one cycle on one node.
func (c *Controller) step(ctx context.Context, w *watched, t Target) {
	if t.Source == nil {
		c.lost(w, t.Node, errNoSource)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, c.interval)
	s, err := t.Source.Sample(sctx, t.Node)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: a sample cut short says nothing about the node
	}
	if err != nil {
		c.lost(w, t.Node, err)
		return
	}
	if s.At.IsZero() {
		s.At = c.now()
	}

	c.mu.Lock()
	var events []Event
	if w.unknown {
		w.unknown = false
		events = append(events, Event{Node: t.Node, From: Unknown, To: w.machine.Level(), At: s.At})
	}
	if e := w.machine.Observe(s); e != nil {
		events = append(events, *e)
		switch e.To {
		case Limited:
			if e.From == Normal {
				w.limited, w.tainted, w.exhausted, w.restorePending = false, false, false, false
			}
		case Normal:
			w.restorePending = true
		}
	}
	p := plan{level: w.machine.Level(), cause: w.machine.cause}
	switch p.level {
	case Limited:
		p.limit = !w.limited
	case Tainted:
		p.taint = !w.tainted
		if !w.machine.Over() {
			w.exhausted = false // pressure gone: look again if it comes back
		}
		p.evict = w.machine.Over() && !w.exhausted
	case Normal:
		p.restore = w.restorePending
	}
	c.mu.Unlock()
	c.record(events...)
	c.act(ctx, w, t, p)
}

// act carries out a plan, recording an event per action.
func (c *Controller) act(ctx context.Context, w *watched, t Target, p plan) {
	if t.Actuator == nil || ctx.Err() != nil {
		return
	}
	do := func(action string, f func(context.Context) (string, error)) (string, bool) {
		actx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		instance, err := f(actx)
		e := Event{
			Node: t.Node, From: p.level, To: p.level, At: c.now(), Action: action, Instance: instance,
			Metric: p.cause.metric, Value: p.cause.value, Threshold: p.cause.threshold,
		}
		if err != nil {
			e.Error = err.Error()
		}
		c.record(e)
		return instance, err == nil
	}
	noName := func(f func(context.Context, string) error) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) { return "", f(ctx, t.Node) }
	}
	if p.limit {
		_, ok := do(ActionLimit, noName(t.Actuator.Limit))
		c.set(func() { w.limited = ok })
	}
	if p.taint {
		_, ok := do(ActionTaint, noName(t.Actuator.Taint))
		c.set(func() { w.tainted = ok })
	}
	if p.evict {
		evicted, ok := do(ActionEvict, func(ctx context.Context) (string, error) { return t.Actuator.Evict(ctx, t.Node) })
		c.set(func() { w.exhausted = ok && evicted == "" })
	}
	if p.restore {
		_, ok := do(ActionRestore, noName(t.Actuator.Restore))
		if ok {
			c.set(func() { w.restorePending, w.limited, w.tainted, w.exhausted = false, false, false, false })
		}
	}
}

// lost marks a node whose sample failed as unknown, with an event the first
// time only, and makes its machine start its runs anew.
func (c *Controller) lost(w *watched, node string, err error) {
	c.mu.Lock()
	w.machine.Interrupt()
	first := !w.unknown
	w.unknown = true
	level := w.machine.Level()
	c.mu.Unlock()
	if first {
		c.record(Event{Node: node, From: level, To: Unknown, At: c.now(), Error: err.Error()})
	} else {
		c.log.Debug("sample failed", "node", node, "error", err)
	}
}

func (c *Controller) set(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
}

// record keeps events in the ring and logs them.
func (c *Controller) record(events ...Event) {
	if len(events) == 0 {
		return
	}
	c.mu.Lock()
	for _, e := range events {
		if len(c.events) < c.eventLimit {
			c.events = append(c.events, e)
			continue
		}
		c.events[c.first] = e
		c.first = (c.first + 1) % len(c.events)
	}
	c.mu.Unlock()
	for _, e := range events {
		c.logEvent(e)
	}
}

func (c *Controller) logEvent(e Event) {
	attrs := []any{"node", e.Node, "from", e.From.String(), "to", e.To.String()}
	if e.Metric != "" {
		attrs = append(attrs, "metric", e.Metric, "value", e.Value, "threshold", e.Threshold)
	}
	if e.Action != "" {
		attrs = append(attrs, "action", e.Action)
	}
	if e.Instance != "" {
		attrs = append(attrs, "instance", e.Instance)
	}
	msg := "pressure level changed"
	switch {
	case e.To == Unknown:
		msg = "pressure sample failed"
	case e.Action != "":
		msg = "pressure action"
	}
	if e.Error != "" {
		c.log.Warn(msg, slices.Concat(attrs, []any{"error", e.Error})...)
		return
	}
	c.log.Info(msg, attrs...)
}
