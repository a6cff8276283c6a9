package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/placement"
	"github.com/hedgeorch/hedge/internal/topology"
)

// mib is the unit memory is checked in: requests are rounded up to whole MiB
// and free memory down, as api.Resources and the placement filters count it.
const mib = 1 << 20

// problem is one application on one topology, reduced to what both methods
// search over: for every microservice the regions it may go to (its domain)
// and the nodes there that can take a replica, and the dataflows between
// microservices and fixed ends. Indexes are into topo.Regions(), topo.Links()
// and topo.Nodes().
type problem struct {
	topo    *topology.Topology
	app     *topology.FADepl
	w       Weights
	regions []*topology.Region
	links   []*topology.Link
	nodes   []*topology.Node

	// free is each link's free bandwidth once the previous placement of this
	// application is released and flows between two fixed ends are placed.
	free []int64
	// freeCPU (millicores) and freeMem (MiB) per node.
	freeCPU, freeMem []int64
	// candidates are the nodes as the placement filters see them.
	candidates []placement.Candidate
	// regionNodes lists the node indexes of each region, by name.
	regionNodes [][]int

	svcs  []*service
	flows []*flow
	// fixedLoad is what flows between two fixed ends use, per link.
	fixedLoad map[int]int64
	fixedNet  int64 // their network cost (unweighted)
	fixedLat  int64 // their latency, µs
}

// service is one microservice as placement sees it.
type service struct {
	name     string
	replicas int
	image    string
	memBytes int64
	memMiB   int64
	// cpu is one replica's millicores per region index; -1 where it cannot
	// be computed (MIPS asked, region without cpu2mips).
	cpu []int64
	// domain lists the region indexes the microservice may go to, in
	// preference order (tier descending, i.e. edge first, then id).
	domain []int
	// nodes[r] are the node indexes of region r that can hold one replica
	// now, by name; set for the regions of the domain.
	nodes map[int][]int
	// flows are the indexes of the dataflows touching this microservice.
	flows []int
}

// end is one end of a dataflow: a microservice, or a fixed region (an
// external endpoint).
type end struct {
	svc    int // microservice index, -1 for a fixed end
	region int // region index of a fixed end
	id     string
}

// flow is one dataflow.
type flow struct {
	name     string
	src, dst end
	bw       int64 // bit/s
	kbit     int64 // ceil(bw/1000), the unit of the network cost
	maxLat   int64 // µs; 0 means no bound
	latBound float64
}

// other returns the end of f that is not microservice s.
func (f *flow) other(s int) end {
	if f.src.svc == s {
		return f.dst
	}
	return f.src
}

// hop is a route between two regions checked against one dataflow.
type hop struct {
	links   []int
	latency int64 // µs
}

// route returns the route from region a to region b if it meets f's latency
// bound and every link on it has at least f's bandwidth free in free.
func (p *problem) route(f *flow, a, b int, free []int64) (hop, bool) {
	links, lat, ok := p.topo.Route(a, b)
	if !ok || (f.maxLat > 0 && lat > f.maxLat) {
		return hop{}, false
	}
	for _, l := range links {
		if free[l] < f.bw {
			return hop{}, false
		}
	}
	return hop{links, lat}, true
}

// netCost is the weighted network cost of f over a route of hops links.
func (p *problem) netCost(f *flow, hops int) int64 { return p.w.Network * f.kbit * int64(hops) }

// computeCost is the weighted compute cost of service s in region r.
func (p *problem) computeCost(s int, r int) int64 {
	sv := p.svcs[s]
	return p.w.Compute * int64(sv.replicas) * sv.cpu[r]
}

// newProblem builds the problem and prunes the domains. A non-empty failure
// is the reason the application cannot be placed, found without searching.
func newProblem(topo *topology.Topology, app *topology.FADepl, w Weights, prev *Result) (p *problem, failure string, err error) {
	p = &problem{
		topo: topo, app: app, w: w,
		regions: topo.Regions(), links: topo.Links(), nodes: topo.Nodes(),
		fixedLoad: make(map[int]int64),
	}
	p.free = make([]int64, len(p.links))
	for i, l := range p.links {
		p.free[i] = l.Free()
	}
	if prev != nil {
		for _, o := range prev.LinksOccupancy {
			if i, ok := topo.LinkIndex(o.LinkID); ok {
				p.free[i] = min(p.free[i]+o.BWAllocated, p.links[i].Bandwidth)
			}
		}
	}
	p.freeCPU = make([]int64, len(p.nodes))
	p.freeMem = make([]int64, len(p.nodes))
	p.candidates = make([]placement.Candidate, len(p.nodes))
	p.regionNodes = make([][]int, len(p.regions))
	for i, n := range p.nodes {
		p.freeCPU[i] = n.FreeCPUMillis()
		p.freeMem[i] = n.FreeMemoryBytes() / mib
		free := api.Resources{VCPUs: float64(p.freeCPU[i]) / 1000, MemoryMB: p.freeMem[i]}
		p.candidates[i] = placement.Candidate{ID: n.Name, Name: n.Name, Ready: true, Labels: n.Labels,
			Capacity: api.Resources{VCPUs: float64(n.CPUMillis) / 1000, MemoryMB: n.MemoryBytes / mib}, Free: free, MaxNodeFree: free}
		r, _ := topo.RegionIndex(n.Region)
		p.regionNodes[r] = append(p.regionNodes[r], i)
	}

	index := make(map[string]int, len(app.Microservices))
	for i := range app.Microservices {
		index[app.Microservices[i].Name] = i
	}
	for i := range app.Microservices {
		sv, fail, err := p.newService(&app.Microservices[i])
		if err != nil || fail != "" {
			return nil, fail, err
		}
		p.svcs = append(p.svcs, sv)
	}
	for _, df := range app.Dataflows {
		f := &flow{
			name: df.String(), bw: df.BandwidthRequired, kbit: (df.BandwidthRequired + 999) / 1000,
			maxLat: topology.Micros(df.Latency), latBound: df.Latency,
		}
		for _, e := range []struct {
			id  string
			end *end
		}{{df.SourceID, &f.src}, {df.DestinationID, &f.dst}} {
			e.end.id = e.id
			if s, ok := index[e.id]; ok {
				e.end.svc = s
				continue
			}
			ep, ok := topo.Endpoint(e.id)
			if !ok {
				return nil, fmt.Sprintf("dataflow %s: external endpoint %s is not in the topology", f.name, e.id), nil
			}
			e.end.svc = -1
			e.end.region, _ = topo.RegionIndex(ep.RegionID)
		}
		if f.src.svc < 0 && f.dst.svc < 0 {
			h, ok := p.route(f, f.src.region, f.dst.region, p.free)
			if !ok {
				return nil, fmt.Sprintf("dataflow %s: %s", f.name, p.noRouteBetween(f, f.src.region, f.dst.region)), nil
			}
			for _, l := range h.links {
				p.free[l] -= f.bw
				p.fixedLoad[l] += f.bw
			}
			p.fixedNet += f.kbit * int64(len(h.links))
			p.fixedLat += h.latency
			continue
		}
		fi := len(p.flows)
		p.flows = append(p.flows, f)
		for _, s := range []int{f.src.svc, f.dst.svc} {
			if s >= 0 {
				p.svcs[s].flows = append(p.svcs[s].flows, fi)
			}
		}
	}
	return p, p.prune(), nil
}

// newService computes a microservice's demand and domain: the regions where
// one of the nodes can hold a replica (cpu after MIPS conversion, memory,
// nodeSelector), restricted to its required region.
func (p *problem) newService(m *topology.Microservice) (*service, string, error) {
	sv := &service{
		name:     m.Name,
		replicas: m.Deployment.Replicas,
		image:    m.Deployment.Image(),
		memBytes: m.Deployment.MemoryBytes(),
		cpu:      make([]int64, len(p.regions)),
		nodes:    make(map[int][]int),
	}
	sv.memMiB = (sv.memBytes + mib - 1) / mib
	candidates := make([]int, len(p.regions))
	for i := range candidates {
		candidates[i] = i
	}
	switch len(m.Regions) {
	case 0:
	case 1:
		want := m.Regions[0]
		r, ok := p.topo.RegionIndex(want.RegionRequired)
		if !ok {
			return nil, fmt.Sprintf("microservice %s: required region %s does not exist", m.Name, want.RegionRequired), nil
		}
		candidates = []int{r}
		if want.Replicas > 0 {
			sv.replicas = want.Replicas
		}
		if want.Image != "" {
			sv.image = want.Image
		}
	default:
		return nil, "", fmt.Errorf("%w: microservice %s: algorithm %s accepts at most one regionrequired, got %d (use Silly to place in several)",
			ErrInvalid, m.Name, p.app.Algorithm, len(m.Regions))
	}
	for r, reg := range p.regions {
		switch {
		case m.MIPSRequired == 0:
			sv.cpu[r] = m.Deployment.CPUMillis()
		case reg.CPU2MIPS <= 0:
			sv.cpu[r] = -1
		default:
			// millicores = mips / (cpu2mips/1000), rounded up.
			sv.cpu[r] = (m.MIPSRequired*1000 + reg.CPU2MIPS - 1) / reg.CPU2MIPS
		}
	}

	filters := []placement.FilterPlugin{placement.ResourcesFit{Level: placement.LevelCluster}, NewNodeSelector(m.Deployment.NodeSelector)}
	req := &placement.Request{ServiceID: m.Name}
	for _, r := range candidates {
		if sv.cpu[r] < 0 {
			continue
		}
		req.Demand = api.Resources{VCPUs: float64(sv.cpu[r]) / 1000, MemoryMB: sv.memMiB}
		fit := p.fittingNodes(req, r, filters, nil)
		if len(fit) == 0 || p.replicasFit(sv, r, fit) < sv.replicas {
			continue
		}
		sv.domain = append(sv.domain, r)
		sv.nodes[r] = fit
	}
	if len(sv.domain) == 0 {
		// Explain, region by region; only now, since it costs more.
		var why []string
		for _, r := range candidates {
			reg := p.regions[r]
			if sv.cpu[r] < 0 {
				why = append(why, fmt.Sprintf("%s: no cpu2mips to convert %d MIPS", reg.ID, m.MIPSRequired))
				continue
			}
			req.Demand = api.Resources{VCPUs: float64(sv.cpu[r]) / 1000, MemoryMB: sv.memMiB}
			diag := placement.Diagnosis{Level: placement.LevelCluster}
			fit := p.fittingNodes(req, r, filters, &diag)
			switch {
			case diag.Total == 0:
				why = append(why, reg.ID+": no nodes")
			case len(fit) == 0:
				why = append(why, reg.ID+": "+diag.String())
			default:
				why = append(why, fmt.Sprintf("%s: its nodes hold %d of %d replicas", reg.ID, p.replicasFit(sv, r, fit), sv.replicas))
			}
		}
		return nil, fmt.Sprintf("microservice %s (cpu %s, memory %s): no region has a node that can hold it: %s",
			m.Name, cpuText(sv, candidates), topology.FormatBytes(sv.memBytes), summarise(why, 4)), nil
	}
	slices.SortStableFunc(sv.domain, func(a, b int) int { return cmp.Compare(p.regions[b].Tier, p.regions[a].Tier) })
	return sv, "", nil
}

// replicasFit returns how many replicas of sv the nodes of region r can hold
// together, at most sv.replicas: replicas are identical, so each node holds
// as many as fit in both its free cpu and its free memory.
func (p *problem) replicasFit(sv *service, r int, nodes []int) int {
	held := 0
	for _, n := range nodes {
		held += p.replicasOn(sv, r, n)
		if held >= sv.replicas {
			return sv.replicas
		}
	}
	return held
}

// replicasOn returns how many replicas of sv node n (in region r) can hold
// alone, at most sv.replicas.
func (p *problem) replicasOn(sv *service, r, n int) int {
	most := int64(sv.replicas)
	if cpu := sv.cpu[r]; cpu > 0 {
		most = min(most, p.freeCPU[n]/cpu)
	}
	if sv.memMiB > 0 {
		most = min(most, p.freeMem[n]/sv.memMiB)
	}
	return int(most)
}

// fittingNodes runs the placement filters on the nodes of region r and
// returns those that pass, by name. With diag it also counts the
// rejections ("0/2 nodes available: 1 insufficient memory, ...").
func (p *problem) fittingNodes(req *placement.Request, r int, filters []placement.FilterPlugin, diag *placement.Diagnosis) []int {
	var fit []int
	for _, n := range p.regionNodes[r] {
		c := &p.candidates[n]
		var rejected *placement.Status
		for _, f := range filters {
			if st := f.Filter(context.Background(), req, c); !st.IsSuccess() {
				rejected = st
				break
			}
		}
		if diag != nil {
			diag.Total++
			if rejected != nil {
				if diag.Rejected == nil {
					diag.Rejected = make(map[string]int)
				}
				diag.Rejected[rejected.Reason]++
			}
		}
		if rejected == nil {
			fit = append(fit, n)
		}
	}
	return fit
}

// prune removes from every domain the regions that cannot meet some
// dataflow on its own (latency bound, bandwidth free on every link of the
// route) whatever the other microservices do, until nothing changes (arc
// consistency). It returns the reason when a domain becomes empty: no
// placement exists then.
func (p *problem) prune() string {
	queue := make([]int, len(p.flows))
	for i := range queue {
		queue[i] = i
	}
	queued := make([]bool, len(p.flows))
	for i := range queued {
		queued[i] = true
	}
	for len(queue) > 0 {
		fi := queue[0]
		queue = queue[1:]
		queued[fi] = false
		f := p.flows[fi]
		for _, side := range []end{f.src, f.dst} {
			if side.svc < 0 {
				continue
			}
			sv := p.svcs[side.svc]
			other := f.other(side.svc)
			kept := sv.domain[:0:0]
			for _, r := range sv.domain {
				if p.supported(f, side.svc, r, other) {
					kept = append(kept, r)
				}
			}
			if len(kept) == len(sv.domain) {
				continue
			}
			if len(kept) == 0 {
				return p.noSupport(f, side.svc, other)
			}
			sv.domain = kept
			for _, g := range sv.flows {
				if !queued[g] {
					queued[g] = true
					queue = append(queue, g)
				}
			}
		}
	}
	return ""
}

// supported reports whether microservice s in region r can meet f with
// some region of the other end.
func (p *problem) supported(f *flow, s, r int, other end) bool {
	if other.svc < 0 {
		_, ok := p.routeOriented(f, s, r, other.region, p.free)
		return ok
	}
	for _, o := range p.svcs[other.svc].domain {
		if _, ok := p.routeOriented(f, s, r, o, p.free); ok {
			return true
		}
	}
	return false
}

// routeOriented is route with the regions in the dataflow's direction, given
// that microservice s is in region r and the other end in region o.
func (p *problem) routeOriented(f *flow, s, r, o int, free []int64) (hop, bool) {
	if f.src.svc == s {
		return p.route(f, r, o, free)
	}
	return p.route(f, o, r, free)
}

// noSupport words the failure of a dataflow that no region of microservice s
// can meet: "dataflow cam1->driver1: no region within 20 ms of region 003-003
// with 5M free bandwidth".
func (p *problem) noSupport(f *flow, s int, other end) string {
	var what []string
	if f.maxLat > 0 {
		what = append(what, fmt.Sprintf("within %s ms", trimFloat(f.latBound)))
	} else {
		what = append(what, "reachable")
	}
	if other.svc < 0 {
		what = append(what, "of region "+p.regions[other.region].ID)
	} else {
		what = append(what, "of any region left for "+other.id)
	}
	if f.bw > 0 {
		what = append(what, "with "+topology.FormatBandwidth(f.bw)+" free bandwidth")
	}
	subject := "no region"
	switch {
	case len(p.app.Microservices[s].Regions) == 1:
		subject = "required region " + p.app.Microservices[s].Regions[0].RegionRequired + " is not"
	case other.svc >= 0:
		subject = "no region for " + p.svcs[s].name
	}
	return fmt.Sprintf("dataflow %s: %s %s", f.name, subject, strings.Join(what, " "))
}

// noRouteBetween words why a dataflow between two fixed regions fails.
func (p *problem) noRouteBetween(f *flow, a, b int) string {
	links, lat, ok := p.topo.Route(a, b)
	switch {
	case !ok:
		return fmt.Sprintf("region %s cannot reach region %s", p.regions[a].ID, p.regions[b].ID)
	case f.maxLat > 0 && lat > f.maxLat:
		return fmt.Sprintf("regions %s and %s are %s ms apart, more than %s ms", p.regions[a].ID, p.regions[b].ID,
			trimFloat(float64(lat)/1000), trimFloat(f.latBound))
	}
	for _, l := range links {
		if p.free[l] < f.bw {
			return fmt.Sprintf("link %s has %s free bandwidth, less than %s", p.links[l].ID,
				topology.FormatBandwidth(p.free[l]), topology.FormatBandwidth(f.bw))
		}
	}
	return "no route"
}

func trimFloat(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%.3f", v), ".000") }

// cpuText renders a microservice's cpu request: one figure, or a range
// when MIPS make it differ by region.
func cpuText(sv *service, regions []int) string {
	lo, hi := int64(-1), int64(-1)
	for _, r := range regions {
		c := sv.cpu[r]
		if c < 0 {
			continue
		}
		if lo < 0 || c < lo {
			lo = c
		}
		if c > hi {
			hi = c
		}
	}
	switch {
	case lo < 0:
		return "unknown"
	case lo == hi:
		return topology.FormatMilliCPU(lo)
	default:
		return topology.FormatMilliCPU(lo) + ".." + topology.FormatMilliCPU(hi)
	}
}

// summarise joins reasons, keeping the first max and counting the rest.
func summarise(reasons []string, max int) string {
	if len(reasons) <= max {
		return strings.Join(reasons, "; ")
	}
	return strings.Join(reasons[:max], "; ") + fmt.Sprintf("; and %d more regions", len(reasons)-max)
}
