package placement

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

func TestDiagnosisString(t *testing.T) {
	tests := []struct {
		name string
		d    Diagnosis
		want string
	}{
		{name: "nothing rejected", d: Diagnosis{Total: 3, Level: LevelRoot}, want: "3/3 clusters available"},
		{name: "no candidates", d: Diagnosis{Level: LevelCluster}, want: "0/0 nodes available"},
		{name: "largest count first, then reason order",
			d:    Diagnosis{Total: 7, Level: LevelCluster, Rejected: map[string]int{"not ready": 1, "cordoned": 1, "insufficient memory": 3}},
			want: "2/7 nodes available: 3 insufficient memory, 1 cordoned, 1 not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTallyMatchesMap counts more distinct reasons than the fixed array
// holds, interleaved, through both the status and the string paths.
func TestTallyMatchesMap(t *testing.T) {
	statuses := make([]*Status, 12)
	for i := range statuses {
		statuses[i] = NewStatus(Unschedulable, "P", fmt.Sprintf("reason %02d", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var tl tally
	want := map[string]int{}
	for range 5000 {
		st := statuses[rng.IntN(len(statuses))]
		if rng.IntN(3) == 0 {
			// runs of the same status exercise the pointer fast path
			for range rng.IntN(4) {
				tl.addStatus(st)
				want[st.Reason]++
			}
			continue
		}
		n := rng.IntN(3) + 1
		if rng.IntN(2) == 0 {
			tl.add(st.Reason, n)
			want[st.Reason] += n
		} else {
			tl.addStatus(st)
			want[st.Reason]++
		}
	}
	if got := tl.rejected(); !maps.Equal(got, want) {
		t.Errorf("tally = %v, want %v", got, want)
	}
	var merged tally
	for _, it := range tl.items() {
		merged.add(it.reason, it.count)
	}
	if got := merged.rejected(); !maps.Equal(got, want) {
		t.Errorf("tally rebuilt from items = %v, want %v", got, want)
	}
}
