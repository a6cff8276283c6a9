package placement

import (
	"context"
	"testing"
)

func TestPolicyScore(t *testing.T) {
	p := NewPolicyScore(defaultPolicies(LevelCluster))
	c := cand("n") // 1 vcpu / 512 MB on an empty 4/4096 node: best-fit 19, worst-fit 81
	tests := []struct {
		name      string
		policy    string
		want      int64
		wantError string
	}{
		{name: "empty means best-fit", policy: "", want: 19},
		{name: "best-fit", policy: PolicyBestFit, want: 19},
		{name: "worst-fit", policy: PolicyWorstFit, want: 81},
		{name: "unknown policy is an error", policy: "fastest",
			wantError: `unknown policy "fastest", want one of: best-fit, most-traffic, traffic-most, worst-fit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			r := req(withPolicy(tt.policy))
			got, st := p.Score(ctx, r, c)
			bound, pst := p.PreScore(ctx, r)
			if tt.wantError != "" {
				for path, s := range map[string]*Status{"Score": st, "PreScore": pst} {
					if s == nil || s.Code != Error || s.Reason != tt.wantError {
						t.Errorf("%s status = %v, want Error %q", path, s, tt.wantError)
					}
				}
				return
			}
			if st != nil || pst != nil {
				t.Fatalf("statuses = %v, %v, want nil", st, pst)
			}
			if got != tt.want {
				t.Errorf("Score = %d, want %d", got, tt.want)
			}
			if viaPre, _ := bound.Score(ctx, r, c); viaPre != tt.want {
				t.Errorf("PreScore path = %d, want %d", viaPre, tt.want)
			}
		})
	}
}

func TestFrameworkPolicies(t *testing.T) {
	got := New(LevelRoot, WithPolicy("nearest", WorstFit{})).Policies()
	want := []string{"best-fit", "most-traffic", "nearest", "traffic-most", "worst-fit"}
	if len(got) != len(want) {
		t.Fatalf("Policies() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Policies() = %v, want %v", got, want)
		}
	}
}
