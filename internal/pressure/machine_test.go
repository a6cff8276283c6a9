package pressure

import (
	"errors"
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func cpu(v float64) Sample { return Sample{CPUPercent: v} }

// step feeds one sample (at t0 + sec) and checks the level after it and the
// event it returns (nil: none).
type step struct {
	sec   int
	s     Sample
	level Level
	event *Event
}

func ev(from, to Level, metric string, value, threshold float64, sec int) *Event {
	return &Event{Node: "edge-1", From: from, To: to, Metric: metric, Value: value, Threshold: threshold, At: at(sec)}
}

// every returns steps at from, from+5, ... up to to (inclusive), all with
// sample s and the given level and no event.
func every(from, to int, s Sample, level Level) []step {
	var out []step
	for sec := from; sec <= to; sec += 5 {
		out = append(out, step{sec: sec, s: s, level: level})
	}
	return out
}

func seq(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(sec int, s Sample, level Level, e *Event) []step {
	return []step{{sec: sec, s: s, level: level, event: e}}
}

// flap alternates a and b every 5 s from from to to.
func flap(from, to int, a, b Sample, level Level) []step {
	var out []step
	for sec, i := from, 0; sec <= to; sec, i = sec+5, i+1 {
		s := a
		if i%2 == 1 {
			s = b
		}
		out = append(out, step{sec: sec, s: s, level: level})
	}
	return out
}

func runSteps(t *testing.T, m *Machine, steps []step) {
	t.Helper()
	for i, st := range steps {
		s := st.s
		s.At = at(st.sec)
		got := m.Observe(s)
		switch {
		case st.event == nil && got != nil:
			t.Fatalf("step %d (t+%ds, %+v): unexpected event %+v", i, st.sec, st.s, *got)
		case st.event != nil && got == nil:
			t.Fatalf("step %d (t+%ds, %+v): no event, want %+v", i, st.sec, st.s, *st.event)
		case st.event != nil && *got != *st.event:
			t.Fatalf("step %d (t+%ds): event %+v, want %+v", i, st.sec, *got, *st.event)
		}
		if m.Level() != st.level {
			t.Fatalf("step %d (t+%ds, %+v): level %v, want %v", i, st.sec, st.s, m.Level(), st.level)
		}
	}
}

func TestUnitMachine(t *testing.T) {
	fractal := Policy{Default: Thresholds{CPUPercent: 80, MemoryPercent: 80}}
	tests := []struct {
		name   string
		policy Policy
		node   string
		steps  []step
	}{
		{
			name:   "normal to limited to tainted to restored",
			policy: fractal,
			steps: seq(
				every(0, 5, cpu(90), Normal),
				one(10, cpu(91), Limited, ev(Normal, Limited, MetricCPU, 91, 80, 10)),
				every(15, 25, cpu(90), Limited),
				one(30, cpu(92), Tainted, ev(Limited, Tainted, MetricCPU, 92, 80, 30)),
				every(35, 60, cpu(70), Tainted),
				one(65, cpu(71), Normal, ev(Tainted, Normal, MetricCPU, 71, 80, 65)),
				every(70, 100, cpu(50), Normal),
			),
		},
		{
			name:   "limited restored without taint when limits work",
			policy: fractal,
			steps: seq(
				every(0, 5, cpu(90), Normal),
				one(10, cpu(90), Limited, ev(Normal, Limited, MetricCPU, 90, 80, 10)),
				every(15, 40, cpu(60), Limited),
				one(45, cpu(60), Normal, ev(Limited, Normal, MetricCPU, 60, 80, 45)),
			),
		},
		{
			name:   "a short spike is not pressure",
			policy: fractal,
			steps:  seq(every(0, 5, cpu(99), Normal), every(10, 60, cpu(40), Normal)),
		},
		{
			name:   "flapping around the threshold never limits",
			policy: fractal,
			steps:  flap(0, 120, cpu(81), cpu(79), Normal),
		},
		{
			name:   "flapping across the band never restores",
			policy: fractal,
			steps: seq(
				every(0, 5, cpu(90), Normal),
				one(10, cpu(90), Limited, ev(Normal, Limited, MetricCPU, 90, 80, 10)),
				// 81 ends every calm run, 70 every over run: neither the
				// restore nor the taint ever gets its time.
				flap(15, 200, cpu(70), cpu(81), Limited),
			),
		},
		{
			name:   "inside the hysteresis band is not back under",
			policy: fractal,
			steps: seq(
				every(0, 5, cpu(90), Normal),
				one(10, cpu(90), Limited, ev(Normal, Limited, MetricCPU, 90, 80, 10)),
				every(15, 200, cpu(76), Limited), // under 80, not under 75
				every(205, 230, cpu(74.9), Limited),
				one(235, cpu(74), Normal, ev(Limited, Normal, MetricCPU, 74, 80, 235)),
			),
		},
		{
			name:   "one resource in the band holds the restore",
			policy: fractal,
			steps: seq(
				every(0, 5, Sample{CPUPercent: 90, MemoryPercent: 50}, Normal),
				one(10, Sample{CPUPercent: 90, MemoryPercent: 50}, Limited, ev(Normal, Limited, MetricCPU, 90, 80, 10)),
				every(15, 100, Sample{CPUPercent: 10, MemoryPercent: 77}, Limited),
				every(105, 130, Sample{CPUPercent: 10, MemoryPercent: 60}, Limited),
				one(135, Sample{CPUPercent: 10, MemoryPercent: 60}, Normal, ev(Limited, Normal, MetricMemory, 60, 80, 135)),
			),
		},
		{
			name:   "taint needs pressure for TaintAfter after the limit without a dip",
			policy: fractal,
			steps: seq(
				every(0, 5, cpu(90), Normal),
				one(10, cpu(90), Limited, ev(Normal, Limited, MetricCPU, 90, 80, 10)),
				every(15, 25, cpu(90), Limited),
				one(30, cpu(78), Limited, nil), // in the band: not over, the run ends
				every(35, 50, cpu(90), Limited),
				one(55, cpu(95), Tainted, ev(Limited, Tainted, MetricCPU, 95, 80, 55)),
			),
		},
		{
			name:   "the event names the metric furthest over",
			policy: fractal,
			steps: seq(
				every(0, 5, Sample{CPUPercent: 85, MemoryPercent: 96}, Normal),
				one(10, Sample{CPUPercent: 85, MemoryPercent: 96}, Limited, ev(Normal, Limited, MetricMemory, 96, 80, 10)),
			),
		},
		{
			name:   "memory alone",
			policy: fractal,
			steps: seq(
				every(0, 5, Sample{CPUPercent: 5, MemoryPercent: 93.5}, Normal),
				one(10, Sample{CPUPercent: 5, MemoryPercent: 93.5}, Limited, ev(Normal, Limited, MetricMemory, 93.5, 80, 10)),
			),
		},
		{
			name:   "load is judged per core",
			policy: Policy{Default: Thresholds{LoadPerCore: 2}},
			steps: seq(
				every(0, 30, Sample{Load1: 6, Cores: 4}, Normal), // 1.5 per core
				every(35, 60, Sample{Load1: 6}, Normal),          // no core count: not judged
				every(65, 70, Sample{Load1: 6, Cores: 2}, Normal),
				one(75, Sample{Load1: 6, Cores: 2}, Limited, ev(Normal, Limited, MetricLoad, 3, 2, 75)),
				// back under means under 2 - 0.05 per core.
				every(80, 200, Sample{Load1: 3.92, Cores: 2}, Limited),
				every(205, 230, Sample{Load1: 3.8, Cores: 2}, Limited),
				one(235, Sample{Load1: 3.8, Cores: 2}, Normal, ev(Limited, Normal, MetricLoad, 1.9, 2, 235)),
			),
		},
		{
			name:   "disk is watched when asked",
			policy: Policy{Default: Thresholds{DiskPercent: 90}},
			steps: seq(
				every(0, 5, Sample{DiskPercent: 97, CPUPercent: 100}, Normal),
				one(10, Sample{DiskPercent: 97, CPUPercent: 100}, Limited, ev(Normal, Limited, MetricDisk, 97, 90, 10)),
			),
		},
		{
			name:   "a per-node entry overrides the default",
			policy: Policy{Default: Thresholds{CPUPercent: 80, MemoryPercent: 80}, PerNode: map[string]Thresholds{"edge-1": {CPUPercent: 95}}},
			steps: seq(
				every(0, 60, Sample{CPUPercent: 90, MemoryPercent: 99}, Normal), // memory not watched, cpu under 95
				every(65, 70, cpu(96), Normal),
				one(75, cpu(96), Limited, ev(Normal, Limited, MetricCPU, 96, 95, 75)),
			),
		},
		{
			name:   "the per-node entry of another node changes nothing",
			policy: Policy{Default: Thresholds{CPUPercent: 80}, PerNode: map[string]Thresholds{"edge-2": {CPUPercent: 95}}},
			steps: seq(
				every(0, 5, cpu(90), Normal),
				one(10, cpu(90), Limited, ev(Normal, Limited, MetricCPU, 90, 80, 10)),
			),
		},
		{
			name:   "custom timings and no hysteresis",
			policy: Policy{Default: Thresholds{CPUPercent: 80}, Hysteresis: -1, MinPressure: -1, TaintAfter: time.Minute, MinCalm: 5 * time.Second},
			steps: seq(
				one(0, cpu(81), Limited, ev(Normal, Limited, MetricCPU, 81, 80, 0)),
				every(5, 55, cpu(81), Limited),
				one(60, cpu(81), Tainted, ev(Limited, Tainted, MetricCPU, 81, 80, 60)),
				one(65, cpu(79.9), Tainted, nil),
				one(70, cpu(79.9), Normal, ev(Tainted, Normal, MetricCPU, 79.9, 80, 70)),
			),
		},
		{
			name:   "NaN values are not measured",
			policy: fractal,
			steps: seq(
				every(0, 5, Sample{CPUPercent: math.NaN(), MemoryPercent: 90}, Normal),
				one(10, Sample{CPUPercent: math.NaN(), MemoryPercent: 90}, Limited, ev(Normal, Limited, MetricMemory, 90, 80, 10)),
			),
		},
		{
			name:   "a sample older than the last counts as taken at the last",
			policy: fractal,
			steps: seq(
				one(0, cpu(90), Normal, nil),
				one(12, cpu(90), Limited, ev(Normal, Limited, MetricCPU, 90, 80, 12)),
				one(3, cpu(90), Limited, nil),
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, NewMachine("edge-1", tt.policy), tt.steps)
		})
	}
}

func TestUnitMachineInterruptRestartsRuns(t *testing.T) {
	m := NewMachine("edge-1", Policy{Default: Thresholds{CPUPercent: 80}})
	runSteps(t, m, every(0, 5, cpu(90), Normal))
	m.Interrupt()
	runSteps(t, m, seq(
		every(10, 15, cpu(90), Normal), // without Interrupt t+10 would limit
		one(20, cpu(90), Limited, ev(Normal, Limited, MetricCPU, 90, 80, 20)),
		every(25, 45, cpu(10), Limited),
	))
	m.Interrupt()
	runSteps(t, m, seq(
		every(50, 75, cpu(10), Limited),
		one(80, cpu(10), Normal, ev(Limited, Normal, MetricCPU, 10, 80, 80)),
	))
}

func TestUnitMachineOver(t *testing.T) {
	m := NewMachine("edge-1", Policy{Default: Thresholds{CPUPercent: 80}})
	tests := []struct {
		name string
		cpu  float64
		want bool
	}{
		{name: "over", cpu: 80.5, want: true},
		{name: "at the threshold", cpu: 80, want: false},
		{name: "band", cpu: 77, want: false},
		{name: "calm", cpu: 3, want: false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.Observe(Sample{At: at(i), CPUPercent: tt.cpu})
			if m.Over() != tt.want {
				t.Errorf("Over() after cpu %v = %v, want %v", tt.cpu, m.Over(), tt.want)
			}
		})
	}
}

func TestUnitPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		want string // "" = valid
	}{
		{name: "default policy", p: DefaultPolicy()},
		{name: "zero policy watches nothing", p: Policy{}},
		{name: "over 100", p: Policy{Default: Thresholds{CPUPercent: 120}}, want: "Default.CPUPercent = 120"},
		{name: "negative", p: Policy{Default: Thresholds{MemoryPercent: -1}}, want: "Default.MemoryPercent = -1"},
		{name: "NaN disk", p: Policy{Default: Thresholds{DiskPercent: math.NaN()}}, want: "Default.DiskPercent = NaN"},
		{name: "negative load", p: Policy{Default: Thresholds{LoadPerCore: -2}}, want: "Default.LoadPerCore = -2"},
		{name: "hysteresis too wide", p: Policy{Default: Thresholds{CPUPercent: 10}, Hysteresis: 10}, want: "must exceed the hysteresis"},
		{name: "default hysteresis too wide", p: Policy{Default: Thresholds{CPUPercent: 4}}, want: "Default.CPUPercent = 4"},
		{name: "hysteresis too wide for load", p: Policy{Default: Thresholds{LoadPerCore: 0.05}}, want: "Default.LoadPerCore = 0.05"},
		{name: "per node", p: Policy{PerNode: map[string]Thresholds{"b": {CPUPercent: 50}, "a": {CPUPercent: 101}}}, want: `PerNode["a"].CPUPercent = 101`},
		{name: "NaN hysteresis", p: Policy{Hysteresis: math.NaN()}, want: "Hysteresis is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !contains(err, tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalid naming %q", err, tt.want)
			}
		})
	}
}

func TestUnitLevelText(t *testing.T) {
	for _, l := range []Level{Normal, Limited, Tainted, Unknown} {
		b, err := l.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%v): %v", l, err)
		}
		var back Level
		if err := back.UnmarshalText(b); err != nil || back != l {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, l)
		}
	}
	if _, err := Level(7).MarshalText(); !errors.Is(err, ErrInvalid) {
		t.Errorf("MarshalText(7) = %v, want ErrInvalid", err)
	}
	var l Level
	if err := l.UnmarshalText([]byte("hot")); !errors.Is(err, ErrInvalid) {
		t.Errorf("UnmarshalText(hot) = %v, want ErrInvalid", err)
	}
	if Tainted.String() != "tainted" || Level(9).String() != "level(9)" {
		t.Errorf("String = %q, %q", Tainted, Level(9))
	}
}
