package placement

import "testing"

func TestResourcesFit(t *testing.T) {
	tests := []struct {
		name  string
		level Level
		req   *Request
		cand  *Candidate
		want  string
	}{
		{name: "fits with room", level: LevelCluster, req: req(withDemand(1, 512)), cand: cand("n"), want: ""},
		{name: "fits exactly", level: LevelCluster, req: req(withDemand(4, 4096)), cand: cand("n"), want: ""},
		{name: "fractional cpu fits despite float rounding", level: LevelCluster,
			req: req(withDemand(0.3, 1)), cand: cand("n", withFree(0.1+0.2, 1)), want: ""},
		{name: "free not capacity: reserved memory counts", level: LevelCluster,
			req: req(withDemand(1, 2048)), cand: cand("n", withFree(4, 1024)), want: "insufficient memory"},
		{name: "free not capacity: reserved cpu counts", level: LevelCluster,
			req: req(withDemand(2, 512)), cand: cand("n", withFree(1.5, 4096)), want: "insufficient cpu"},
		{name: "both short", level: LevelCluster,
			req: req(withDemand(8, 8192)), cand: cand("n"), want: "insufficient cpu and memory"},
		{name: "zero capacity takes zero demand", level: LevelCluster,
			req: req(withDemand(0, 0)), cand: cand("n", withCapacity(0, 0), withFree(0, 0)), want: ""},
		{name: "cluster level ignores MaxNodeFree", level: LevelCluster,
			req: req(withDemand(2, 2048)), cand: cand("n", withMaxNodeFree(0, 0)), want: ""},
		{name: "root: aggregate and one node fit", level: LevelRoot,
			req: req(withDemand(2, 2048)), cand: cand("c", withCapacity(16, 16384), withFree(8, 8192), withMaxNodeFree(2, 2048)), want: ""},
		{name: "root: memory spread over nodes", level: LevelRoot,
			req: req(withDemand(1, 2048)), cand: cand("c", withCapacity(16, 16384), withFree(8, 8192), withMaxNodeFree(4, 1024)),
			want: "no single node has enough memory"},
		{name: "root: cpu spread over nodes", level: LevelRoot,
			req: req(withDemand(3, 512)), cand: cand("c", withCapacity(16, 16384), withFree(8, 8192), withMaxNodeFree(2, 4096)),
			want: "no single node has enough cpu"},
		{name: "root: both spread over nodes", level: LevelRoot,
			req: req(withDemand(3, 2048)), cand: cand("c", withCapacity(16, 16384), withFree(8, 8192), withMaxNodeFree(2, 1024)),
			want: "no single node has enough cpu and memory"},
		{name: "root: aggregate short is reported before nodes", level: LevelRoot,
			req: req(withDemand(1, 9000)), cand: cand("c", withCapacity(16, 16384), withFree(8, 8192), withMaxNodeFree(1, 100)),
			want: "insufficient memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mismatch := runFilter(ResourcesFit{Level: tt.level}, tt.req, tt.cand)
			if got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
			if mismatch != "" {
				t.Error(mismatch)
			}
		})
	}
}
