package pressure

import (
	"math"
	"time"
)

// Sample is one reading of a node's resources.
type Sample struct {
	// At is when it was measured; the Machine's only clock. The Controller
	// sets it to its own clock when a Source leaves it zero.
	At            time.Time
	CPUPercent    float64
	MemoryPercent float64
	// Load1 is the 1-minute load average, judged per core: a sample
	// without Cores cannot be judged on load.
	Load1       float64
	Cores       int
	DiskPercent float64
}

// Actions an Event can report.
const (
	ActionLimit   = "limit"
	ActionTaint   = "taint"
	ActionEvict   = "evict"
	ActionRestore = "restore"
)

// Event is a change of level or an action on a node, with the metric that
// caused it: the one furthest over its threshold, or, on the way back to
// Normal, the one still closest to it.
type Event struct {
	Node string `json:"node"`
	From Level  `json:"from"`
	To   Level  `json:"to"`
	// Metric is one of the Metric* names; empty when the node could not be
	// sampled or watches nothing.
	Metric    string    `json:"metric,omitempty"`
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
	At        time.Time `json:"at"`
	// Action is empty for a change of level alone.
	Action string `json:"action,omitempty"`
	// Instance is what an evict action stopped; empty with an evict action
	// that found nothing left to stop.
	Instance string `json:"instance,omitempty"`
	// Error is why a sample or an action failed.
	Error string `json:"error,omitempty"`
}

// reading is one watched metric of one sample.
type reading struct {
	metric    string
	value     float64
	threshold float64
	// calmBelow is threshold - hysteresis, in the metric's own unit.
	calmBelow float64
}

// ratio is how close to its threshold the reading is (1 = at it).
func (r reading) ratio() float64 { return r.value / r.threshold }

// Machine is the pressure state of one node. It is pure: Observe's only input
// is the sample, and its only clock the sample's time. A Machine is not safe
// for concurrent use.
type Machine struct {
	node        string
	th          Thresholds
	hysteresis  float64
	minPressure time.Duration
	taintAfter  time.Duration
	minCalm     time.Duration

	level Level
	seen  bool
	last  time.Time
	// overSince is when the current run of over-threshold samples began
	// (zero: the last sample was not over). calmSince is the same for runs
	// of samples with every value back under (threshold - hysteresis).
	overSince time.Time
	calmSince time.Time
	limitedAt time.Time
	over      bool
	cause     reading
}

// NewMachine returns the machine of node, in Normal, under the thresholds
// and timings p gives that node.
func NewMachine(node string, p Policy) *Machine {
	p = p.withDefaults()
	return &Machine{
		node: node, th: p.For(node), hysteresis: p.Hysteresis,
		minPressure: p.MinPressure, taintAfter: p.TaintAfter, minCalm: p.MinCalm,
	}
}

// Level is the node's current level.
func (m *Machine) Level() Level { return m.level }

// Over reports whether the last sample had a value over its threshold: while
// Tainted, the controller evicts only then.
func (m *Machine) Over() bool { return m.over }

// Interrupt forgets the runs of over and calm samples, keeping the level. It
// is called when samples could not be taken: nobody knows what happened in
// between, so a run must be seen again from the start.
func (m *Machine) Interrupt() {
	m.overSince, m.calmSince = time.Time{}, time.Time{}
}

// Observe takes one sample and returns the change of level it caused, or
// nil. At most one level is crossed per sample. A sample older than the
// previous one counts as taken at the previous one's time.
func (m *Machine) Observe(s Sample) *Event {
	at := s.At
	if m.seen && at.Before(m.last) {
		at = m.last
	}
	m.seen, m.last = true, at

	readings := m.read(s)
	over, calm := false, true
	for _, r := range readings {
		over = over || r.value > r.threshold
		calm = calm && r.value < r.calmBelow
	}
	m.over = over
	m.cause = worst(readings, over)
	m.overSince = runStart(m.overSince, over, at)
	m.calmSince = runStart(m.calmSince, calm, at)

	from := m.level
	switch {
	case m.level == Normal && over && at.Sub(m.overSince) >= m.minPressure:
		m.level, m.limitedAt = Limited, at
	case m.level != Normal && calm && at.Sub(m.calmSince) >= m.minCalm:
		m.level = Normal
	case m.level == Limited && over && at.Sub(later(m.overSince, m.limitedAt)) >= m.taintAfter:
		m.level = Tainted
	}
	if m.level == from {
		return nil
	}
	e := m.event(from, at)
	return &e
}

// event is an Event of this node with the cause of the last sample.
func (m *Machine) event(from Level, at time.Time) Event {
	return Event{
		Node: m.node, From: from, To: m.level, At: at,
		Metric: m.cause.metric, Value: m.cause.value, Threshold: m.cause.threshold,
	}
}

// read returns the watched metrics the sample can be judged on. NaN values
// (not measured) are left out.
func (m *Machine) read(s Sample) []reading {
	out := make([]reading, 0, 4)
	add := func(metric string, v, th, band float64) {
		if th > 0 && !math.IsNaN(v) {
			out = append(out, reading{metric: metric, value: v, threshold: th, calmBelow: th - band})
		}
	}
	add(MetricCPU, s.CPUPercent, m.th.CPUPercent, m.hysteresis)
	add(MetricMemory, s.MemoryPercent, m.th.MemoryPercent, m.hysteresis)
	if s.Cores > 0 {
		add(MetricLoad, s.Load1/float64(s.Cores), m.th.LoadPerCore, m.hysteresis/100)
	}
	add(MetricDisk, s.DiskPercent, m.th.DiskPercent, m.hysteresis)
	return out
}

// worst is the reading furthest over its threshold when some are over, else
// the one closest to it.
func worst(rs []reading, over bool) reading {
	var w reading
	found := false
	for _, r := range rs {
		if over && r.value <= r.threshold {
			continue
		}
		if !found || r.ratio() > w.ratio() {
			w, found = r, true
		}
	}
	return w
}

// runStart returns the start of a run of samples for which cond holds.
func runStart(since time.Time, cond bool, at time.Time) time.Time {
	switch {
	case !cond:
		return time.Time{}
	case since.IsZero():
		return at
	}
	return since
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
