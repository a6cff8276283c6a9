package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/topology"
)

// topologyFiles are the FogAtlas example topology, verbatim, and the nodes
// of examples/fogatlas-nodes.yaml.
var topologyFiles = []string{"region.yaml", "link.yaml", "externalendpoint.yaml", "nodes.yaml"}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parse parses documents.
func parse(t testing.TB, docs ...[]byte) []topology.Object {
	t.Helper()
	var all []string
	for _, d := range docs {
		all = append(all, string(d))
	}
	objs, err := topology.ParseDocuments([]byte(strings.Join(all, "\n---\n")))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// build returns the topology objs describe and the application among them
// (nil if none).
func build(t testing.TB, objs []topology.Object) (*topology.Topology, *topology.FADepl) {
	t.Helper()
	var app *topology.FADepl
	for _, o := range objs {
		if a, ok := o.(*topology.FADepl); ok {
			app = a
		}
	}
	topo, err := topology.Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	return topo, app
}

// exampleObjs returns the objects of the example topology with the nodes
// given (the example nodes file when nodes is empty) and the application of
// file ("" for none).
func exampleObjs(t testing.TB, file string, nodes ...string) []topology.Object {
	t.Helper()
	var docs [][]byte
	for _, f := range topologyFiles[:3] {
		docs = append(docs, readTestdata(t, f))
	}
	if len(nodes) == 0 {
		docs = append(docs, readTestdata(t, "nodes.yaml"))
	}
	for _, n := range nodes {
		docs = append(docs, []byte(n))
	}
	if file != "" {
		docs = append(docs, readTestdata(t, file))
	}
	return parse(t, docs...)
}

// example returns the example topology and the application of file.
func example(t testing.TB, file string, nodes ...string) (*topology.Topology, *topology.FADepl) {
	t.Helper()
	return build(t, exampleObjs(t, file, nodes...))
}

// node returns a `kind: Node` document; labels are key, value pairs.
func node(name, region, cpu, memory string, labels ...string) string {
	s := "apiVersion: v1\nkind: Node\nmetadata:\n  name: " + name + "\n  labels:\n    region: \"" + region + "\"\n"
	for i := 0; i+1 < len(labels); i += 2 {
		s += "    " + labels[i] + ": " + labels[i+1] + "\n"
	}
	return s + "spec:\n  capacity:\n    cpu: \"" + cpu + "\"\n    memory: " + memory + "\n"
}

// link returns the link id among objs.
func link(objs []topology.Object, id string) *topology.Link {
	for _, o := range objs {
		if l, ok := o.(*topology.Link); ok && l.ID == id {
			return l
		}
	}
	return nil
}

// svc returns a microservice with one container.
func svc(name string, cpuMillis, memMiB int64, opts ...func(*topology.Microservice)) topology.Microservice {
	m := topology.Microservice{Name: name, Deployment: topology.Deployment{
		Replicas:   1,
		Containers: []topology.Container{{Name: name, Image: "img/" + name, CPUMillis: cpuMillis, MemoryBytes: memMiB << 20}},
	}}
	for _, o := range opts {
		o(&m)
	}
	return m
}

// requires pins a microservice to regions (several only for Silly).
func requires(regions ...string) func(*topology.Microservice) {
	return func(m *topology.Microservice) {
		for _, r := range regions {
			m.Regions = append(m.Regions, topology.RegionRequirement{RegionRequired: r})
		}
	}
}

// dataflow returns a dataflow; latency 0 means no bound.
func dataflow(src, dst string, bw int64, latency float64) topology.Dataflow {
	return topology.Dataflow{SourceID: src, DestinationID: dst, BandwidthRequired: bw, Latency: latency}
}
