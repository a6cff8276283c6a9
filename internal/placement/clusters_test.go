package placement

import (
	"testing"

	"github.com/hedgeorch/hedge/api"
)

func TestClustersConstraint(t *testing.T) {
	const notAllowed = "not in the clusters constraint's allowed list"
	allowed := func(names ...string) api.Constraint {
		return api.Constraint{Type: ConstraintClusters, Allowed: names}
	}
	tests := []struct {
		name  string
		level Level
		cons  []api.Constraint
		cand  string
		want  string
	}{
		{name: "no constraint", level: LevelRoot, cand: "edge1", want: ""},
		{name: "allowed", level: LevelRoot, cons: []api.Constraint{allowed("edge1", "edge2")}, cand: "edge2", want: ""},
		{name: "not allowed", level: LevelRoot, cons: []api.Constraint{allowed("edge1", "edge2")}, cand: "edge3", want: notAllowed},
		{name: "one of many", level: LevelRoot,
			cons: []api.Constraint{allowed("c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9")}, cand: "c8", want: ""},
		{name: "not one of many", level: LevelRoot,
			cons: []api.Constraint{allowed("c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9")}, cand: "c10", want: notAllowed},
		{name: "empty list restricts nothing", level: LevelRoot, cons: []api.Constraint{allowed()}, cand: "edge3", want: ""},
		{name: "every list must allow", level: LevelRoot,
			cons: []api.Constraint{allowed("edge1", "edge2"), allowed("edge2", "edge3")}, cand: "edge1", want: notAllowed},
		{name: "in every list", level: LevelRoot,
			cons: []api.Constraint{allowed("edge1", "edge2"), allowed("edge2", "edge3")}, cand: "edge2", want: ""},
		{name: "cluster level does nothing", level: LevelCluster, cons: []api.Constraint{allowed("edge1")}, cand: "n1", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mismatch := runFilter(ClustersConstraint{Level: tt.level}, req(withConstraints(tt.cons...)), cand(tt.cand))
			if got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
			if mismatch != "" {
				t.Error(mismatch)
			}
		})
	}
}

func TestClustersConstraintNotDefaultAtClusterLevel(t *testing.T) {
	for _, p := range defaultFilters(LevelCluster) {
		if p.Name() == "ClustersConstraint" {
			t.Fatal("ClustersConstraint is in the cluster-level default set; the root alone enforces it")
		}
	}
}
