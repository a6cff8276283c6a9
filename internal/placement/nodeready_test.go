package placement

import "testing"

func TestNodeReady(t *testing.T) {
	tests := []struct {
		name string
		cand *Candidate
		want string
	}{
		{name: "ready", cand: cand("a"), want: ""},
		{name: "not ready", cand: cand("a", notReady), want: "not ready"},
		{name: "cordoned", cand: cand("a", cordoned), want: "cordoned"},
		{name: "not ready and cordoned reports not ready", cand: cand("a", notReady, cordoned), want: "not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mismatch := runFilter(NodeReady{}, req(), tt.cand)
			if got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
			if mismatch != "" {
				t.Error(mismatch)
			}
		})
	}
}
