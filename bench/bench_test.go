package main

import (
	"slices"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/sla"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{name: "usual status", status: "Name:\thedge\nVmPeak:\t  900 kB\nVmRSS:\t   13260 kB\nRssAnon:\t 5000 kB\n", want: 13260},
		{name: "zombie has no VmRSS", status: "Name:\thedge\nState:\tZ (zombie)\n", wantErr: true},
		{name: "unexpected unit", status: "VmRSS:\t13 MB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.status))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d KiB, want %d", got, tt.want)
			}
		})
	}
}

func TestParseCPUTicks(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    int64
		wantErr bool
	}{
		{name: "plain command", stat: "4242 (hedge) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 37 0 0 20 0 9 0 100 0 0", want: 187},
		// A command name may hold spaces and ")": fields count from the last ")".
		{name: "command with spaces and parens", stat: "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 0 0", want: 11},
		{name: "truncated", stat: "7 (hedge) S 1 7", wantErr: true},
		{name: "no command", stat: "garbage", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUTicks([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d ticks, want %d", got, tt.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted on purpose
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "empty", ds: nil, p: 50, want: 0},
		{name: "one value", ds: ms(7), p: 99, want: 7 * time.Millisecond},
		{name: "p50 of 100 is the 50th", ds: ms(hundred...), p: 50, want: 50 * time.Millisecond},
		{name: "p99 of 100 is the 99th", ds: ms(hundred...), p: 99, want: 99 * time.Millisecond},
		{name: "p100 is the max", ds: ms(hundred...), p: 100, want: 100 * time.Millisecond},
		{name: "nearest rank rounds up", ds: ms(1, 2, 3), p: 50, want: 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.ds, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %g) = %v, want %v", tt.ds, tt.p, got, tt.want)
			}
		})
	}
}

// The SLA the bench submits must pass Hedge's own validation and ask for
// what the figures assume: n process instances of /bin/sleep carrying the
// run's marker.
func TestSleepSLAPassesValidation(t *testing.T) {
	doc, err := sla.Parse(sleepSLA("app", "HEDGE_BENCH_RUN=abc", 3))
	if err != nil {
		t.Fatalf("Hedge rejects the bench's SLA: %v", err)
	}
	if len(doc.Applications) != 1 || len(doc.Applications[0].Services) != 1 {
		t.Fatalf("SLA holds %+v; want one application with one service", doc.Applications)
	}
	s := doc.Applications[0].Services[0]
	if s.Instances != 3 || s.Code != sleepCode || s.Virtualization != api.VirtProcess {
		t.Errorf("service = %d x %s (%s); want 3 x %s (process)", s.Instances, s.Code, s.Virtualization, sleepCode)
	}
	if !slices.Contains(s.Environment, "HEDGE_BENCH_RUN=abc") {
		t.Errorf("environment %v lacks the run's marker", s.Environment)
	}
}
