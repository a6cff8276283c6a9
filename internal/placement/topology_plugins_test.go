package placement

import (
	"context"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

func TestMostTrafficScore(t *testing.T) {
	tests := []struct {
		name string
		rx   float64
		want int64
	}{
		{name: "no traffic", rx: 0, want: 0},
		{name: "1 kB/s", rx: 999, want: 30},
		{name: "1 MB/s", rx: 999_999, want: 60},
		{name: "capped at 100", rx: 1e12, want: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := MostTraffic{}.Score(context.Background(), &Request{}, &Candidate{NetRxBytesPS: tt.rx})
			if st != nil || got != tt.want {
				t.Errorf("Score = %d, %v; want %d", got, st, tt.want)
			}
		})
	}
}

func TestMostTrafficPicksBusiestAndAcceptsBothSpellings(t *testing.T) {
	for _, policy := range []string{PolicyMostTraffic, PolicyTrafficMost} {
		t.Run(policy, func(t *testing.T) {
			quiet, busy := cand("quiet"), cand("busy")
			quiet.NetRxBytesPS, busy.NetRxBytesPS = 10, 5e6
			res, err := New(LevelCluster).Place(context.Background(), req(withPolicy(policy)), []*Candidate{quiet, busy})
			if err != nil || res.Chosen.Name != "busy" {
				t.Fatalf("chose %v, %v; want busy", res.Chosen, err)
			}
		})
	}
}

func TestNodeSelector(t *testing.T) {
	gpu := map[string]string{"accelerator": "t4", "region": "r1"}
	tests := []struct {
		name     string
		selector map[string]string
		labels   map[string]string
		nodes    []map[string]string // LevelRoot: labels of the cluster's nodes
		wantOK   bool
	}{
		{name: "no selector", labels: nil, wantOK: true},
		{name: "all labels match", selector: map[string]string{"accelerator": "t4"}, labels: gpu, wantOK: true},
		{name: "value differs", selector: map[string]string{"accelerator": "a100"}, labels: gpu},
		{name: "label missing", selector: map[string]string{"zone": "z"}, labels: gpu},
		{name: "one node of the cluster matches", selector: map[string]string{"accelerator": "t4"},
			nodes: []map[string]string{{"region": "r2"}, gpu}, wantOK: true},
		{name: "no node of the cluster matches", selector: map[string]string{"accelerator": "t4"},
			nodes: []map[string]string{{"region": "r2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Candidate{Name: "n", Labels: tt.labels, NodeLabels: tt.nodes}
			st := NodeSelector{}.Filter(context.Background(), &Request{Selector: tt.selector}, c)
			if st.IsSuccess() != tt.wantOK {
				t.Errorf("Filter = %v, want ok=%v", st, tt.wantOK)
			}
			if !tt.wantOK && st.Reason != "no node with labels "+firstLabel(tt.selector) {
				t.Errorf("reason %q", st.Reason)
			}
		})
	}
}

func firstLabel(m map[string]string) string {
	for k, v := range m {
		return k + "=" + v
	}
	return ""
}

func TestGeoConstraint(t *testing.T) {
	trento := map[string]string{LabelLocation: "46.0667,11.1167"}
	munich := map[string]string{LabelLocation: "48.1372,11.5755"} // ~245 km from Trento
	geo := func(km float64) []api.Constraint {
		return []api.Constraint{{Type: ConstraintGeo, Location: "46.07,11.12", Threshold: km}}
	}
	tests := []struct {
		name   string
		cons   []api.Constraint
		labels map[string]string
		wantOK bool
		code   Code
	}{
		{name: "within threshold", cons: geo(10), labels: trento, wantOK: true},
		{name: "too far", cons: geo(100), labels: munich, code: Unschedulable},
		{name: "far threshold reaches", cons: geo(300), labels: munich, wantOK: true},
		{name: "no location label", cons: geo(1000), labels: map[string]string{}, code: Unschedulable},
		{name: "bad constraint location", cons: []api.Constraint{{Type: ConstraintGeo, Location: "north", Threshold: 5}}, labels: trento, code: Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := GeoConstraint{}.Filter(context.Background(), &Request{Constraints: tt.cons}, &Candidate{Labels: tt.labels})
			if st.IsSuccess() != tt.wantOK || (!tt.wantOK && st.Code != tt.code) {
				t.Errorf("Filter = %v, want ok=%v code=%v", st, tt.wantOK, tt.code)
			}
		})
	}
	if d := DistanceKM(46.0667, 11.1167, 48.1372, 11.5755); d < 225 || d > 245 {
		t.Errorf("Trento-Munich = %.0f km, want ~232", d)
	}
}

func TestLatencyConstraint(t *testing.T) {
	near := []api.Constraint{{Type: ConstraintLatency, Area: "002-002", Threshold: 50, Regions: []string{"002-002", "003-003"}}}
	tests := []struct {
		name   string
		cons   []api.Constraint
		labels map[string]string
		nodes  []map[string]string // LevelRoot: labels of the cluster's nodes
		wantOK bool
		reason string
	}{
		{name: "no constraint", labels: map[string]string{}, wantOK: true},
		{name: "node in a near region", cons: near, labels: map[string]string{LabelRegion: "003-003"}, wantOK: true},
		{name: "node in a far region", cons: near, labels: map[string]string{LabelRegion: "001-001"}, reason: "no node in a region within 50 ms of 002-002"},
		{name: "node without a region", cons: near, labels: map[string]string{}, reason: "no node in a region within 50 ms"},
		{name: "one node of the cluster is near", cons: near, nodes: []map[string]string{{LabelRegion: "001-001"}, {LabelRegion: "002-002"}}, wantOK: true},
		{name: "no node of the cluster is near", cons: near, nodes: []map[string]string{{LabelRegion: "001-001"}}, reason: "within 50 ms"},
		{name: "nothing within reach", cons: []api.Constraint{{Type: ConstraintLatency, Area: "mars", Threshold: 5}},
			labels: map[string]string{LabelRegion: "001-001"}, reason: "no region of the topology is within 5 ms of mars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := LatencyConstraint{}.Filter(context.Background(), &Request{Constraints: tt.cons}, &Candidate{Labels: tt.labels, NodeLabels: tt.nodes})
			if st.IsSuccess() != tt.wantOK {
				t.Fatalf("Filter = %v, want ok=%v", st, tt.wantOK)
			}
			if !tt.wantOK && (st.Code != Unschedulable || !strings.Contains(st.Reason, tt.reason)) {
				t.Errorf("Filter = %v, want Unschedulable with %q", st, tt.reason)
			}
		})
	}
}
