package app

import (
	"fmt"
	"strings"

	"github.com/hedgeorch/hedge/internal/topology"
)

// graph is the application's dataflow graph over microservices and external
// endpoints, in the order they first appear (microservices first), so that
// checks report the same cycle every time.
type graph struct {
	names []string
	index map[string]int
	succ  [][]int
	in    []int
}

func newGraph(app *topology.FADepl) *graph {
	g := &graph{index: make(map[string]int)}
	add := func(id string) int {
		if i, ok := g.index[id]; ok {
			return i
		}
		g.index[id] = len(g.names)
		g.names = append(g.names, id)
		g.succ = append(g.succ, nil)
		g.in = append(g.in, 0)
		return len(g.names) - 1
	}
	for _, m := range app.Microservices {
		add(m.Name)
	}
	for _, f := range app.Dataflows {
		a, b := add(f.SourceID), add(f.DestinationID)
		g.succ[a] = append(g.succ[a], b)
		g.in[b]++
	}
	return g
}

// cycle returns one cycle as ids, first id repeated at the end, or nil.
func (g *graph) cycle() []string {
	cs := topology.Cycles(g.succ, 1)
	if len(cs) == 0 {
		return nil
	}
	out := make([]string, len(cs[0]))
	for i, v := range cs[0] {
		out[i] = g.names[v]
	}
	return out
}

// checkGraph checks what the algorithm needs of the dataflows: no cycle for
// ResourceBased and DAG, and for ResourceBased a single chain (a pipeline)
// through every microservice.
func checkGraph(app *topology.FADepl) error {
	g := newGraph(app)
	if c := g.cycle(); c != nil {
		return fmt.Errorf("%w: %w: %s", ErrInvalid, ErrCycle, strings.Join(c, " -> "))
	}
	if app.Algorithm != topology.AlgorithmResourceBased {
		return nil
	}
	if len(app.Dataflows) == 0 {
		return fmt.Errorf("%w: algorithm ResourceBased needs dataflows (a pipeline); use DAG for microservices without dataflows", ErrInvalid)
	}
	heads := 0
	for v, name := range g.names {
		switch {
		case len(g.succ[v]) > 1:
			return fmt.Errorf("%w: algorithm ResourceBased needs a pipeline, but %s has %d outgoing dataflows; use DAG", ErrInvalid, name, len(g.succ[v]))
		case g.in[v] > 1:
			return fmt.Errorf("%w: algorithm ResourceBased needs a pipeline, but %s has %d incoming dataflows; use DAG", ErrInvalid, name, g.in[v])
		case g.in[v] == 0 && len(g.succ[v]) == 0:
			return fmt.Errorf("%w: algorithm ResourceBased needs a pipeline through every microservice, but %s has no dataflow", ErrInvalid, name)
		case g.in[v] == 0:
			heads++
		}
	}
	if heads > 1 {
		return fmt.Errorf("%w: algorithm ResourceBased needs one pipeline, but the dataflows form %d separate chains; use DAG", ErrInvalid, heads)
	}
	return nil
}
