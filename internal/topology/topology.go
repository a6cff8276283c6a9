package topology

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"slices"
)

// Topology is the infrastructure placement works on: regions, the links
// between them, the external endpoints attached to them and the nodes that
// give them capacity. It is immutable once built and safe for concurrent use;
// placement works on its own copy of what it allocates.
type Topology struct {
	regions   []*Region // by ID
	links     []*Link   // by ID
	endpoints []*ExternalEndpoint
	nodes     []*Node // by Name

	regionIdx map[string]int
	linkIdx   map[string]int
	endpoint  map[string]*ExternalEndpoint
	byRegion  [][]*Node // nodes per region index, by Name

	// routes[a][b] is the chosen path from region a to region b (indexes);
	// routes[a][b].ok is false when b cannot be reached from a.
	routes [][]route
}

// route is a path between two regions in region and link indexes.
type route struct {
	ok      bool
	latency int64 // µs
	links   []int
}

// Path is the route traffic takes from one region to another: the lowest
// total latency, then the fewest hops, then the lexicographically smallest
// sequence of link ids, so that the same topology always routes the same way.
// Only links that are up carry traffic.
type Path struct {
	From, To string
	// Links are the link ids along the path, From to To; empty within a
	// region.
	Links []string
	// Latency is the sum of the links' latencies in milliseconds.
	Latency float64
	// LatencyMicros is the same sum in whole microseconds, exact.
	LatencyMicros int64
}

// Hops returns the number of links on the path.
func (p Path) Hops() int { return len(p.Links) }

// Build assembles a topology from parsed objects. FADepl objects are ignored
// (an application is placed on a topology, it is not part of it). Build checks
// what ParseDocuments cannot see alone: ids unique per kind, and every link,
// endpoint and node naming an existing region. The error wraps ErrInvalid.
func Build(objs []Object) (*Topology, error) {
	t := &Topology{
		regionIdx: make(map[string]int),
		linkIdx:   make(map[string]int),
		endpoint:  make(map[string]*ExternalEndpoint),
	}
	var errs []error
	dup := func(kind, id string) {
		errs = append(errs, fmt.Errorf("%w: duplicate %s %q", ErrInvalid, kind, id))
	}
	nodeNames := make(map[string]bool)
	for _, o := range objs {
		switch o := o.(type) {
		case *Region:
			if _, ok := t.regionIdx[o.ID]; ok {
				dup(KindRegion, o.ID)
				continue
			}
			t.regionIdx[o.ID] = -1
			t.regions = append(t.regions, o)
		case *Link:
			if _, ok := t.linkIdx[o.ID]; ok {
				dup(KindLink, o.ID)
				continue
			}
			t.linkIdx[o.ID] = -1
			t.links = append(t.links, o)
		case *ExternalEndpoint:
			if _, ok := t.endpoint[o.ID]; ok {
				dup(KindExternalEndpoint, o.ID)
				continue
			}
			t.endpoint[o.ID] = o
			t.endpoints = append(t.endpoints, o)
		case *Node:
			if nodeNames[o.Name] {
				dup(KindNode, o.Name)
				continue
			}
			nodeNames[o.Name] = true
			t.nodes = append(t.nodes, o)
		case *FADepl, nil:
		default:
			errs = append(errs, fmt.Errorf("%w: unexpected object of kind %s", ErrInvalid, o.Kind()))
		}
	}
	slices.SortFunc(t.regions, func(a, b *Region) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(t.links, func(a, b *Link) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(t.endpoints, func(a, b *ExternalEndpoint) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(t.nodes, func(a, b *Node) int { return cmp.Compare(a.Name, b.Name) })
	for i, r := range t.regions {
		t.regionIdx[r.ID] = i
	}
	for i, l := range t.links {
		t.linkIdx[l.ID] = i
		for _, end := range []string{l.EndpointA, l.EndpointB} {
			if _, ok := t.regionIdx[end]; !ok {
				errs = append(errs, fmt.Errorf("%w: link %s: endpoint %q names no region", ErrInvalid, l.ID, end))
			}
		}
	}
	for _, e := range t.endpoints {
		if _, ok := t.regionIdx[e.RegionID]; !ok {
			errs = append(errs, fmt.Errorf("%w: external endpoint %s: regionid %q names no region", ErrInvalid, e.ID, e.RegionID))
		}
	}
	t.byRegion = make([][]*Node, len(t.regions))
	for _, n := range t.nodes {
		i, ok := t.regionIdx[n.Region]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: node %s: label region=%q names no region", ErrInvalid, n.Name, n.Region))
			continue
		}
		t.byRegion[i] = append(t.byRegion[i], n)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.routes = t.allRoutes()
	return t, nil
}

// Regions returns the regions ordered by id. The slice must not be modified.
func (t *Topology) Regions() []*Region { return t.regions }

// Region returns the region with id.
func (t *Topology) Region(id string) (*Region, bool) {
	i, ok := t.regionIdx[id]
	if !ok {
		return nil, false
	}
	return t.regions[i], true
}

// Links returns the links ordered by id. The slice must not be modified.
func (t *Topology) Links() []*Link { return t.links }

// Link returns the link with id.
func (t *Topology) Link(id string) (*Link, bool) {
	i, ok := t.linkIdx[id]
	if !ok {
		return nil, false
	}
	return t.links[i], true
}

// FreeBandwidth returns the bandwidth of link id not yet allocated, in bit/s,
// and false for an unknown link.
func (t *Topology) FreeBandwidth(id string) (int64, bool) {
	l, ok := t.Link(id)
	if !ok {
		return 0, false
	}
	return l.Free(), true
}

// Endpoints returns the external endpoints ordered by id.
func (t *Topology) Endpoints() []*ExternalEndpoint { return t.endpoints }

// Endpoint returns the external endpoint with id.
func (t *Topology) Endpoint(id string) (*ExternalEndpoint, bool) {
	e, ok := t.endpoint[id]
	return e, ok
}

// Nodes returns all nodes ordered by name.
func (t *Topology) Nodes() []*Node { return t.nodes }

// NodesIn returns the nodes of a region ordered by name.
func (t *Topology) NodesIn(region string) []*Node {
	i, ok := t.regionIdx[region]
	if !ok {
		return nil
	}
	return t.byRegion[i]
}

// Path returns the route from region from to region to, and false when
// either region is unknown or no chain of links that are up joins them.
// The path within one region has no links and zero latency.
func (t *Topology) Path(from, to string) (Path, bool) {
	a, okA := t.regionIdx[from]
	b, okB := t.regionIdx[to]
	if !okA || !okB || !t.routes[a][b].ok {
		return Path{}, false
	}
	r := t.routes[a][b]
	p := Path{From: from, To: to, LatencyMicros: r.latency, Latency: float64(r.latency) / 1000}
	for _, l := range r.links {
		p.Links = append(p.Links, t.links[l].ID)
	}
	return p, true
}

// RegionIndex returns the position of region id in Regions, for callers that
// keep per-region tables.
func (t *Topology) RegionIndex(id string) (int, bool) {
	i, ok := t.regionIdx[id]
	return i, ok
}

// LinkIndex returns the position of link id in Links.
func (t *Topology) LinkIndex(id string) (int, bool) {
	i, ok := t.linkIdx[id]
	return i, ok
}

// Route returns the path between regions by index (see RegionIndex) as link
// indexes, without allocating: placement calls it in its inner loops. The
// slice must not be modified.
func (t *Topology) Route(from, to int) (links []int, latencyMicros int64, ok bool) {
	r := t.routes[from][to]
	return r.links, r.latency, r.ok
}

// allRoutes runs Dijkstra from every region.
func (t *Topology) allRoutes() [][]route {
	type edge struct{ to, link int }
	adj := make([][]edge, len(t.regions))
	for i, l := range t.links {
		if !l.Up() {
			continue
		}
		a, b := t.regionIdx[l.EndpointA], t.regionIdx[l.EndpointB]
		adj[a] = append(adj[a], edge{b, i})
		adj[b] = append(adj[b], edge{a, i})
	}
	micros := make([]int64, len(t.links))
	for i, l := range t.links {
		micros[i] = Micros(l.Latency)
	}
	out := make([][]route, len(t.regions))
	for src := range t.regions {
		best := make([]route, len(t.regions))
		done := make([]bool, len(t.regions))
		best[src] = route{ok: true}
		q := &routeQueue{t: t, items: []queued{{region: src, r: best[src]}}}
		for q.Len() > 0 {
			cur := heap.Pop(q).(queued)
			if done[cur.region] {
				continue
			}
			done[cur.region] = true
			from := best[cur.region]
			for _, e := range adj[cur.region] {
				if done[e.to] {
					continue
				}
				cand := route{ok: true, latency: from.latency + micros[e.link], links: append(slices.Clone(from.links), e.link)}
				if !best[e.to].ok || t.lessRoute(cand, best[e.to]) {
					best[e.to] = cand
					heap.Push(q, queued{region: e.to, r: cand})
				}
			}
		}
		out[src] = best
	}
	return out
}

// lessRoute orders routes: lower latency, then fewer hops, then smaller link
// ids in sequence. The order is kept when both routes are extended by the same
// link, which is what lets Dijkstra find the least route under it.
func (t *Topology) lessRoute(a, b route) bool {
	if a.latency != b.latency {
		return a.latency < b.latency
	}
	if len(a.links) != len(b.links) {
		return len(a.links) < len(b.links)
	}
	for i := range a.links {
		if a.links[i] != b.links[i] {
			return a.links[i] < b.links[i] // links are sorted by id
		}
	}
	return false
}

// queued is a region waiting in Dijkstra's queue with the route it was
// reached by.
type queued struct {
	region int
	r      route
}

// routeQueue is a heap of queued regions under lessRoute.
type routeQueue struct {
	t     *Topology
	items []queued
}

func (q *routeQueue) Len() int           { return len(q.items) }
func (q *routeQueue) Less(i, j int) bool { return q.t.lessRoute(q.items[i].r, q.items[j].r) }
func (q *routeQueue) Swap(i, j int)      { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *routeQueue) Push(x any)         { q.items = append(q.items, x.(queued)) }
func (q *routeQueue) Pop() any {
	x := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return x
}
