package sla

import (
	"fmt"
	"math"
	"strings"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/fieldpath"
	"github.com/hedgeorch/hedge/internal/topology"
)

// A microservice's connectivity lists its dataflows, as in Oakestra's SLA:
//
//	connectivity:
//	  - target_microservice: db        # or target_endpoint / source_endpoint
//	    con_constraints:
//	      - {type: latency, threshold: 20}      # ms
//	      - {type: bandwidth, threshold: 5M}    # bit/s
//
// Each entry has exactly one other end: target_microservice (Oakestra's
// target_microservice_id is read as the same field; it holds a name, since
// ids do not exist before submission), target_endpoint or source_endpoint
// (ids of external endpoints of the topology, which only the root knows).

var (
	connectivityFields  = []string{"target_microservice", "target_microservice_id", "target_endpoint", "source_endpoint", "con_constraints"}
	conConstraintFields = []string{"type", "threshold", "rigidness", "convergence_time"}
)

// Upper bounds of con_constraints thresholds: those of the topology's links
// (internal/topology), so that a bound converts to the units paths are
// compared in without overflow.
const (
	maxConLatencyMS = 1e9  // about 11.5 days
	maxConBandwidth = 1e15 // 1P bit/s
)

const (
	// maxCycles bounds the cycles reported for one application.
	maxCycles = 10
	// maxCycleNames bounds the names shown of one long cycle.
	maxCycleNames = 12
	// maxSuggestNames is the most microservices an application may have
	// for an unknown target_microservice to get a "did you mean".
	maxSuggestNames = 100
)

// connectivity reads a microservice's dataflows. It keeps one entry per item,
// even one it cannot read, so that ValidateService's problems carry the index
// the user wrote.
func (w *walker) connectivity(path string, v any) []api.Connectivity {
	items, ok := w.List(path, v)
	if !ok || len(items) == 0 {
		return nil
	}
	out := make([]api.Connectivity, len(items))
	for i, item := range items {
		field := index(path, i)
		o, ok := w.ObjectAt(field, item)
		if !ok {
			continue
		}
		w.CheckFields(field, o, connectivityFields)
		c := &out[i]
		c.TargetMicroservice = w.dataflowEnd(field, o, "target_microservice")
		if o.Get("target_microservice_id") != nil {
			if o.Get("target_microservice") != nil {
				w.Addf(join(field, "target_microservice_id"), "is Oakestra's name for target_microservice; write only one of them")
			} else {
				c.TargetMicroservice = w.dataflowEnd(field, o, "target_microservice_id")
				w.Alias(join(field, "target_microservice"), join(field, "target_microservice_id"))
			}
		}
		c.TargetEndpoint = w.dataflowEnd(field, o, "target_endpoint")
		c.SourceEndpoint = w.dataflowEnd(field, o, "source_endpoint")
		c.Constraints = w.conConstraints(join(field, "con_constraints"), o.Get("con_constraints"))
	}
	return out
}

// dataflowEnd reads a field naming the other end of a dataflow. A value that
// is there but cannot be used (not a string, or "") is reported here, and
// the entry is marked partial: ValidateService, seeing no end at all, would
// report it a second time as missing.
func (w *walker) dataflowEnd(entry string, o *object, name string) string {
	v := o.Get(name)
	if v == nil {
		return ""
	}
	field := join(entry, name)
	s, ok := w.Str(field, v)
	if ok && s == "" {
		w.Addf(field, "must not be empty")
		ok = false
	}
	if !ok {
		w.MarkPartial(entry)
	}
	return s
}

func (w *walker) conConstraints(path string, v any) []api.ConConstraint {
	items, ok := w.List(path, v)
	if !ok || len(items) == 0 {
		return nil
	}
	out := make([]api.ConConstraint, len(items))
	for i, item := range items {
		field := index(path, i)
		o, ok := w.ObjectAt(field, item)
		if !ok {
			continue
		}
		w.CheckFields(field, o, conConstraintFields)
		c := &out[i]
		c.Type, _ = w.Str(join(field, "type"), o.Get("type"))
		c.Threshold = w.conThreshold(join(field, "threshold"), c.Type, o.Get("threshold"))
		// Oakestra's rigidness and convergence_time tune how eagerly it
		// re-places a service that misses the bound. Hedge places by the
		// bound alone; they are accepted, and only their type matters.
		w.Float(join(field, "rigidness"), o.Get("rigidness"))
		w.Float(join(field, "convergence_time"), o.Get("convergence_time"))
	}
	return out
}

// conThreshold reads a threshold: a number for either type, or for bandwidth
// also a quantity string ("5M", "100k", "10Mi"; the grammar of the topology's
// link bandwidths), converted to whole bit/s rounded up.
func (w *walker) conThreshold(field, typ string, v any) float64 {
	s, isString := v.(string)
	switch {
	case typ == api.ConBandwidth && isString:
		bps, err := topology.ParseBandwidth(strings.TrimSpace(s))
		if err != nil {
			w.Addf(field, "must be a number or a quantity such as \"5M\", \"100k\" or \"10Mi\" (bit/s): %s", err)
			return 0
		}
		return float64(bps)
	case typ == api.ConBandwidth:
		if _, isNumber := v.(number); v != nil && !isNumber {
			w.Addf(field, "must be a number or a quantity such as \"5M\", \"100k\" or \"10Mi\" (bit/s), got %s", describe(v))
			return 0
		}
	case isString && typ != api.ConLatency:
		// Without a known type the text means nothing; ValidateService
		// reports the type.
		return 0
	}
	f, _ := w.Float(field, v)
	return f
}

// dataflowEndOf returns which end an entry names and its id: the first of
// target_microservice, target_endpoint and source_endpoint that is set, or
// "" if none is.
func dataflowEndOf(c api.Connectivity) (field, id string) {
	switch {
	case c.TargetMicroservice != "":
		return "target_microservice", c.TargetMicroservice
	case c.TargetEndpoint != "":
		return "target_endpoint", c.TargetEndpoint
	case c.SourceEndpoint != "":
		return "source_endpoint", c.SourceEndpoint
	}
	return "", ""
}

// connectivity checks a service's dataflows as far as the service alone
// tells: one end each, not the service itself, no end twice, and the
// con_constraints. ValidateConnectivity checks them against the application.
func (v *checker) connectivity(s *api.ServiceSpec) {
	type end struct{ field, id string }
	seen := map[end]int{}
	for i, c := range s.Connectivity {
		field := index("connectivity", i)
		name, id := dataflowEndOf(c)
		for _, other := range []struct{ name, id string }{
			{"target_endpoint", c.TargetEndpoint},
			{"source_endpoint", c.SourceEndpoint},
		} {
			if other.id != "" && other.name != name {
				v.addf(field+"."+other.name, "not allowed together with %s: a dataflow has exactly one of target_microservice, target_endpoint or source_endpoint", name)
			}
		}
		before := len(v.problems)
		switch name {
		case "":
			v.addf(field, "needs one of target_microservice, target_endpoint or source_endpoint")
		case "target_microservice":
			if msg := checkName(id); msg != "" {
				v.addf(field+"."+name, "%s", msg)
			} else if id == s.Name {
				v.addf(field+"."+name, "must name another microservice, not %s itself", quote(id))
			}
		default:
			if strings.TrimSpace(id) == "" {
				v.addf(field+"."+name, "must not be blank")
			}
		}
		if len(v.problems) == before && name != "" {
			if j, dup := seen[end{name, id}]; dup {
				v.addf(field+"."+name, "duplicate dataflow %s (also connectivity[%d])", describeEnd(name, id), j)
			} else {
				seen[end{name, id}] = i
			}
		}
		v.conConstraints(field, c.Constraints)
	}
}

func describeEnd(field, id string) string {
	switch field {
	case "target_microservice":
		return "to microservice " + quote(id)
	case "target_endpoint":
		return "to endpoint " + quote(id)
	}
	return "from endpoint " + quote(id)
}

func (v *checker) conConstraints(entry string, cs []api.ConConstraint) {
	seen := map[string]int{}
	for j, c := range cs {
		field := entry + "." + index("con_constraints", j)
		switch c.Type {
		case "":
			v.addf(field+".type", "required (latency or bandwidth)")
			continue
		case api.ConLatency:
			v.bounded(field+".threshold", c.Threshold, maxConLatencyMS, "milliseconds")
		case api.ConBandwidth:
			v.bounded(field+".threshold", c.Threshold, maxConBandwidth, "bit/s")
		default:
			v.addf(field+".type", "unknown connectivity constraint type %s; want latency or bandwidth", quote(c.Type))
			continue
		}
		if k, dup := seen[c.Type]; dup {
			v.addf(field+".type", "duplicate %s constraint (also con_constraints[%d])", c.Type, k)
		} else {
			seen[c.Type] = j
		}
	}
}

// bounded checks a threshold that must be > 0 and at most upper.
func (v *checker) bounded(field string, f, upper float64, unit string) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		v.threshold(field, f, unit)
		return
	}
	if f > upper {
		v.addf(field, "must be <= %s (%s), got %s", formatFloat(upper), unit, formatFloat(f))
	}
}

// ValidateConnectivity checks what ValidateService cannot see in one
// service: that every target_microservice names a microservice of services,
// and that the dataflows, through microservices and external endpoints
// alike, form no cycle (an application with dataflows is placed as a whole,
// which needs an acyclic graph). services are all the microservices of one
// application, each already checked by ValidateService; path is the
// application's ("applications[0]", or "" for none): services[i] is at
// path.microservices[i], and a cycle is reported at path itself.
func ValidateConnectivity(path string, services []api.ServiceSpec) []Problem {
	fields := make([]string, len(services))
	for i := range services {
		fields[i] = index(join(path, "microservices"), i)
	}
	return checkDataflows(path, fields, services, true)
}

// checkDataflows is ValidateConnectivity with the path of each service given
// (fields[i] is services[i]'s). When complete is false, services are only
// some of the application's (microservices added to an existing one), so a
// target_microservice not among them is not reported: it may exist.
func checkDataflows(app string, fields []string, services []api.ServiceSpec, complete bool) []Problem {
	var problems []Problem
	g := newDataflowGraph()
	var names []string
	for _, s := range services {
		if s.Name != "" && !g.has(microserviceNode(s.Name)) {
			g.node(microserviceNode(s.Name), s.Name)
			names = append(names, s.Name)
		}
	}
	// A suggestion costs an edit distance per name; a hostile descriptor
	// with thousands of names and targets must not make that quadratic.
	suggest := 0
	if len(names) <= maxSuggestNames {
		suggest = maxProblems
	}
	for i, s := range services {
		for j, c := range s.Connectivity {
			field, id := dataflowEndOf(c)
			switch {
			case field == "target_microservice":
				// Invalid names and the service itself are ValidateService's.
				if checkName(id) != "" || id == s.Name {
					continue
				}
				if !g.has(microserviceNode(id)) {
					if complete {
						msg := fmt.Sprintf("no microservice named %s in this application", quote(id))
						if suggest > 0 {
							suggest--
							if guess := closest(id, names); guess != "" {
								msg += fmt.Sprintf(" (did you mean %q?)", guess)
							}
						}
						problems = append(problems, Problem{
							Field:   join(index(join(fields[i], "connectivity"), j), field),
							Message: msg,
						})
					}
					continue
				}
				if s.Name != "" {
					g.edge(g.node(microserviceNode(s.Name), s.Name), g.node(microserviceNode(id), id))
				}
			case field == "" || s.Name == "" || strings.TrimSpace(id) == "":
			case field == "target_endpoint":
				g.edge(g.node(microserviceNode(s.Name), s.Name), g.node(endpointNode(id), "endpoint "+quote(id)))
			case field == "source_endpoint":
				g.edge(g.node(endpointNode(id), "endpoint "+quote(id)), g.node(microserviceNode(s.Name), s.Name))
			}
		}
	}
	for _, cycle := range g.cycles(maxCycles) {
		problems = append(problems, Problem{
			Field:   app,
			Message: fmt.Sprintf("connectivity forms a cycle %s; the dataflows of an application must be acyclic to place it as a whole", formatCycle(cycle)),
		})
	}
	return problems
}

// Graph nodes are keyed by kind and id: a microservice and an endpoint may
// share a name.
func microserviceNode(name string) string { return "m\x00" + name }
func endpointNode(id string) string       { return "e\x00" + id }

// dataflowGraph is an application's dataflows over its microservices and the
// external endpoints they name, nodes in the order they first appear, so that
// the same cycles are reported every time.
type dataflowGraph struct {
	labels []string
	index  map[string]int
	succ   [][]int
	edges  map[[2]int]bool
}

func newDataflowGraph() *dataflowGraph {
	return &dataflowGraph{index: map[string]int{}, edges: map[[2]int]bool{}}
}

func (g *dataflowGraph) has(key string) bool {
	_, ok := g.index[key]
	return ok
}

// node returns the node of key, adding it with label if it is new.
func (g *dataflowGraph) node(key, label string) int {
	if i, ok := g.index[key]; ok {
		return i
	}
	g.index[key] = len(g.labels)
	g.labels = append(g.labels, fieldpath.Shorten(label))
	g.succ = append(g.succ, nil)
	return len(g.labels) - 1
}

// edge adds the edge a -> b, once.
func (g *dataflowGraph) edge(a, b int) {
	if !g.edges[[2]int{a, b}] {
		g.edges[[2]int{a, b}] = true
		g.succ[a] = append(g.succ[a], b)
	}
}

// cycles returns up to limit cycles, each as labels with the first
// repeated at the end (topology.Cycles).
func (g *dataflowGraph) cycles(limit int) [][]string {
	var out [][]string
	for _, c := range topology.Cycles(g.succ, limit) {
		names := make([]string, len(c))
		for i, v := range c {
			names[i] = g.labels[v]
		}
		out = append(out, names)
	}
	return out
}

// formatCycle renders "a -> b -> a", eliding the middle of a long cycle.
func formatCycle(cycle []string) string {
	if len(cycle) > maxCycleNames {
		more := len(cycle) - maxCycleNames
		head := cycle[:maxCycleNames-1]
		return strings.Join(head, " -> ") + fmt.Sprintf(" -> ... (%d more) -> ", more) + cycle[len(cycle)-1]
	}
	return strings.Join(cycle, " -> ")
}
