package topology

// Cycles returns up to limit cycles of the directed graph whose vertex v
// has the successors succ[v]: one per edge that closes a cycle in a
// depth-first search from each vertex in order, so the same graph gives the
// same cycles every time. Each cycle lists vertices with the first repeated
// at the end. Both the SLA check (internal/sla) and whole-application
// placement (internal/placement/app) need acyclic dataflows.
func Cycles(succ [][]int, limit int) [][]int {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(succ))
	pos := make([]int, len(succ)) // position on the stack while grey
	var stack []int
	var found [][]int
	var visit func(v int) bool
	visit = func(v int) bool {
		color[v] = grey
		pos[v] = len(stack)
		stack = append(stack, v)
		for _, w := range succ[v] {
			switch color[w] {
			case grey:
				cycle := append(append(make([]int, 0, len(stack)-pos[w]+1), stack[pos[w]:]...), w)
				found = append(found, cycle)
				if len(found) >= limit {
					return true
				}
			case white:
				if visit(w) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[v] = black
		return false
	}
	for v := range succ {
		if color[v] == white && visit(v) {
			break
		}
	}
	return found
}
