package topology

import (
	"os"
	"path/filepath"
	"testing"
)

// exampleFiles are the FogAtlas example documents, verbatim, plus the nodes
// of examples/fogatlas-nodes.yaml.
var exampleFiles = []string{"region.yaml", "link.yaml", "externalendpoint.yaml", "nodes.yaml"}

func readTestdata(t testing.TB, names ...string) []byte {
	t.Helper()
	var all []byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, "\n---\n"...)
		all = append(all, b...)
	}
	return all
}

// exampleTopology builds the FogAtlas example topology.
func exampleTopology(t testing.TB) *Topology {
	t.Helper()
	objs, err := ParseDocuments(readTestdata(t, exampleFiles...))
	if err != nil {
		t.Fatal(err)
	}
	topo, err := Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}
