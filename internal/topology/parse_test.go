package topology

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseExamplesAsTheyAre(t *testing.T) {
	objs, err := ParseDocuments(readTestdata(t, "region.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wantRegions := []*Region{
		{ID: "001-001", Name: "cloud", Description: "Cloud region", Location: &Location{46.1093567, 11.089455}, Tier: 0, Type: "nodes", CPUModel: "Intel i7", CPU2MIPS: 50000},
		{ID: "002-002", Name: "trento", Description: "Trento region", Location: &Location{46.0706631, 11.1134498}, Tier: 1, Type: "nodes", CPUModel: "Intel i5", CPU2MIPS: 30000},
		{ID: "003-003", Name: "povo", Description: "Povo region", Location: &Location{46.0656737, 11.1540153}, Tier: 2, Type: "nodes", CPUModel: "Intel Atom", CPU2MIPS: 5000},
	}
	if len(objs) != len(wantRegions) {
		t.Fatalf("got %d objects, want %d", len(objs), len(wantRegions))
	}
	for i, o := range objs {
		if !reflect.DeepEqual(o, wantRegions[i]) {
			t.Errorf("region %d = %+v, want %+v", i, o, wantRegions[i])
		}
	}

	// link.yaml indents its second and third documents: still valid YAML.
	objs, err = ParseDocuments(readTestdata(t, "link.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wantLinks := []*Link{
		{ID: "link1", EndpointA: "003-003", EndpointB: "001-001", Bandwidth: 10_000_000, Latency: 100, Status: "up"},
		{ID: "link2", EndpointA: "002-002", EndpointB: "001-001", Bandwidth: 10_000_000, Latency: 100, Status: "up"},
		{ID: "link3", EndpointA: "003-003", EndpointB: "002-002", Bandwidth: 100_000_000, Latency: 10, Status: "up"},
	}
	for i, o := range objs {
		if !reflect.DeepEqual(o, wantLinks[i]) {
			t.Errorf("link %d = %+v, want %+v", i, o, wantLinks[i])
		}
	}

	objs, err = ParseDocuments(readTestdata(t, "externalendpoint.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cam1 := &ExternalEndpoint{ID: "cam1", Type: "camera", Name: "cam1", Description: "some-Description", IPAddress: "10.10.10.10", Location: &Location{46.0656737, 11.1540153}, RegionID: "003-003"}
	if len(objs) != 4 || !reflect.DeepEqual(objs[0], cam1) {
		t.Errorf("endpoints = %d, first %+v, want 4, first %+v", len(objs), objs[0], cam1)
	}
}

func TestParseFADeplExamples(t *testing.T) {
	tests := []struct {
		file          string
		alg           Algorithm
		endpoints     int
		microservices []string
		dataflows     []Dataflow
	}{
		{"fadepl-silly.yaml", AlgorithmSilly, 1, []string{"driver", "processor"}, []Dataflow{
			{"cam1", "driver", 5_000_000, 20}, {"driver", "processor", 100_000, 500}}},
		// bandwidthrequired written as plain numbers here.
		{"fadepl-resourcebased.yaml", AlgorithmResourceBased, 1, []string{"driver", "processor"}, []Dataflow{
			{"cam1", "driver", 5_000_000, 20}, {"driver", "processor", 100_000, 500}}},
		{"fadepl-dag.yaml", AlgorithmDAG, 4, []string{"processor", "driver1", "driver2", "driver3", "analytics"}, []Dataflow{
			{"cam1", "driver1", 5_000_000, 20}, {"cam2", "driver2", 5_000_000, 20}, {"broker1", "driver3", 5_000_000, 20},
			{"driver1", "processor", 100_000, 500}, {"driver2", "processor", 100_000, 500}, {"driver3", "processor", 100_000, 500},
			{"processor", "analytics", 100_000, 500}, {"analytics", "sens1", 100_000, 500}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			objs, err := ParseDocuments(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			app, ok := objs[0].(*FADepl)
			if len(objs) != 1 || !ok {
				t.Fatalf("got %v, want one FADepl", objs)
			}
			if app.Name != "simple-app" || app.Algorithm != tt.alg || len(app.ExternalEndpoints) != tt.endpoints {
				t.Fatalf("app = %s %s %v", app.Name, app.Algorithm, app.ExternalEndpoints)
			}
			var names []string
			for _, m := range app.Microservices {
				names = append(names, m.Name)
			}
			if !reflect.DeepEqual(names, tt.microservices) {
				t.Fatalf("microservices = %v, want %v", names, tt.microservices)
			}
			if !reflect.DeepEqual(app.Dataflows, tt.dataflows) {
				t.Fatalf("dataflows = %+v, want %+v", app.Dataflows, tt.dataflows)
			}
		})
	}

	objs, err := ParseDocuments(readTestdata(t, "fadepl-silly.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	driver, _ := objs[0].(*FADepl).Microservice("driver")
	want := Microservice{
		Name:    "driver",
		Regions: []RegionRequirement{{RegionRequired: "003-003"}},
		Deployment: Deployment{Name: "driver", Replicas: 1, Containers: []Container{
			{Name: "driver", Image: "nginx:latest", CPUMillis: 100, MemoryBytes: 100 << 20}}},
	}
	if !reflect.DeepEqual(*driver, want) {
		t.Fatalf("driver = %+v, want %+v", *driver, want)
	}
}

func TestParseNode(t *testing.T) {
	objs, err := ParseDocuments(readTestdata(t, "nodes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 5 {
		t.Fatalf("got %d nodes, want 5", len(objs))
	}
	want := &Node{
		Name:   "trento-1",
		Labels: map[string]string{"region": "002-002", "region-name": "trento", "tier": "1"},
		Region: "002-002", CPUMillis: 4000, MemoryBytes: 8 << 30,
		AllocatedCPUMillis: 500, AllocatedMemoryBytes: 1 << 30,
	}
	if !reflect.DeepEqual(objs[2], want) {
		t.Fatalf("node = %+v, want %+v", objs[2], want)
	}
	if got := want.FreeCPUMillis(); got != 3500 {
		t.Fatalf("free cpu = %d, want 3500", got)
	}
	cloud1 := objs[0].(*Node)
	if cloud1.GPU != 2 || cloud1.Labels[LabelAccelerator] != "nvidia-tesla-t4" {
		t.Fatalf("cloud-1 = %+v", cloud1)
	}
}

func TestParseDocumentsErrors(t *testing.T) {
	region := "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: {id: r1}\n"
	tests := []struct {
		name string
		in   string
		// want are substrings of the error, all required.
		want []string
	}{
		{"bad bandwidth names document kind name and field",
			region + "---\napiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Link\nmetadata: {name: link9}\nspec: {id: l9, endpointa: a, endpointb: b, bandwidth: 10X, latency: 5}\n",
			[]string{`document 2 (Link "link9"): spec.bandwidth: quantity "10X": unknown suffix`}},
		{"missing latency", "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Link\nmetadata: {name: l}\nspec: {id: l, endpointa: a, endpointb: b, bandwidth: 1M}\n",
			[]string{`document 1 (Link "l"): spec.latency: required`}},
		{"link to itself", "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Link\nmetadata: {name: l}\nspec: {id: l, endpointa: a, endpointb: a, bandwidth: 1M, latency: 1}\n",
			[]string{"spec.endpointb", "two different regions"}},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", []string{`document 1 (Pod "p"): kind: "Pod": want one of`}},
		{"wrong api version", "apiVersion: v2\nkind: Region\nmetadata: {name: r}\nspec: {id: r}\n", []string{`apiVersion: "v2": want "fogatlas.fbk.eu/v1alpha1"`}},
		{"region without id", "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: {tier: 1}\n", []string{`(Region "r"): spec.id: required`}},
		{"bad tier", "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: {id: r, tier: -1}\n", []string{"spec.tier"}},
		{"bad location", "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: {id: r, location: \"91,0\"}\n", []string{"spec.location", "latitude"}},
		{"duplicate region", region + "---\n" + region, []string{`document 2 (Region "r1"): duplicate Region id "r1" (first in document 1)`}},
		{"node without region label", "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {capacity: {cpu: 1, memory: 1Gi}}\n",
			[]string{`document 1 (Node "n1"): metadata.labels.region: required`}},
		{"node bad memory", "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {region: r}}\nspec: {capacity: {cpu: 1, memory: 1Gb}}\n",
			[]string{"spec.capacity.memory"}},
		{"structure mismatch", "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: [1, 2]\n", []string{`document 1 (Region "r"): spec: must be an object, got list`}},
		{"not a mapping", "just text\n", []string{"document 1: want a mapping"}},
		{"id of the wrong type names the field", "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: {id: [1]}\n",
			[]string{`document 1 (Region "r"): spec.id: must be a string or a number, got list`}},
		{"microservice not an object", "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: FADepl\nmetadata: {name: app}\nspec: {algorithm: DAG, microservices: [oops]}\n",
			[]string{`spec.microservices[0]: must be an object, got string "oops"`}},
		{"duplicate key", "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: {id: a, id: b}\n",
			[]string{"spec.id: duplicate field"}},
		{"yaml syntax", region + "---\nkind: [\n", []string{"document 2: invalid YAML: line 6"}},
		{"fadepl unknown algorithm", fadepl("algorithm: Clever", "", ""), []string{`(FADepl "app"): spec.algorithm: "Clever"`}},
		{"fadepl bad cpu request", fadepl("algorithm: DAG", "cpu: lots", ""),
			[]string{"spec.microservices[0].deployment.spec.template.spec.containers[0].resources.requests.cpu"}},
		{"fadepl unknown dataflow end", fadepl("algorithm: DAG", "", "- {sourceid: cam9, destinationid: m}"),
			[]string{`spec.dataflows[0].sourceid: "cam9" names neither a microservice nor an endpoint`}},
		{"fadepl bad bandwidth", fadepl("algorithm: DAG", "", "- {sourceid: cam1, destinationid: m, bandwidthrequired: 5Q}"),
			[]string{"spec.dataflows[0].bandwidthrequired"}},
		{"fadepl zero latency", fadepl("algorithm: DAG", "", "- {sourceid: cam1, destinationid: m, latency: 0}"),
			[]string{"spec.dataflows[0].latency: 0: want a bound > 0 ms"}},
		{"several errors reported together", fadepl("algorithm: Clever", "cpu: lots", ""), []string{"spec.algorithm", "requests.cpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := ParseDocuments([]byte(tt.in))
			if err == nil {
				t.Fatalf("got %v, want an error", objs)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			var de *DocumentError
			if !errors.As(err, &de) || de.Index < 1 {
				t.Errorf("error %v is not a *DocumentError with an index", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// fadepl returns a one-microservice FADepl with the given algorithm line,
// extra request line and dataflows.
func fadepl(algorithm, request, dataflows string) string {
	if request == "" {
		request = "cpu: 100m"
	}
	if dataflows == "" {
		dataflows = "[]"
	} else {
		dataflows = "\n    " + dataflows
	}
	return `apiVersion: fogatlas.fbk.eu/v1alpha1
kind: FADepl
metadata: {name: app}
spec:
  ` + algorithm + `
  externalendpoints: [cam1]
  microservices:
    - name: m
      deployment:
        spec:
          template:
            spec:
              containers:
                - name: m
                  image: nginx
                  resources:
                    requests:
                      ` + request + `
  dataflows: ` + dataflows + "\n"
}

func TestParseSkipsEmptyDocuments(t *testing.T) {
	in := "---\n---\napiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: {id: r}\n---\n"
	objs, err := ParseDocuments([]byte(in))
	if err != nil || len(objs) != 1 {
		t.Fatalf("got %v, %v; want one region", objs, err)
	}
}
