package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	placeapp "github.com/hedgeorch/hedge/internal/placement/app"
)

// The FogAtlas example files are kept verbatim in the topology package's
// testdata; the nodes are the repository's examples/fogatlas-nodes.yaml.
var (
	fogatlasDir = filepath.Join("..", "topology", "testdata")
	fogTopology = []string{
		filepath.Join(fogatlasDir, "region.yaml"),
		filepath.Join(fogatlasDir, "link.yaml"),
		filepath.Join(fogatlasDir, "externalendpoint.yaml"),
	}
	fogNodes = filepath.Join("..", "..", "examples", "fogatlas-nodes.yaml")
)

// runPlanCmd runs `plan` with args and returns what it printed.
func runPlanCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := PlanCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func fileArgs(files ...string) []string {
	var args []string
	for _, f := range files {
		args = append(args, "-f", f)
	}
	return args
}

func TestPlanTable(t *testing.T) {
	files := append(append([]string{}, fogTopology...), fogNodes, filepath.Join(fogatlasDir, "fadepl-dag.yaml"))
	out, err := runPlanCmd(t, "", fileArgs(files...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"simple-app    DAG         exact    New      700 (network 200 kbit/s*hop, compute 500m cpu, latency 110 ms)",
		"driver3        002-002   1          nginx:latest   100m   100Mi    trento-1   driver3.reg.002-002",
		"analytics      003-003   1          nginx:latest   100m   400Mi    povo-1     analytics.reg.003-003",
		"link1   100k        9900k",
		"link3   100k        99900k",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPlanJSONFromStdin(t *testing.T) {
	app, err := os.ReadFile(filepath.Join(fogatlasDir, "fadepl-resourcebased.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	args := append(fileArgs(append(append([]string{}, fogTopology...), fogNodes, "-")...), "-o", "json", "--method", "heuristic")
	out, err := runPlanCmd(t, string(app), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var res placeapp.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Method != placeapp.MethodHeuristic || res.Status != placeapp.StatusNew || len(res.Placements) != 2 ||
		res.Placements[1].Regions[0].Region != "003-003" || res.Objective != 200 {
		t.Fatalf("result %+v", res)
	}
}

func TestPlanInfeasible(t *testing.T) {
	dir := t.TempDir()
	nodes := filepath.Join(dir, "nodes.yaml")
	tiny := "apiVersion: v1\nkind: Node\nmetadata:\n  name: povo-1\n  labels: {region: \"003-003\"}\nspec:\n  capacity: {cpu: \"1\", memory: 64Mi}\n"
	if err := os.WriteFile(nodes, []byte(tiny), 0o600); err != nil {
		t.Fatal(err)
	}
	files := append(append([]string{}, fogTopology...), nodes, filepath.Join(fogatlasDir, "fadepl-resourcebased.yaml"))
	out, err := runPlanCmd(t, "", fileArgs(files...)...)
	if err == nil || !strings.Contains(err.Error(), "application simple-app does not fit") {
		t.Fatalf("error %v, want does not fit", err)
	}
	want := "Reason: microservice driver (cpu 100m, memory 100Mi): no region has a node that can hold it: 003-003: 0/1 nodes available: 1 insufficient memory"
	if !strings.Contains(out, want) || !strings.Contains(out, "Failed") {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}
}

func TestPlanErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Link\nmetadata: {name: l}\nspec: {id: l, endpointa: a, endpointb: b, bandwidth: 10X, latency: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dag := filepath.Join(fogatlasDir, "fadepl-dag.yaml")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad document names file and field", fileArgs(bad), bad + `: document 1 (Link "l"): spec.bandwidth`},
		{"no application", fileArgs(fogTopology...), "no application"},
		{"two applications", fileArgs(dag, filepath.Join(fogatlasDir, "fadepl-silly.yaml")), "2 applications (simple-app, simple-app)"},
		{"bad output", append(fileArgs(dag), "-o", "xml"), `invalid output format "xml"`},
		{"missing file", fileArgs(filepath.Join(dir, "nope.yaml")), "no such file"},
		{"no files", nil, `required flag(s) "filename" not set`},
		{"unknown endpoint region", fileArgs(filepath.Join(fogatlasDir, "externalendpoint.yaml"), dag), `regionid "003-003" names no region`},
		{"bad method", append(fileArgs(append(append([]string{}, fogTopology...), dag)...), "--method", "magic"), `method "magic"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runPlanCmd(t, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q\n%s", err, tt.want, out)
			}
		})
	}
}

// An SLA with connectivity plans like a FADepl: the detector must be within
// 5 ms of cam1 (Povo), the archive is pinned to the cloud, and their 1M flow
// takes link1 (100 ms) rather than the way through Trento (110 ms).
func TestPlanSLAWithDataflows(t *testing.T) {
	files := append(append([]string{}, fogTopology...), fogNodes, filepath.Join("..", "..", "examples", "sla-dataflows.yaml"))
	out, err := runPlanCmd(t, "", fileArgs(files...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"vision", "DAG", "detector.reg.003-003", "archive.reg.001-001", "link1   1M"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "link3   ") {
		t.Errorf("the flow should not cross link3:\n%s", out)
	}
}
