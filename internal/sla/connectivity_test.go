package sla

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

// dataflowsWant is what testdata/dataflows.yaml and dataflows.json must
// parse to.
func dataflowsWant() *Document {
	svc := func(name string, memory int64, vcpus float64, conn ...api.Connectivity) api.ServiceSpec {
		return api.ServiceSpec{
			Name: name, Namespace: "test", Virtualization: api.VirtContainer,
			Code: "docker.io/library/busybox:latest", MemoryMB: memory, VCPUs: vcpus,
			Instances: 1, Connectivity: conn,
		}
	}
	return &Document{
		SLAVersion: "v2.0",
		CustomerID: "Admin",
		Applications: []Application{{
			Name:        "pipeline",
			Namespace:   "test",
			Description: "Camera frames through a detector into a store",
			Services: []api.ServiceSpec{
				svc("ingest", 64, 0.5,
					api.Connectivity{SourceEndpoint: "cam1", Constraints: []api.ConConstraint{
						{Type: api.ConBandwidth, Threshold: 10 << 20},
					}},
					api.Connectivity{TargetMicroservice: "detect", Constraints: []api.ConConstraint{
						{Type: api.ConLatency, Threshold: 20},
						{Type: api.ConBandwidth, Threshold: 5e6},
					}},
				),
				svc("detect", 256, 1,
					api.Connectivity{TargetMicroservice: "store", Constraints: []api.ConConstraint{
						{Type: api.ConLatency, Threshold: 50.5},
					}},
					api.Connectivity{TargetEndpoint: "dashboard", Constraints: []api.ConConstraint{
						{Type: api.ConBandwidth, Threshold: 1e5},
					}},
				),
				svc("store", 128, 0.5, api.Connectivity{TargetEndpoint: "archive"}),
			},
		}},
	}
}

// TestParseDataflows parses the same descriptor from YAML and from JSON and
// checks that each, marshalled, parses back to the same document.
func TestParseDataflows(t *testing.T) {
	for _, file := range []string{"dataflows.yaml", "dataflows.json"} {
		t.Run(file, func(t *testing.T) {
			doc, err := Parse(readTestdata(t, file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if want := dataflowsWant(); !reflect.DeepEqual(doc, want) {
				t.Fatalf("Parse =\n%s\nwant\n%s", dump(doc), dump(want))
			}
			out, err := json.Marshal(doc)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			// The alias is written under its own name, quantities as bit/s.
			for _, s := range []string{`"target_microservice":"store"`, `"threshold":10485760`, `"con_constraints"`} {
				if !strings.Contains(string(out), s) {
					t.Errorf("marshalled document lacks %s:\n%s", s, out)
				}
			}
			if strings.Contains(string(out), "target_microservice_id") {
				t.Errorf("marshalled document keeps the alias:\n%s", out)
			}
			again, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse(marshalled): %v\n%s", err, out)
			}
			if !reflect.DeepEqual(doc, again) {
				t.Errorf("round trip changed the document:\n%s\nbecame\n%s", dump(doc), dump(again))
			}
		})
	}
}

// TestConnectivityAccepted covers valid connectivity written in different
// ways, and the values they give. Services 0 and 1 of clientsrvr.json are
// curl and nginx.
func TestConnectivityAccepted(t *testing.T) {
	conn := func(i int, entries ...any) []byte {
		return mutate(t, func(doc map[string]any) { msMap(doc, i)["connectivity"] = entries })
	}
	bw := func(threshold any) []byte {
		return conn(0, map[string]any{"target_endpoint": "e", "con_constraints": []any{
			map[string]any{"type": "bandwidth", "threshold": threshold}}})
	}
	bwIs := func(want float64) func(t *testing.T, d *Document) {
		return func(t *testing.T, d *Document) { eq(t, svc(d, 0).Connectivity[0].Constraints[0].Threshold, want) }
	}
	tests := []struct {
		name  string
		input []byte
		check func(t *testing.T, d *Document)
	}{
		{"target microservice with both bounds", conn(0, map[string]any{"target_microservice": "nginx", "con_constraints": []any{
			map[string]any{"type": "latency", "threshold": 12.5},
			map[string]any{"type": "bandwidth", "threshold": 2000},
		}}), func(t *testing.T, d *Document) {
			eq(t, svc(d, 0).Connectivity, []api.Connectivity{{TargetMicroservice: "nginx", Constraints: []api.ConConstraint{
				{Type: api.ConLatency, Threshold: 12.5}, {Type: api.ConBandwidth, Threshold: 2000}}}})
		}},
		{"Oakestra's target_microservice_id, rigidness and convergence_time", conn(0, map[string]any{
			"target_microservice_id": "nginx", "con_constraints": []any{
				map[string]any{"type": "latency", "threshold": 100, "rigidness": 0.99, "convergence_time": 300}},
		}), func(t *testing.T, d *Document) {
			eq(t, svc(d, 0).Connectivity, []api.Connectivity{{TargetMicroservice: "nginx",
				Constraints: []api.ConConstraint{{Type: api.ConLatency, Threshold: 100}}}})
		}},
		{"endpoints without bounds", conn(1, map[string]any{"source_endpoint": "cam"}, map[string]any{"target_endpoint": "display", "con_constraints": []any{}},
			map[string]any{"target_endpoint": "sink", "con_constraints": nil}),
			func(t *testing.T, d *Document) {
				eq(t, svc(d, 1).Connectivity, []api.Connectivity{{SourceEndpoint: "cam"}, {TargetEndpoint: "display"}, {TargetEndpoint: "sink"}})
			}},
		{"a microservice and an endpoint of the same name", conn(0, map[string]any{"target_microservice": "nginx"}, map[string]any{"target_endpoint": "nginx"}),
			func(t *testing.T, d *Document) { eq(t, len(svc(d, 0).Connectivity), 2) }},
		{"empty and null connectivity", mutate(t, func(doc map[string]any) {
			msMap(doc, 0)["connectivity"] = []any{}
			msMap(doc, 1)["connectivity"] = nil
		}), func(t *testing.T, d *Document) {
			eq(t, svc(d, 0).Connectivity, []api.Connectivity(nil))
			eq(t, svc(d, 1).Connectivity, []api.Connectivity(nil))
		}},
		{"an endpoint between two microservices is not a cycle", mutate(t, func(doc map[string]any) {
			msMap(doc, 0)["connectivity"] = []any{map[string]any{"target_endpoint": "broker"}}
			msMap(doc, 1)["connectivity"] = []any{map[string]any{"source_endpoint": "broker"}}
		}), func(t *testing.T, d *Document) {
			eq(t, svc(d, 1).Connectivity, []api.Connectivity{{SourceEndpoint: "broker"}})
		}},
		{"bandwidth 5M", bw("5M"), bwIs(5e6)},
		{"bandwidth 100k", bw("100k"), bwIs(1e5)},
		{"bandwidth 1G", bw("1G"), bwIs(1e9)},
		{"bandwidth 10Mi", bw("10Mi"), bwIs(10 << 20)},
		{"bandwidth 1.5Ki rounds up to whole bit/s", bw("1.5Ki"), bwIs(1536)},
		{"bandwidth 0.5 as text rounds up", bw("0.5"), bwIs(1)},
		{"bandwidth a plain number", bw(5000000), bwIs(5e6)},
		{"bandwidth a fractional number is kept", bw(2.5), bwIs(2.5)},
		{"bandwidth at the upper bound", bw("1P"), bwIs(1e15)},
		{"YAML bandwidth quantity and latency in flow style", []byte(`sla_version: v2.0
customerID: Admin
applications:
  - application_name: app
    application_namespace: test
    microservices:
      - microservice_name: a
        microservice_namespace: test
        virtualization: container
        code: nginx
        connectivity:
          - {target_microservice: b, con_constraints: [{type: bandwidth, threshold: 5M}, {type: latency, threshold: 7}]}
      - microservice_name: b
        microservice_namespace: test
        virtualization: container
        code: nginx
`), func(t *testing.T, d *Document) {
			eq(t, svc(d, 0).Connectivity, []api.Connectivity{{TargetMicroservice: "b", Constraints: []api.ConConstraint{
				{Type: api.ConBandwidth, Threshold: 5e6}, {Type: api.ConLatency, Threshold: 7}}}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.input)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, d)
		})
	}
}

// connectivityCases are broken connectivity with the exact problems each
// must give. They are also seeds of FuzzParse.
func connectivityCases(t testing.TB) []invalidCase {
	conn := func(i int, entries ...any) []byte {
		return mutate(t, func(doc map[string]any) { msMap(doc, i)["connectivity"] = entries })
	}
	both := func(curl, nginx []any) []byte {
		return mutate(t, func(doc map[string]any) {
			msMap(doc, 0)["connectivity"] = curl
			msMap(doc, 1)["connectivity"] = nginx
		})
	}
	con := func(cs ...any) []byte {
		return conn(0, map[string]any{"target_endpoint": "e", "con_constraints": cs})
	}
	c := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	one := func(field, message string) []wantProblem { return []wantProblem{{field, message}} }
	c0 := m0 + ".connectivity[0]"
	c1 := m0 + ".connectivity[1]"
	k0 := c0 + ".con_constraints[0]"
	k1 := c0 + ".con_constraints[1]"
	const bwText = `must be a number or a quantity such as "5M", "100k" or "10Mi" (bit/s)`
	return []invalidCase{
		// Types and field names.
		{"connectivity an object", mutate(t, func(doc map[string]any) { msMap(doc, 0)["connectivity"] = c("target_endpoint", "e") }),
			one(m0+".connectivity", "must be a list, got object")},
		{"entry not an object", conn(0, "nginx"), one(c0, `must be an object, got string "nginx"`)},
		{"entry unknown field", conn(0, c("target_microservice", "nginx", "latency", 5)), one(c0+".latency", "unknown field")},
		{"entry misspelt field", conn(0, c("source", "cam")), []wantProblem{
			{c0 + ".source", `unknown field (did you mean "source_endpoint"?)`},
			{c0, "needs one of target_microservice, target_endpoint or source_endpoint"},
		}},
		{"target_microservice a number", conn(0, c("target_microservice", 1)), one(c0+".target_microservice", "must be a string, got number 1")},
		{"target_microservice_id a list", conn(0, c("target_microservice_id", []any{"nginx"})), one(c0+".target_microservice_id", "must be a string, got list")},
		{"target_endpoint empty", conn(0, c("target_endpoint", "")), one(c0+".target_endpoint", "must not be empty")},
		{"source_endpoint a boolean", conn(0, c("source_endpoint", true)), one(c0+".source_endpoint", "must be a string, got boolean true")},
		{"con_constraints an object", conn(0, c("target_endpoint", "e", "con_constraints", c("type", "latency"))),
			one(c0+".con_constraints", "must be a list, got object")},
		{"con_constraint not an object", con("latency"), one(k0, `must be an object, got string "latency"`)},
		{"con_constraint misspelt field", con(c("type", "latency", "threshold", 5, "treshold", 5)),
			one(k0+".treshold", `unknown field (did you mean "threshold"?)`)},
		{"con_constraint type a number", con(c("type", 1, "threshold", 5)), one(k0+".type", "must be a string, got number 1")},
		{"rigidness a string", con(c("type", "latency", "threshold", 5, "rigidness", "high")), one(k0+".rigidness", `must be a number, got string "high"`)},
		{"convergence_time a list", con(c("type", "latency", "threshold", 5, "convergence_time", []any{})), one(k0+".convergence_time", "must be a number, got list")},

		// The other end.
		{"no end", conn(0, c("con_constraints", []any{c("type", "latency", "threshold", 5)})),
			one(c0, "needs one of target_microservice, target_endpoint or source_endpoint")},
		{"empty entry", conn(0, c()), one(c0, "needs one of target_microservice, target_endpoint or source_endpoint")},
		{"two ends", conn(0, c("target_microservice", "nginx", "target_endpoint", "e")),
			one(c0+".target_endpoint", "not allowed together with target_microservice: a dataflow has exactly one of")},
		{"three ends", conn(0, c("target_microservice", "nginx", "target_endpoint", "e", "source_endpoint", "f")), []wantProblem{
			{c0 + ".target_endpoint", "not allowed together with target_microservice"},
			{c0 + ".source_endpoint", "not allowed together with target_microservice"},
		}},
		{"target_endpoint and source_endpoint", conn(0, c("target_endpoint", "e", "source_endpoint", "f")),
			one(c0+".source_endpoint", "not allowed together with target_endpoint")},
		{"target_microservice and its alias", conn(0, c("target_microservice", "nginx", "target_microservice_id", "nginx")),
			one(c0+".target_microservice_id", "is Oakestra's name for target_microservice; write only one of them")},
		{"target_endpoint blank", conn(0, c("target_endpoint", "  ")), one(c0+".target_endpoint", "must not be blank")},
		{"target_microservice not a name", conn(0, c("target_microservice", "my-svc")),
			one(c0+".target_microservice", `must contain only letters and digits, got "my-svc"`)},
		{"target_microservice itself", conn(0, c("target_microservice", "curl")),
			one(c0+".target_microservice", `must name another microservice, not "curl" itself`)},
		{"target_microservice_id itself", conn(0, c("target_microservice_id", "curl")),
			one(c0+".target_microservice_id", `must name another microservice, not "curl" itself`)},
		{"target_microservice unknown", conn(0, c("target_microservice", "ngnix")),
			one(c0+".target_microservice", `no microservice named "ngnix" in this application (did you mean "nginx"?)`)},
		{"target_microservice_id unknown", conn(0, c("target_microservice_id", "database")),
			one(c0+".target_microservice_id", `no microservice named "database" in this application`)},
		{"duplicate target microservice", conn(0, c("target_microservice", "nginx"), c("target_microservice_id", "nginx")),
			one(c1+".target_microservice_id", `duplicate dataflow to microservice "nginx" (also connectivity[0])`)},
		{"duplicate target endpoint", conn(0, c("target_endpoint", "e"), c("target_endpoint", "e")),
			one(c1+".target_endpoint", `duplicate dataflow to endpoint "e" (also connectivity[0])`)},
		{"invalid name twice is not also a duplicate", conn(0, c("target_microservice", "my-svc"), c("target_microservice", "my-svc")), []wantProblem{
			{c0 + ".target_microservice", "must contain only letters and digits"},
			{c1 + ".target_microservice", "must contain only letters and digits"},
		}},
		{"duplicate source endpoint", conn(1, c("source_endpoint", "cam"), c("source_endpoint", "cam")),
			one(m1+".connectivity[1].source_endpoint", `duplicate dataflow from endpoint "cam" (also connectivity[0])`)},

		// Cycles.
		{"cycle of two", both([]any{c("target_microservice", "nginx")}, []any{c("target_microservice_id", "curl")}),
			one("applications[0]", "connectivity forms a cycle curl -> nginx -> curl; the dataflows of an application must be acyclic")},
		{"cycle through an endpoint", both(
			[]any{c("target_endpoint", "broker")},
			[]any{c("source_endpoint", "broker"), c("target_microservice", "curl")}),
			one("applications[0]", `connectivity forms a cycle curl -> endpoint "broker" -> nginx -> curl`)},
		{"to and from the same endpoint", conn(0, c("target_endpoint", "cam"), c("source_endpoint", "cam")),
			one("applications[0]", `connectivity forms a cycle curl -> endpoint "cam" -> curl`)},

		// Constraints.
		{"constraint without type", con(c("threshold", 5)), one(k0+".type", "required (latency or bandwidth)")},
		{"constraint of unknown type", con(c("type", "geo", "threshold", 5)),
			one(k0+".type", `unknown connectivity constraint type "geo"; want latency or bandwidth`)},
		{"latency without threshold", con(c("type", "latency")), one(k0+".threshold", "must be a number > 0 (milliseconds), got 0")},
		{"latency zero", con(c("type", "latency", "threshold", 0)), one(k0+".threshold", "must be a number > 0 (milliseconds), got 0")},
		{"latency negative", con(c("type", "latency", "threshold", -3)), one(k0+".threshold", "must be a number > 0 (milliseconds), got -3")},
		{"latency too large", con(c("type", "latency", "threshold", 2e9)), one(k0+".threshold", "must be <= 1e+09 (milliseconds), got 2e+09")},
		{"latency as text", con(c("type", "latency", "threshold", "10ms")), one(k0+".threshold", `must be a number, got string "10ms"`)},
		{"latency quantity", con(c("type", "latency", "threshold", "10")), one(k0+".threshold", `must be a number, got string "10"`)},
		{"bandwidth without threshold", con(c("type", "bandwidth")), one(k0+".threshold", "must be a number > 0 (bit/s), got 0")},
		{"bandwidth zero quantity", con(c("type", "bandwidth", "threshold", "0M")), one(k0+".threshold", "must be a number > 0 (bit/s), got 0")},
		{"bandwidth negative", con(c("type", "bandwidth", "threshold", -1)), one(k0+".threshold", "must be a number > 0 (bit/s), got -1")},
		{"bandwidth negative quantity", con(c("type", "bandwidth", "threshold", "-5M")), one(k0+".threshold", bwText+`: quantity "-5M" is negative`)},
		{"bandwidth unknown suffix", con(c("type", "bandwidth", "threshold", "5X")), one(k0+".threshold", bwText+`: quantity "5X": unknown suffix "X"`)},
		{"bandwidth with a unit", con(c("type", "bandwidth", "threshold", "5 Mbit/s")), one(k0+".threshold", bwText+`: quantity "5 Mbit/s": unknown suffix`)},
		{"bandwidth empty text", con(c("type", "bandwidth", "threshold", "")), one(k0+".threshold", bwText+": empty quantity")},
		{"bandwidth a boolean", con(c("type", "bandwidth", "threshold", true)), one(k0+".threshold", bwText+", got boolean true")},
		{"bandwidth too large", con(c("type", "bandwidth", "threshold", "2P")), one(k0+".threshold", "must be <= 1e+15 (bit/s), got 2e+15")},
		{"bandwidth beyond int64", con(c("type", "bandwidth", "threshold", "100E")), one(k0+".threshold", "too large")},
		{"two latency constraints", con(c("type", "latency", "threshold", 5), c("type", "latency", "threshold", 9)),
			one(k1+".type", "duplicate latency constraint (also con_constraints[0])")},
		{"two bandwidth constraints", con(c("type", "bandwidth", "threshold", "1M"), c("type", "latency", "threshold", 9), c("type", "bandwidth", "threshold", 5)),
			one(c0+".con_constraints[2].type", "duplicate bandwidth constraint (also con_constraints[0])")},

		// Several problems: every one is listed, at the index written, even
		// after an entry that could not be read.
		{"several problems", both(
			[]any{"x", c("target_microservice", "nope"), c("target_endpoint", "e", "con_constraints", []any{
				7, c("type", "latency", "threshold", 0)})},
			[]any{c("target_microservice", "nginx"), c("target_endpoint", "e", "source_endpoint", "f")}),
			[]wantProblem{
				{c0, `must be an object, got string "x"`},
				{m0 + ".connectivity[2].con_constraints[0]", "must be an object, got number 7"},
				{m0 + ".connectivity[2].con_constraints[1].threshold", "must be a number > 0 (milliseconds)"},
				{m1 + ".connectivity[0].target_microservice", `must name another microservice, not "nginx" itself`},
				{m1 + ".connectivity[1].source_endpoint", "not allowed together with target_endpoint"},
				{c1 + ".target_microservice", `no microservice named "nope" in this application`},
			}},
	}
}

func TestConnectivityInvalid(t *testing.T) {
	for _, tt := range connectivityCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse(tt.input)
			if doc != nil {
				t.Errorf("Parse returned a document along with error %v", err)
			}
			checkProblems(t, err, tt.want)
		})
	}
}

// TestParseServicesConnectivity covers the form that adds microservices to an
// existing application: a target_microservice may name one already there,
// which only the root knows, but cycles among the added ones are errors.
func TestParseServicesConnectivity(t *testing.T) {
	ms := func(name string, conn string) string {
		return fmt.Sprintf(`{"microservice_name": %q, "microservice_namespace": "n", "virtualization": "container", "code": "nginx", "connectivity": %s}`, name, conn)
	}
	services, _, err := ParseServices([]byte(`{"applicationID": "app1", "microservices": [` +
		ms("a", `[{"target_microservice": "existing"}, {"target_microservice_id": "b", "con_constraints": [{"type": "bandwidth", "threshold": "1M"}]}]`) + "]}"))
	if err != nil {
		t.Fatalf("ParseServices: %v", err)
	}
	eq(t, services[0].Connectivity, []api.Connectivity{
		{TargetMicroservice: "existing"},
		{TargetMicroservice: "b", Constraints: []api.ConConstraint{{Type: api.ConBandwidth, Threshold: 1e6}}},
	})

	tests := []struct {
		name  string
		input string
		want  []wantProblem
	}{
		{"cycle", `{"microservices": [` + ms("a", `[{"target_microservice": "b"}]`) + "," + ms("b", `[{"target_microservice": "a"}]`) + "]}",
			[]wantProblem{{"", "connectivity forms a cycle a -> b -> a"}}},
		{"itself", `{"microservices": [` + ms("a", `[{"target_microservice": "a"}]`) + "]}",
			[]wantProblem{{"microservices[0].connectivity[0].target_microservice", `must name another microservice, not "a" itself`}}},
		{"bad constraint", `{"microservices": [` + ms("a", `[{"source_endpoint": "cam", "con_constraints": [{"type": "latency", "threshold": "fast"}]}]`) + "]}",
			[]wantProblem{{"microservices[0].connectivity[0].con_constraints[0].threshold", `must be a number, got string "fast"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			services, _, err := ParseServices([]byte(tt.input))
			if services != nil {
				t.Errorf("ParseServices returned services with an error")
			}
			checkProblems(t, err, tt.want)
		})
	}
}

// TestValidateServiceConnectivity covers specs built in code, which reach
// ValidateService without the walker.
func TestValidateServiceConnectivity(t *testing.T) {
	tests := []struct {
		name string
		conn []api.Connectivity
		want []Problem // messages are matched by substring
	}{
		{name: "valid", conn: []api.Connectivity{
			{TargetMicroservice: "db", Constraints: []api.ConConstraint{{Type: api.ConLatency, Threshold: 1}, {Type: api.ConBandwidth, Threshold: 1e15}}},
			{TargetEndpoint: "db"},
			{SourceEndpoint: "db"},
		}},
		{name: "nothing set", conn: []api.Connectivity{{}},
			want: []Problem{{Field: "connectivity[0]", Message: "needs one of target_microservice, target_endpoint or source_endpoint"}}},
		{name: "NaN latency", conn: []api.Connectivity{{TargetEndpoint: "e", Constraints: []api.ConConstraint{{Type: api.ConLatency, Threshold: math.NaN()}}}},
			want: []Problem{{Field: "connectivity[0].con_constraints[0].threshold", Message: "must be a number > 0 (milliseconds), got NaN"}}},
		{name: "infinite bandwidth", conn: []api.Connectivity{{TargetEndpoint: "e", Constraints: []api.ConConstraint{{Type: api.ConBandwidth, Threshold: math.Inf(1)}}}},
			want: []Problem{{Field: "connectivity[0].con_constraints[0].threshold", Message: "must be a number > 0 (bit/s), got +Inf"}}},
		{name: "upper case type", conn: []api.Connectivity{{TargetEndpoint: "e", Constraints: []api.ConConstraint{{Type: "Latency", Threshold: 1}}}},
			want: []Problem{{Field: "connectivity[0].con_constraints[0].type", Message: `unknown connectivity constraint type "Latency"`}}},
		{name: "itself", conn: []api.Connectivity{{TargetMicroservice: "web"}},
			want: []Problem{{Field: "connectivity[0].target_microservice", Message: `must name another microservice, not "web" itself`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			s.Connectivity = tt.conn
			got := ValidateService("", &s)
			if len(got) != len(tt.want) {
				t.Fatalf("ValidateService = %v, want %v", got, tt.want)
			}
			for i, w := range tt.want {
				if got[i].Field != w.Field || !strings.Contains(got[i].Message, w.Message) {
					t.Errorf("problem %d = %v, want %q containing %q", i, got[i], w.Field, w.Message)
				}
			}
		})
	}
}

func TestValidateConnectivity(t *testing.T) {
	spec := func(name string, conn ...api.Connectivity) api.ServiceSpec {
		s := validSpec()
		s.Name, s.Connectivity = name, conn
		return s
	}
	to := func(name string) api.Connectivity { return api.Connectivity{TargetMicroservice: name} }

	// A diamond is acyclic.
	if got := ValidateConnectivity("app", []api.ServiceSpec{
		spec("a", to("b"), to("c")), spec("b", to("d")), spec("c", to("d")), spec("d"),
	}); len(got) != 0 {
		t.Errorf("diamond: %v", got)
	}

	got := ValidateConnectivity("app", []api.ServiceSpec{spec("a", to("b")), spec("b", to("x"), to("a"))})
	want := []Problem{
		{Field: "app.microservices[1].connectivity[0].target_microservice", Message: `no microservice named "x" in this application`},
		{Field: "app", Message: "connectivity forms a cycle a -> b -> a; the dataflows of an application must be acyclic to place it as a whole"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ValidateConnectivity =\n%v\nwant\n%v", got, want)
	}

	// A ring of 30 is named with its middle left out.
	var ring []api.ServiceSpec
	for i := range 30 {
		ring = append(ring, spec(fmt.Sprintf("s%d", i), to(fmt.Sprintf("s%d", (i+1)%30))))
	}
	got = ValidateConnectivity("", ring)
	if len(got) != 1 || got[0].Field != "" ||
		!strings.Contains(got[0].Message, "cycle s0 -> s1 -> s2 -> s3 -> s4 -> s5 -> s6 -> s7 -> s8 -> s9 -> s10 -> ... (19 more) -> s0;") {
		t.Errorf("ring: %v", got)
	}

	// Many cycles: only the first few are reported.
	var pairs []api.ServiceSpec
	for i := range 50 {
		a, b := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		pairs = append(pairs, spec(a, to(b)), spec(b, to(a)))
	}
	got = ValidateConnectivity("app", pairs)
	if len(got) != maxCycles || !strings.Contains(got[0].Message, "a0 -> b0 -> a0") {
		t.Errorf("50 cycles gave %d problems, want %d: %v", len(got), maxCycles, got)
	}
}
