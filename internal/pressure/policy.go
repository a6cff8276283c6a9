package pressure

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Level is how hard the controller holds a node back.
type Level int

// Levels, from the mildest. Unknown is not a state of a Machine: the
// Controller reports it for a node whose last sample failed.
const (
	// Normal: nothing is held back.
	Normal Level = iota
	// Limited: the lowest-priority instances run under tighter limits; new
	// placements are still allowed.
	Limited
	// Tainted: no new placements, and one instance is evicted per cycle for
	// as long as the node stays over a threshold.
	Tainted
	// Unknown: the node could not be sampled; its Machine keeps its level.
	Unknown Level = -1
)

var levelNames = map[Level]string{Normal: "normal", Limited: "limited", Tainted: "tainted", Unknown: "unknown"}

// String is the level's lowercase name ("limited").
func (l Level) String() string {
	if s, ok := levelNames[l]; ok {
		return s
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// MarshalText writes the level's name, so events read well as JSON.
func (l Level) MarshalText() ([]byte, error) {
	if _, ok := levelNames[l]; !ok {
		return nil, fmt.Errorf("level %d: %w", int(l), ErrInvalid)
	}
	return []byte(l.String()), nil
}

// UnmarshalText reads a level's name.
func (l *Level) UnmarshalText(b []byte) error {
	for k, v := range levelNames {
		if v == string(b) {
			*l = k
			return nil
		}
	}
	return fmt.Errorf("level %q: want normal, limited, tainted or unknown: %w", b, ErrInvalid)
}

// Metric names, as events and logs show them.
const (
	MetricCPU    = "cpu"
	MetricMemory = "memory"
	MetricLoad   = "load"
	MetricDisk   = "disk"
)

// Thresholds says when a node is under pressure: any watched value strictly
// over its threshold. A zero field is not watched.
type Thresholds struct {
	// CPUPercent is the busy share of all cores (Glances cpu.total).
	CPUPercent float64
	// MemoryPercent is the used share of memory (Glances mem.percent).
	MemoryPercent float64
	// LoadPerCore is the 1-minute load average divided by the core count,
	// so that one threshold fits a 2-core and a 64-core node (FRACTAL
	// compared the raw load average with 80).
	LoadPerCore float64
	// DiskPercent is the fullest file system's used share. Limits and
	// evictions seldom free disk, so it is off in DefaultPolicy.
	DiskPercent float64
}

// Defaults for the zero fields of a Policy.
const (
	DefaultHysteresis  = 5.0
	DefaultMinPressure = 10 * time.Second
	DefaultTaintAfter  = 20 * time.Second
	DefaultMinCalm     = 30 * time.Second
)

// Policy is when the controller acts. A zero duration or hysteresis takes
// its default; a negative one means none (act on the first sample, no band).
type Policy struct {
	// Default applies to every node without an entry in PerNode.
	Default Thresholds
	// PerNode replaces Default as a whole for the nodes it names, so a node
	// can also stop watching a resource (FRACTAL's per-node `resources`).
	PerNode map[string]Thresholds
	// Hysteresis is how many percentage points under its threshold a value
	// must fall to count as back under (for LoadPerCore, hundredths of a
	// load per core: 5 means 0.05). A value between the two neither starts
	// nor ends anything, so a node hovering at its threshold does not flap.
	Hysteresis float64
	// MinPressure is how long a node must stay over a threshold, sample
	// after sample, before it is limited: one busy second is not pressure.
	MinPressure time.Duration
	// TaintAfter is how long a node may stay over a threshold after it was
	// limited before it is tainted and evictions start: the limits had that
	// long to work.
	TaintAfter time.Duration
	// MinCalm is how long every resource must stay back under (threshold -
	// Hysteresis), sample after sample, before the node is restored.
	MinCalm time.Duration
}

// DefaultPolicy is FRACTAL's thresholds (80 % cpu, 80 % memory) plus a load
// of 2 per core, with the default timings.
func DefaultPolicy() Policy {
	return Policy{Default: Thresholds{CPUPercent: 80, MemoryPercent: 80, LoadPerCore: 2}}
}

// For returns the thresholds that apply to node.
func (p Policy) For(node string) Thresholds {
	if t, ok := p.PerNode[node]; ok {
		return t
	}
	return p.Default
}

// withDefaults fills the zero fields and turns negative ones into zero.
func (p Policy) withDefaults() Policy {
	p.Hysteresis = orDefault(p.Hysteresis, DefaultHysteresis)
	p.MinPressure = orDefault(p.MinPressure, DefaultMinPressure)
	p.TaintAfter = orDefault(p.TaintAfter, DefaultTaintAfter)
	p.MinCalm = orDefault(p.MinCalm, DefaultMinCalm)
	return p
}

func orDefault[T float64 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Validate reports a policy that cannot work: a percentage outside 0..100, a
// NaN, or a hysteresis so wide that a watched value could never be back under
// (the node would never be restored). The error names the field and wraps
// ErrInvalid.
func (p Policy) Validate() error {
	hyst := p.withDefaults().Hysteresis
	if math.IsNaN(p.Hysteresis) {
		return fmt.Errorf("policy: Hysteresis is NaN: %w", ErrInvalid)
	}
	if err := p.Default.validate("Default", hyst); err != nil {
		return err
	}
	nodes := make([]string, 0, len(p.PerNode))
	for n := range p.PerNode {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		if err := p.PerNode[n].validate(fmt.Sprintf("PerNode[%q]", n), hyst); err != nil {
			return err
		}
	}
	return nil
}

func (t Thresholds) validate(where string, hyst float64) error {
	percents := []struct {
		name string
		v    float64
	}{{"CPUPercent", t.CPUPercent}, {"MemoryPercent", t.MemoryPercent}, {"DiskPercent", t.DiskPercent}}
	for _, f := range percents {
		switch {
		case math.IsNaN(f.v) || f.v < 0 || f.v > 100:
			return fmt.Errorf("policy: %s.%s = %v: want a percentage from 0 (not watched) to 100: %w", where, f.name, f.v, ErrInvalid)
		case f.v > 0 && f.v-hyst <= 0:
			return fmt.Errorf("policy: %s.%s = %v: must exceed the hysteresis (%v points), or the node could never be restored: %w", where, f.name, f.v, hyst, ErrInvalid)
		}
	}
	switch l := t.LoadPerCore; {
	case math.IsNaN(l) || math.IsInf(l, 0) || l < 0:
		return fmt.Errorf("policy: %s.LoadPerCore = %v: want a load per core >= 0 (0: not watched): %w", where, l, ErrInvalid)
	case l > 0 && l-hyst/100 <= 0:
		return fmt.Errorf("policy: %s.LoadPerCore = %v: must exceed the hysteresis (%v per core), or the node could never be restored: %w", where, l, hyst/100, ErrInvalid)
	}
	return nil
}
