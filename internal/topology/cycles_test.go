package topology

import (
	"reflect"
	"testing"
)

func TestCycles(t *testing.T) {
	tests := []struct {
		name  string
		succ  [][]int
		limit int
		want  [][]int
	}{
		{"none", [][]int{{1}, {2}, nil}, 10, nil},
		{"self loop", [][]int{{0}}, 10, [][]int{{0, 0}}},
		{"two", [][]int{{1}, {0, 2}, {1}}, 10, [][]int{{0, 1, 0}, {1, 2, 1}}},
		{"limit", [][]int{{1}, {0, 2}, {1}}, 1, [][]int{{0, 1, 0}}},
		{"diamond is acyclic", [][]int{{1, 2}, {3}, {3}, nil}, 10, nil},
	}
	for _, tt := range tests {
		if got := Cycles(tt.succ, tt.limit); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Cycles = %v, want %v", tt.name, got, tt.want)
		}
	}
}
