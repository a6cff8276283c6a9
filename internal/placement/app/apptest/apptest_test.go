package apptest

import (
	"context"
	"testing"

	"github.com/hedgeorch/hedge/internal/placement/app"
)

// The instance is the same for a seed, of the announced size, and
// placeable by the heuristic.
func TestDAGInstance(t *testing.T) {
	place := func() *app.Result {
		t.Helper()
		topo, fa, err := DAGInstance(100, 20, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(topo.Regions()) != 100 || len(fa.Microservices) != 20 {
			t.Fatalf("%d microservices on %d regions, want %d on %d", len(fa.Microservices), len(topo.Regions()), 20, 100)
		}
		res, err := app.Place(context.Background(), topo, fa, app.Options{})
		if err != nil {
			t.Fatalf("place the DAG: %v", err)
		}
		return res
	}
	a, b := place(), place()
	if a.Method != app.MethodHeuristic || a.Status != app.StatusNew {
		t.Errorf("method %s, status %s; want heuristic, New", a.Method, a.Status)
	}
	// The heuristic runs because the model is beyond the exact method's
	// reach (94,068 variables when this was written, as docs/placement.md
	// reports for the app package's own instance).
	if a.Variables <= app.DefaultExactLimit {
		t.Errorf("model of %d variables, want more than DefaultExactLimit (%d)", a.Variables, app.DefaultExactLimit)
	}
	if a.Objective != b.Objective || len(a.Placements) != len(b.Placements) {
		t.Errorf("two builds of the instance place differently: objective %d vs %d", a.Objective, b.Objective)
	}
}
