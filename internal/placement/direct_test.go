package placement

import (
	"testing"

	"github.com/hedgeorch/hedge/api"
)

func TestDirectConstraint(t *testing.T) {
	const notCluster = "not the cluster named in the direct constraint"
	const notNode = "not a node named in the direct constraint"
	direct := func(cluster, node string) api.Constraint {
		return api.Constraint{Type: ConstraintDirect, Cluster: cluster, Node: node}
	}
	tests := []struct {
		name  string
		level Level
		cons  []api.Constraint
		cand  string
		want  string
	}{
		{name: "no constraint", level: LevelRoot, cons: nil, cand: "edge1", want: ""},
		{name: "root: named cluster", level: LevelRoot, cons: []api.Constraint{direct("edge1", "")}, cand: "edge1", want: ""},
		{name: "root: other cluster", level: LevelRoot, cons: []api.Constraint{direct("edge1", "")}, cand: "edge2", want: notCluster},
		{name: "root: node list is not the root's business", level: LevelRoot, cons: []api.Constraint{direct("", "n1")}, cand: "edge2", want: ""},
		{name: "root: two direct constraints must both hold", level: LevelRoot,
			cons: []api.Constraint{direct("edge1", ""), direct("edge2", "")}, cand: "edge1", want: notCluster},
		{name: "root: other constraint types ignored", level: LevelRoot,
			cons: []api.Constraint{{Type: "latency", Area: "x", Threshold: 10}, {Type: "geo", Location: "1,2"}}, cand: "edge1", want: ""},
		{name: "cluster: named node", level: LevelCluster, cons: []api.Constraint{direct("edge1", "n1")}, cand: "n1", want: ""},
		{name: "cluster: one of several, spaces trimmed", level: LevelCluster,
			cons: []api.Constraint{direct("", " n1 ; n2;n3 ")}, cand: "n2", want: ""},
		{name: "cluster: last of several", level: LevelCluster, cons: []api.Constraint{direct("", "n1;n2;n3")}, cand: "n3", want: ""},
		{name: "cluster: one of many", level: LevelCluster,
			cons: []api.Constraint{direct("", "n1;n2;n3;n4;n5;n6;n7;n8;n9;n10")}, cand: "n7", want: ""},
		{name: "cluster: not one of many", level: LevelCluster,
			cons: []api.Constraint{direct("", "n1;n2;n3;n4;n5;n6;n7;n8;n9;n10")}, cand: "n11", want: notNode},
		{name: "cluster: node not listed", level: LevelCluster, cons: []api.Constraint{direct("", "n1;n2")}, cand: "n4", want: notNode},
		{name: "cluster: prefix is not a match", level: LevelCluster, cons: []api.Constraint{direct("", "n1")}, cand: "n10", want: notNode},
		{name: "cluster: empty entries ignored", level: LevelCluster, cons: []api.Constraint{direct("", ";;n1;")}, cand: "n1", want: ""},
		{name: "cluster: only separators restrict nothing", level: LevelCluster, cons: []api.Constraint{direct("", " ; ")}, cand: "n9", want: ""},
		{name: "cluster: cluster name is not the cluster level's business", level: LevelCluster,
			cons: []api.Constraint{direct("edge1", "")}, cand: "n9", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mismatch := runFilter(DirectConstraint{Level: tt.level}, req(withConstraints(tt.cons...)), cand(tt.cand))
			if got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
			if mismatch != "" {
				t.Error(mismatch)
			}
		})
	}
}
