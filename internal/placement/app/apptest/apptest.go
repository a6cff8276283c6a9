// Package apptest builds whole-application placement problems for
// benchmarks: the same instance for a given seed, so that the package's
// benchmarks and the bench harness (go run ./bench -scenario placement)
// measure the same thing.
package apptest

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/hedgeorch/hedge/internal/topology"
)

// DAGInstance builds a fog topology of about nRegions regions and a layered
// DAG of nServices microservices, the same for a given seed; it is
// internal/placement/app's benchmark instance (benchInstance):
//
//   - tier 0: a few cloud regions, meshed, 1G links of 20-40 ms;
//   - tier 1: a quarter of the rest, each linked to a cloud region (100M,
//     10-30 ms) and to its neighbour (50M, 5-15 ms);
//   - tier 2: the remaining edge regions, each linked to a tier-1 region
//     (20M, 2-10 ms); cameras and sensors sit there;
//   - 1-3 nodes per region, small at the edge, big in the cloud, a few
//     cloud nodes with a GPU;
//   - microservices in layers: drivers fed by a camera each (5M within
//     20-40 ms), then processors each reading 1-3 drivers (500k, 100 ms),
//     aggregators, and a sink that feeds a cloud endpoint; some ask for MIPS,
//     one for a GPU.
func DAGInstance(nRegions, nServices int, seed uint64) (*topology.Topology, *topology.FADepl, error) {
	if nRegions < 3 || nServices < 2 {
		return nil, nil, errors.New("DAG instance: want at least 3 regions and 2 microservices")
	}
	rng := rand.New(rand.NewPCG(seed, uint64(nRegions*1000+nServices)))
	var objs []topology.Object
	nCloud := max(1, nRegions/25)
	nMid := max(1, (nRegions-nCloud)/4)
	nEdge := max(1, nRegions-nCloud-nMid)
	var cloud, mid, edge []string
	addRegion := func(tier int, list *[]string) {
		id := fmt.Sprintf("t%d-%03d", tier, len(*list))
		*list = append(*list, id)
		objs = append(objs, &topology.Region{ID: id, Tier: tier, CPU2MIPS: []int64{50000, 30000, 5000}[tier]})
		nodes := 1 + rng.IntN(3)
		for j := range nodes {
			n := &topology.Node{Name: fmt.Sprintf("%s-n%d", id, j), Region: id, Labels: map[string]string{"region": id}}
			switch tier {
			case 0:
				n.CPUMillis, n.MemoryBytes = 32000, 128<<30
				if j == 0 && (len(*list) == 1 || rng.IntN(2) == 0) {
					n.Labels["accelerator"] = "gpu"
				}
			case 1:
				n.CPUMillis, n.MemoryBytes = 8000, 16<<30
			default:
				n.CPUMillis, n.MemoryBytes = int64(1000+1000*rng.IntN(3)), int64(1+rng.IntN(4))<<30
			}
			n.AllocatedCPUMillis = n.CPUMillis * int64(rng.IntN(50)) / 100
			objs = append(objs, n)
		}
	}
	for range nCloud {
		addRegion(0, &cloud)
	}
	for range nMid {
		addRegion(1, &mid)
	}
	for range nEdge {
		addRegion(2, &edge)
	}
	links := 0
	addLink := func(a, b string, bw int64, lat float64) {
		links++
		objs = append(objs, &topology.Link{ID: fmt.Sprintf("l%04d", links), EndpointA: a, EndpointB: b, Bandwidth: bw,
			BWAllocated: bw * int64(rng.IntN(40)) / 100, Latency: lat, Status: topology.LinkUp})
	}
	for i := range cloud {
		for j := i + 1; j < len(cloud); j++ {
			addLink(cloud[i], cloud[j], 1_000_000_000, float64(20+rng.IntN(21)))
		}
	}
	for i, m := range mid {
		addLink(m, cloud[i%len(cloud)], 100_000_000, float64(10+rng.IntN(21)))
		if i > 0 {
			addLink(m, mid[i-1], 50_000_000, float64(5+rng.IntN(11)))
		}
	}
	for i, e := range edge {
		addLink(e, mid[i%len(mid)], 20_000_000, float64(2+rng.IntN(9)))
	}

	fa := &topology.FADepl{Name: "bench", Algorithm: topology.AlgorithmDAG}
	dataflow := func(src, dst string, bw int64, latency float64) {
		fa.Dataflows = append(fa.Dataflows, topology.Dataflow{SourceID: src, DestinationID: dst, BandwidthRequired: bw, Latency: latency})
	}
	nDrivers := max(1, nServices*2/5)
	nProc := max(1, nServices*3/10)
	nAgg := max(0, nServices-nDrivers-nProc-1)
	add := func(name string, cpuMillis, memMiB int64) *topology.Microservice {
		m := topology.Microservice{Name: name, Deployment: topology.Deployment{
			Replicas:   1,
			Containers: []topology.Container{{Name: name, Image: "img/" + name, CPUMillis: cpuMillis, MemoryBytes: memMiB << 20}},
		}}
		if rng.IntN(4) == 0 {
			m.MIPSRequired = int64(500 + rng.IntN(2000))
		}
		fa.Microservices = append(fa.Microservices, m)
		return &fa.Microservices[len(fa.Microservices)-1]
	}
	for i := range nDrivers {
		name := fmt.Sprintf("driver%02d", i)
		add(name, 100, 100)
		cam := fmt.Sprintf("cam%02d", i)
		objs = append(objs, &topology.ExternalEndpoint{ID: cam, RegionID: edge[rng.IntN(len(edge))]})
		fa.ExternalEndpoints = append(fa.ExternalEndpoints, cam)
		dataflow(cam, name, 5_000_000, float64(20+rng.IntN(21)))
	}
	for i := range nProc {
		name := fmt.Sprintf("proc%02d", i)
		add(name, 500, 512)
		for range 1 + rng.IntN(3) {
			dataflow(fmt.Sprintf("driver%02d", rng.IntN(nDrivers)), name, 500_000, 100)
		}
	}
	for i := range nAgg {
		name := fmt.Sprintf("agg%02d", i)
		add(name, 1000, 1024)
		for range 1 + rng.IntN(2) {
			dataflow(fmt.Sprintf("proc%02d", rng.IntN(nProc)), name, 200_000, 200)
		}
	}
	sink := add("sink", 2000, 4096)
	if nAgg > 0 {
		sink.Deployment.NodeSelector = map[string]string{"accelerator": "gpu"}
	}
	for i := range max(nAgg, 1) {
		from := fmt.Sprintf("agg%02d", i)
		if nAgg == 0 {
			from = "proc00"
		}
		dataflow(from, "sink", 100_000, 500)
	}
	objs = append(objs, &topology.ExternalEndpoint{ID: "dashboard", RegionID: cloud[0]})
	fa.ExternalEndpoints = append(fa.ExternalEndpoints, "dashboard")
	dataflow("sink", "dashboard", 100_000, 0)

	topo, err := topology.Build(objs)
	if err != nil {
		return nil, nil, fmt.Errorf("DAG instance: %w", err)
	}
	return topo, fa, nil
}
