package app

import (
	"fmt"

	"pgregory.net/rapid"

	"github.com/hedgeorch/hedge/internal/topology"
)

// instance is a random topology and application for property tests.
type instance struct {
	topo *topology.Topology
	app  *topology.FADepl
}

// size bounds a random instance.
type size struct {
	regions, nodesPerRegion, microservices, endpoints int
}

var smallSize = size{regions: 4, nodesPerRegion: 2, microservices: 4, endpoints: 2}

// genInstance draws a topology and a DAG application on it. Values come
// from small sets so that constraints often bind: links run short of
// bandwidth, nodes of memory, latency bounds cut regions off.
func genInstance(t *rapid.T, sz size) instance {
	var objs []topology.Object
	nr := rapid.IntRange(2, sz.regions).Draw(t, "regions")
	var regionIDs []string
	for i := range nr {
		id := fmt.Sprintf("r%d", i)
		regionIDs = append(regionIDs, id)
		objs = append(objs, &topology.Region{
			ID:       id,
			Tier:     rapid.IntRange(0, 2).Draw(t, "tier"),
			CPU2MIPS: rapid.SampledFrom([]int64{5000, 30000, 50000, 5000, 30000, 0}).Draw(t, "cpu2mips"),
		})
	}
	// A chain through the regions with a few links missing, plus random
	// links: mostly connected, with parallel paths and multi-hop routes.
	nl := nr - 1 + rapid.IntRange(0, nr).Draw(t, "extra_links")
	for i := range nl {
		a, b := i, i+1
		if i >= nr-1 {
			a = rapid.IntRange(0, nr-1).Draw(t, "link_a")
			b = rapid.IntRange(0, nr-1).Draw(t, "link_b")
		} else if rapid.IntRange(0, 5).Draw(t, "chain_gap") == 5 {
			continue
		}
		if a == b {
			continue
		}
		bw := rapid.SampledFrom([]int64{10_000_000, 1_000_000, 5_000_000, 100_000}).Draw(t, "bandwidth")
		objs = append(objs, &topology.Link{
			ID: fmt.Sprintf("l%d", i), EndpointA: regionIDs[a], EndpointB: regionIDs[b],
			Bandwidth:   bw,
			BWAllocated: rapid.SampledFrom([]int64{0, 0, bw / 2, bw}).Draw(t, "allocated"),
			Latency:     float64(rapid.SampledFrom([]int{5, 10, 50, 100}).Draw(t, "latency")),
			Status:      rapid.SampledFrom([]string{"up", "up", "up", "down"}).Draw(t, "status"),
		})
	}
	for r, id := range regionIDs {
		nn := rapid.IntRange(1, sz.nodesPerRegion).Draw(t, "nodes")
		if rapid.IntRange(0, 5).Draw(t, "empty_region") == 5 {
			nn = 0
		}
		for j := range nn {
			n := &topology.Node{
				Name:        fmt.Sprintf("n%d-%d", r, j),
				Region:      id,
				Labels:      map[string]string{"region": id},
				CPUMillis:   rapid.SampledFrom([]int64{2000, 4000, 1000, 500}).Draw(t, "node_cpu"),
				MemoryBytes: rapid.SampledFrom([]int64{2048, 4096, 1024, 512}).Draw(t, "node_mem") << 20,
			}
			n.AllocatedCPUMillis = rapid.SampledFrom([]int64{0, 0, n.CPUMillis / 2}).Draw(t, "node_alloc")
			if rapid.IntRange(0, 3).Draw(t, "gpu") == 3 {
				n.Labels["accelerator"] = "gpu"
			}
			objs = append(objs, n)
		}
	}
	var endpoints []string
	for i := range rapid.IntRange(min(1, sz.endpoints), sz.endpoints).Draw(t, "endpoints") {
		id := fmt.Sprintf("e%d", i)
		endpoints = append(endpoints, id)
		objs = append(objs, &topology.ExternalEndpoint{ID: id, RegionID: rapid.SampledFrom(regionIDs).Draw(t, "endpoint_region")})
	}
	topo, err := topology.Build(objs)
	if err != nil {
		t.Fatal(err)
	}

	app := &topology.FADepl{Name: "app", Algorithm: topology.AlgorithmDAG, ExternalEndpoints: endpoints}
	nm := rapid.IntRange(1, sz.microservices).Draw(t, "microservices")
	for i := range nm {
		m := topology.Microservice{
			Name: fmt.Sprintf("m%d", i),
			Deployment: topology.Deployment{
				Replicas: rapid.SampledFrom([]int{1, 1, 2, 3}).Draw(t, "replicas"),
				Containers: []topology.Container{{
					Image:       "img",
					CPUMillis:   rapid.SampledFrom([]int64{100, 500, 0, 1000}).Draw(t, "cpu"),
					MemoryBytes: rapid.SampledFrom([]int64{100, 400, 0, 100, 800}).Draw(t, "mem") << 20,
				}},
			},
		}
		if rapid.IntRange(0, 3).Draw(t, "mips") == 3 {
			m.MIPSRequired = rapid.SampledFrom([]int64{1000, 100, 5000}).Draw(t, "mips_required")
		}
		if rapid.IntRange(0, 5).Draw(t, "selector") == 5 {
			m.Deployment.NodeSelector = map[string]string{"accelerator": "gpu"}
		}
		if rapid.IntRange(0, 2).Draw(t, "required") == 2 {
			m.Regions = []topology.RegionRequirement{{RegionRequired: rapid.SampledFrom(regionIDs).Draw(t, "region_required")}}
		}
		app.Microservices = append(app.Microservices, m)
	}
	// Dataflows go from a lower to a higher microservice index, from a
	// source endpoint (even index) to a microservice, or from a microservice
	// to a sink endpoint (odd index): always acyclic.
	var sources, sinks []string
	for i, e := range endpoints {
		if i%2 == 0 {
			sources = append(sources, e)
		} else {
			sinks = append(sinks, e)
		}
	}
	for range rapid.IntRange(1, nm+2).Draw(t, "dataflows") {
		var src, dst string
		switch kind := rapid.IntRange(0, 2).Draw(t, "flow_kind"); {
		case kind == 0 && nm > 1:
			a := rapid.IntRange(0, nm-2).Draw(t, "flow_src")
			b := rapid.IntRange(a+1, nm-1).Draw(t, "flow_dst")
			src, dst = fmt.Sprintf("m%d", a), fmt.Sprintf("m%d", b)
		case kind == 1 && len(sources) > 0:
			src = rapid.SampledFrom(sources).Draw(t, "flow_source")
			dst = fmt.Sprintf("m%d", rapid.IntRange(0, nm-1).Draw(t, "flow_m"))
		case kind == 2 && len(sinks) > 0:
			src = fmt.Sprintf("m%d", rapid.IntRange(0, nm-1).Draw(t, "flow_m"))
			dst = rapid.SampledFrom(sinks).Draw(t, "flow_sink")
		default:
			continue
		}
		app.Dataflows = append(app.Dataflows, topology.Dataflow{
			SourceID: src, DestinationID: dst,
			BandwidthRequired: rapid.SampledFrom([]int64{100_000, 1_000_000, 5_000_000, 0}).Draw(t, "flow_bw"),
			Latency:           float64(rapid.SampledFrom([]int{0, 200, 20, 60}).Draw(t, "flow_latency")),
		})
	}
	return instance{topo, app}
}
