package sla

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// clientsrvrWant is what testdata/clientsrvr.json must parse to.
func clientsrvrWant() *Document {
	return &Document{
		SLAVersion: "v2.0",
		CustomerID: "Admin",
		Applications: []Application{{
			Name:        "clientsrvr",
			Namespace:   "test",
			Description: "Simple demo with curl client and Nginx server",
			Services: []api.ServiceSpec{
				{
					Name:           "curl",
					Namespace:      "test",
					Virtualization: api.VirtContainer,
					Code:           "docker.io/curlimages/curl:7.82.0",
					Cmd:            []string{"sh", "-c", "curl 10.30.55.55 ; sleep 5"},
					MemoryMB:       100,
					VCPUs:          1,
					Instances:      1,
				},
				{
					Name:           "nginx",
					Namespace:      "test",
					Virtualization: api.VirtContainer,
					Code:           "docker.io/library/nginx:latest",
					MemoryMB:       100,
					VCPUs:          1,
					Port:           "80:80/tcp",
					Addresses:      &api.Addresses{RRIP: "10.30.55.55"},
					Instances:      1,
				},
			},
		}},
	}
}

func TestParseExamples(t *testing.T) {
	tests := []struct {
		name string
		file string
		want *Document
	}{
		{name: "clientsrvr", file: "clientsrvr.json", want: clientsrvrWant()},
		{name: "clientsrvr as YAML", file: "clientsrvr.yaml", want: clientsrvrWant()},
		{name: "unikernel nginx", file: "unikernel-nginx.json", want: &Document{
			SLAVersion: "v2.0",
			CustomerID: "Admin",
			Applications: []Application{{
				Name:        "nginx",
				Namespace:   "test",
				Description: "Simple demo of an Nginx server Unikernel",
				Services: []api.ServiceSpec{{
					Name:           "nginx",
					Namespace:      "test",
					Virtualization: api.VirtUnikernel,
					Code:           "https://github.com/Sabanic-P/app-nginx/releases/download/v1.0/kernel.tar.gz",
					Arch:           []string{"amd64"},
					MemoryMB:       100,
					VCPUs:          1,
					Port:           "80:80",
					Addresses:      &api.Addresses{RRIP: "10.30.30.26"},
					Instances:      1,
				}},
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

func TestParseServicesDashboardForm(t *testing.T) {
	services, appID, err := ParseServices(readTestdata(t, "dashboard-microservices.json"))
	if err != nil {
		t.Fatalf("ParseServices: %v", err)
	}
	want := []api.ServiceSpec{clientsrvrWant().Applications[0].Services[1]}
	want[0].Port = ""
	if appID != "" || !reflect.DeepEqual(services, want) {
		t.Errorf("ParseServices = %s, %q; want %s, \"\"", dump(services), appID, dump(want))
	}

	services, appID, err = ParseServices([]byte(`{"applicationID": "app1", "microservices": [
		{"microservice_name": "job", "microservice_namespace": "batch", "virtualization": "process",
		 "code": "/usr/bin/sleep", "cmd": ["10"], "one_shot": true, "instances": 3}]}`))
	if err != nil {
		t.Fatalf("ParseServices: %v", err)
	}
	wantJob := api.ServiceSpec{Name: "job", Namespace: "batch", Virtualization: api.VirtProcess,
		Code: "/usr/bin/sleep", Cmd: []string{"10"}, OneShot: true, Instances: 3}
	if appID != "app1" || len(services) != 1 || !reflect.DeepEqual(services[0], wantJob) {
		t.Errorf("ParseServices = %s, %q; want %s, \"app1\"", dump(services), appID, dump(wantJob))
	}
}

func TestParseServicesInvalid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []wantProblem
	}{
		{"no microservices", `{"applicationID": "x"}`, []wantProblem{{"microservices", "required"}}},
		{"empty list", `{"microservices": []}`, []wantProblem{{"microservices", "at least one"}}},
		{"whole SLA", string(readTestdata(t, "clientsrvr.json")), []wantProblem{{"", "whole SLA"}}},
		{"duplicate names", `{"microservices": [
			{"microservice_name": "a", "microservice_namespace": "n", "virtualization": "container", "code": "nginx"},
			{"microservice_name": "a", "microservice_namespace": "n", "virtualization": "container", "code": "nginx"}]}`,
			[]wantProblem{{"microservices[1].microservice_name", `duplicate microservice name "a" (also microservices[0])`}}},
		{"paths start at microservices", `{"microservices": [{"microservice_name": "a", "microservice_namespace": "n", "virtualization": "container", "code": "nginx", "memory": -5}]}`,
			[]wantProblem{{"microservices[0].memory", "must be >= 0"}}},
		{"unknown top-level field", `{"microservice": [], "microservices": [{"microservice_name": "a", "microservice_namespace": "n", "virtualization": "container", "code": "nginx"}]}`,
			[]wantProblem{{"microservice", `unknown field (did you mean "microservices"?)`}}},
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

// TestParseAcceptedVariants covers inputs that look odd but are valid, and
// checks the value they produce.
func TestParseAcceptedVariants(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		check func(t *testing.T, d *Document)
	}{
		{
			name:  "sla_version v2 normalised",
			input: replace(t, readTestdata(t, "clientsrvr.json"), `"v2.0"`, `"v2"`),
			check: func(t *testing.T, d *Document) { eq(t, d.SLAVersion, "v2.0") },
		},
		{
			name:  "memory 100.0 is a whole number",
			input: replace(t, readTestdata(t, "clientsrvr.json"), `"memory": 100,`, `"memory": 100.0,`),
			check: func(t *testing.T, d *Document) { eq(t, svc(d, 0).MemoryMB, int64(100)) },
		},
		{
			name: "fractional vcpus, instances, process, env, arch aliases",
			input: mutate(t, func(doc map[string]any) {
				m := msMap(doc, 0)
				m["vcpus"] = 0.5
				m["instances"] = 3
				m["virtualization"] = "process"
				m["code"] = "https://example.com/bin/tool"
				m["environment"] = []any{"A=b=c", "_X="}
				m["arch"] = []any{"x86_64", "AARCH64", "riscv64"}
				m["one_shot"] = true
				m["privileged"] = false
				m["volumes"] = []any{map[string]any{"anything": 1}}
				m["connectivity"] = []any{}
				m["state"] = "RUNNING"
				m["port"] = "8080:80/tcp;53/udp"
			}),
			check: func(t *testing.T, d *Document) {
				s := svc(d, 0)
				eq(t, s.VCPUs, 0.5)
				eq(t, s.Instances, 3)
				eq(t, s.Virtualization, api.VirtProcess)
				eq(t, s.Environment, []string{"A=b=c", "_X="})
				eq(t, s.Arch, []string{"amd64", "arm64", "riscv64"})
				eq(t, s.OneShot, true)
				eq(t, s.Port, "8080:80/tcp;53/udp")
			},
		},
		{
			name: "instances 0 and null fields",
			input: mutate(t, func(doc map[string]any) {
				m := msMap(doc, 1)
				m["instances"] = 0
				m["addresses"] = nil
				m["cmd"] = nil
				m["constraints"] = nil
			}),
			check: func(t *testing.T, d *Document) {
				s := svc(d, 1)
				eq(t, s.Instances, 0)
				eq(t, s.Addresses, (*api.Addresses)(nil))
			},
		},
		{
			name: "every constraint type",
			input: mutate(t, func(doc map[string]any) {
				msMap(doc, 0)["constraints"] = []any{
					map[string]any{"type": "direct", "node": "xavier1;xavier2", "cluster": "gpu"},
					map[string]any{"type": "direct", "cluster": "gpu"},
					map[string]any{"type": "clusters", "allowed": []any{"cluster1", "cluster2"}},
					map[string]any{"type": "latency", "area": "munich", "threshold": 20},
					map[string]any{"type": "geo", "location": "48.1, 11.6", "threshold": 50.5},
					map[string]any{"type": "addons", "needs": []any{"gpu"}},
				}
			}),
			check: func(t *testing.T, d *Document) {
				eq(t, svc(d, 0).Constraints, []api.Constraint{
					{Type: "direct", Node: "xavier1;xavier2", Cluster: "gpu"},
					{Type: "direct", Cluster: "gpu"},
					{Type: "clusters", Allowed: []string{"cluster1", "cluster2"}},
					{Type: "latency", Area: "munich", Threshold: 20},
					{Type: "geo", Location: "48.1, 11.6", Threshold: 50.5},
					{Type: "addons", Needs: []string{"gpu"}},
				})
			},
		},
		{
			name: "IPv6 round-robin and closest addresses",
			input: mutate(t, func(doc map[string]any) {
				msMap(doc, 1)["addresses"] = map[string]any{
					"rr_ip": "10.30.55.55", "rr_ip_v6": "fdff:2000::55:55", "closest_ip": "10.30.55.56"}
			}),
			check: func(t *testing.T, d *Document) {
				eq(t, svc(d, 1).Addresses, &api.Addresses{RRIP: "10.30.55.55", RRIPv6: "fdff:2000::55:55", ClosestIP: "10.30.55.56"})
			},
		},
		{
			name: "unikernel with two kernels and two archs",
			input: replace(t, replace(t, readTestdata(t, "unikernel-nginx.json"),
				`kernel.tar.gz"`, `kernel.tar.gz,/srv/kernels/nginx-arm64.tar.gz"`),
				`["amd64"]`, `["amd64", "arm64"]`),
			check: func(t *testing.T, d *Document) { eq(t, svc(d, 0).Arch, []string{"amd64", "arm64"}) },
		},
		{
			name:  "YAML port as a number",
			input: []byte(strings.Replace(string(readTestdata(t, "clientsrvr.yaml")), "port: 80:80/tcp", "port: 80", 1)),
			check: func(t *testing.T, d *Document) { eq(t, svc(d, 1).Port, "80") },
		},
		{
			name: "YAML anchors and merge keys",
			input: []byte(`sla_version: v2.0
customerID: Admin
applications:
  - application_name: app
    application_namespace: test
    microservices:
      - &base
        microservice_name: a
        microservice_namespace: test
        virtualization: container
        code: nginx:1.25
        memory: 256
      - <<: *base
        microservice_name: b
`),
			check: func(t *testing.T, d *Document) {
				b := d.Applications[0].Services[1]
				eq(t, b.Name, "b")
				eq(t, b.Code, "nginx:1.25")
				eq(t, b.MemoryMB, int64(256))
			},
		},
		{
			name:  "byte order mark and surrounding whitespace",
			input: append([]byte("\xef\xbb\xbf\n  "), readTestdata(t, "clientsrvr.json")...),
			check: func(t *testing.T, d *Document) { eq(t, d, clientsrvrWant()) },
		},
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

const (
	m0 = "applications[0].microservices[0]"
	m1 = "applications[0].microservices[1]"
)

type wantProblem struct{ field, message string }

type invalidCase struct {
	name  string
	input []byte
	want  []wantProblem
}

// invalidCases are broken descriptors with the exact problems each must
// give. Most break one thing and must give exactly one problem, which also
// checks that a field is not reported twice.
func invalidCases(t testing.TB) []invalidCase {
	base := readTestdata(t, "clientsrvr.json")
	ms := func(i int, key string, value any) []byte {
		return mutate(t, func(doc map[string]any) { msMap(doc, i)[key] = value })
	}
	del := func(i int, key string) []byte {
		return mutate(t, func(doc map[string]any) { delete(msMap(doc, i), key) })
	}
	constraint := func(c any) []byte { return ms(0, "constraints", []any{c}) }
	obj := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	one := func(field, message string) []wantProblem { return []wantProblem{{field, message}} }
	return []invalidCase{
		// Decoding and the document as a whole.
		{"empty", nil, one("", "descriptor is empty")},
		{"only whitespace", []byte(" \n\t "), one("", "descriptor is empty")},
		{"only a YAML comment", []byte("# nothing\n"), one("", "empty")},
		{"too large", append(bytes.Repeat([]byte(" "), MaxSize), '{', '}'), one("", "the limit is 1048576 (1 MiB)")},
		{"top-level list", []byte(`[1, 2]`), one("", "must be an object with sla_version, customerID and applications, got list")},
		{"top-level string", []byte(`just words`), one("", `got string "just words"`)},
		{"JSON syntax error", []byte("{\n  \"sla_version\": \"v2.0\",\n  \"customerID\" \"Admin\"\n}"),
			one("", "invalid JSON at line 3, column 16")},
		{"truncated JSON", base[:len(base)/2], one("", "invalid JSON")},
		{"trailing data", append(append([]byte{}, base...), []byte(" {}")...), one("", "unexpected data after the top-level value")},
		{"YAML syntax error", []byte("sla_version: v2.0\napplications: [\n"), one("", "invalid YAML")},
		{"two YAML documents", []byte("sla_version: v2.0\n---\nsla_version: v2.0\n"), one("", "more than one document")},
		{"YAML alias bomb", []byte(aliasBomb()), one("", "aliases expand to more than")},
		{"too deep", []byte(strings.Repeat("[", 100) + strings.Repeat("]", 100)), one("", "deeper than 64 levels")},
		{"microservices form", readTestdata(t, "dashboard-microservices.json"), one("", "list of microservices")},
		{"duplicate JSON key", replace(t, base, `"customerID" : "Admin",`, `"customerID" : "Admin", "customerID": "Bob",`),
			one("customerID", "duplicate field")},
		{"duplicate YAML key", []byte(strings.Replace(string(readTestdata(t, "clientsrvr.yaml")), "customerID: Admin\n", "customerID: Admin\ncustomerID: Bob\n", 1)),
			one("customerID", "duplicate field")},
		{"unknown top-level field", replace(t, base, `"customerID" : "Admin",`, `"customerID" : "Admin", "foo": 1,`), one("foo", "unknown field")},
		{"wrong sla_version", replace(t, base, `"v2.0"`, `"v1.0"`), one("sla_version", `must be "v2.0", got "v1.0"`)},
		{"missing sla_version", replace(t, base, `"sla_version" : "v2.0",`, ``), one("sla_version", "required")},
		{"sla_version a number", replace(t, base, `"v2.0"`, `2`), one("sla_version", "must be a string, got number 2")},
		{"applications empty", []byte(`{"sla_version": "v2.0", "applications": []}`), one("applications", "at least one")},
		{"applications an object", []byte(`{"sla_version": "v2.0", "applications": {}}`), one("applications", "must be a list, got object")},
		{"application not an object", []byte(`{"sla_version": "v2.0", "applications": ["x"]}`), one("applications[0]", `must be an object, got string "x"`)},
		{"customerID a list", replace(t, base, `"Admin"`, `["Admin"]`), one("customerID", "must be a string, got list")},

		// Applications.
		{"application name missing", replace(t, base, `"application_name" : "clientsrvr",`, ``), one("applications[0].application_name", "required")},
		{"application namespace with dash", replace(t, base, `"application_namespace" : "test"`, `"application_namespace" : "te-st"`),
			one("applications[0].application_namespace", `must contain only letters and digits, got "te-st"`)},
		{"application name too long", replace(t, base, `"clientsrvr"`, `"`+strings.Repeat("a", 31)+`"`),
			one("applications[0].application_name", "must be at most 30 characters, got 31")},
		{"application name a number", replace(t, base, `"clientsrvr"`, `5`),
			one("applications[0].application_name", "must be a string, got number 5")},
		{"duplicate application", mutate(t, func(doc map[string]any) {
			apps := doc["applications"].([]any)
			doc["applications"] = append(apps, apps[0])
		}), one("applications[1].application_name", "application clientsrvr.test is already defined by applications[0]")},
		{"unknown application field", replace(t, base, `"application_desc"`, `"application_description"`),
			one("applications[0].application_description", `unknown field (did you mean "application_desc"?)`)},

		// Names.
		{"service name with dash", ms(0, "microservice_name", "my-svc"), one(m0+".microservice_name", "must contain only letters and digits")},
		{"service name too long", ms(0, "microservice_name", strings.Repeat("x", 31)), one(m0+".microservice_name", "must be at most 30 characters")},
		{"service name empty", ms(0, "microservice_name", ""), one(m0+".microservice_name", "required")},
		{"service namespace missing", del(0, "microservice_namespace"), one(m0+".microservice_namespace", "required")},
		{"service name not a string", ms(0, "microservice_name", true), one(m0+".microservice_name", "must be a string, got boolean true")},
		{"duplicate microservice name", ms(1, "microservice_name", "curl"), one(m1+".microservice_name", `duplicate microservice name "curl" (also microservices[0])`)},

		// Fields.
		{"unknown field", ms(0, "memroy", 100), one(m0+".memroy", `unknown field (did you mean "memory"?)`)},
		{"unrelated unknown field", ms(0, "replicas", 2), one(m0+".replicas", "unknown field")},
		{"microservice not an object", mutate(t, func(doc map[string]any) {
			doc["applications"].([]any)[0].(map[string]any)["microservices"] = []any{"nginx"}
		}), one(m0, `must be an object, got string "nginx"`)},

		// Numbers.
		{"memory negative", ms(0, "memory", -1), one(m0+".memory", "must be >= 0")},
		{"memory a string", ms(0, "memory", "abc"), one(m0+".memory", `must be a number, got string "abc"`)},
		{"memory a numeric string", ms(0, "memory", "100"), one(m0+".memory", `must be a number, got string "100"`)},
		{"memory fractional", replace(t, base, `"memory": 100,`, `"memory": 100.5,`), one(m0+".memory", "must be a whole number, got number 100.5")},
		{"YAML not a number", []byte(strings.Replace(string(readTestdata(t, "clientsrvr.yaml")), "vcpus: 1\n", "vcpus: .nan\n", 1)),
			one(m0+".vcpus", "must be a finite number, got number .nan")},
		{"memory above 4 TiB", ms(0, "memory", 4194305), one(m0+".memory", "must be <= 4194304")},
		{"memory huge", replace(t, base, `"memory": 100,`, `"memory": 1e30,`), one(m0+".memory", "is out of range, got number 1e30")},
		{"memory beyond float64", replace(t, base, `"memory": 100,`, `"memory": 1e400,`), one(m0+".memory", "is out of range, got number 1e400")},
		{"vcpus negative", ms(0, "vcpus", -0.5), one(m0+".vcpus", "must be >= 0, got -0.5")},
		{"vcpus too many", ms(0, "vcpus", 1025), one(m0+".vcpus", "must be <= 1024")},
		{"vcpus a list", ms(0, "vcpus", []any{}), one(m0+".vcpus", "must be a number, got list")},
		{"vgpus fractional", ms(0, "vgpus", 0.5), one(m0+".vgpus", "must be a whole number")},
		{"vtpus negative", ms(0, "vtpus", -2), one(m0+".vtpus", "must be >= 0")},
		{"bandwidth_in negative", ms(0, "bandwidth_in", -1), one(m0+".bandwidth_in", "must be >= 0")},
		{"bandwidth_out a bool", ms(0, "bandwidth_out", false), one(m0+".bandwidth_out", "must be a number, got boolean false")},
		{"storage negative", ms(0, "storage", -1), one(m0+".storage", "must be >= 0")},
		{"instances too many", ms(0, "instances", 1001), one(m0+".instances", "must be <= 1000")},
		{"instances negative", ms(0, "instances", -1), one(m0+".instances", "must be >= 0")},
		{"YAML infinity", []byte(strings.Replace(string(readTestdata(t, "clientsrvr.yaml")), "vcpus: 1\n", "vcpus: .inf\n", 1)),
			one(m0+".vcpus", "is out of range, got number .inf")},

		// Virtualization and code.
		{"bad virtualization", ms(0, "virtualization", "docker"), one(m0+".virtualization", `must be one of container, unikernel, process, got "docker"`)},
		{"missing virtualization", del(0, "virtualization"), one(m0+".virtualization", "required")},
		{"missing code", del(0, "code"), one(m0+".code", "required")},
		{"blank code", ms(0, "code", "  "), one(m0+".code", "required")},
		{"image with upper case", ms(0, "code", "docker.io/Library/nginx"), one(m0+".code", `path component "Library"`)},
		{"image with a space", ms(0, "code", "nginx latest"), one(m0+".code", "container image reference")},
		{"image as a URL", ms(0, "code", "https://docker.io/nginx"), one(m0+".code", "container image reference")},
		{"unikernel relative path", replace(t, readTestdata(t, "unikernel-nginx.json"),
			`"https://github.com/Sabanic-P/app-nginx/releases/download/v1.0/kernel.tar.gz"`, `"kernel.tar.gz"`),
			one(m0+".code", `must be an http(s) URL or an absolute path of a unikernel image, got "kernel.tar.gz"`)},
		{"unikernel arch count", replace(t, readTestdata(t, "unikernel-nginx.json"), `["amd64"]`, `["amd64", "arm64"]`),
			one(m0+".arch", "has 2 entries but code names 1 unikernel image(s)")},
		{"process relative path", mutate(t, func(doc map[string]any) {
			m := msMap(doc, 0)
			m["virtualization"] = "process"
			m["code"] = "bin/sleep"
		}), one(m0+".code", "absolute path of an executable")},

		// Lists of strings.
		{"cmd a string", ms(0, "cmd", "sh -c true"), one(m0+".cmd", `must be a list, got string "sh -c true"`)},
		{"cmd item a number", ms(0, "cmd", []any{"sh", 1}), one(m0+".cmd[1]", "must be a string, got number 1")},
		{"args item null", ms(0, "args", []any{nil}), one(m0+".args[0]", "must be a string, got null")},
		{"cmd with NUL", ms(0, "cmd", []any{"a\x00b"}), one(m0+".cmd[0]", "NUL")},
		{"environment without =", ms(0, "environment", []any{"FOO"}), one(m0+".environment[0]", `must be KEY=VALUE, got "FOO"`)},
		{"environment bad key", ms(0, "environment", []any{"A=1", "1X=2"}), one(m0+".environment[1]", `variable name "1X"`)},
		{"environment duplicate", ms(0, "environment", []any{"A=1", "A=2"}), one(m0+".environment[1]", "already set by environment[0]")},
		{"arch unknown", ms(0, "arch", []any{"sparc"}), one(m0+".arch[0]", `must be one of amd64, arm64, arm, 386, riscv64, got "sparc"`)},
		{"arch twice", ms(0, "arch", []any{"amd64", "x86_64"}), one(m0+".arch[1]", "listed twice")},
		{"added_files an object", ms(0, "added_files", map[string]any{}), one(m0+".added_files", "must be a list, got object")},
		{"volumes a string", ms(0, "volumes", "x"), one(m0+".volumes", "must be a list")},

		// Booleans.
		{"one_shot a string", ms(0, "one_shot", "yes"), one(m0+".one_shot", `must be a boolean, got string "yes"`)},
		{"privileged a number", ms(0, "privileged", 1), one(m0+".privileged", "must be a boolean, got number 1")},

		// Ports.
		{"port not a number", ms(1, "port", "80:x"), one(m1+".port", `entry "80:x": container port: "x" is not a port number`)},
		{"port zero", ms(1, "port", "0:80"), one(m1+".port", "host port: 0 is outside 1-65535")},
		{"port too high", ms(1, "port", "70000"), one(m1+".port", "70000 is outside 1-65535")},
		{"port protocol", ms(1, "port", "80:80/sctp"), one(m1+".port", `protocol "sctp" must be tcp or udp`)},
		{"port empty entry", ms(1, "port", "80:80;"), one(m1+".port", "entry 2")},
		{"port three parts", ms(1, "port", "80:80:80"), one(m1+".port", "not a port number")},
		{"port mapped twice", ms(1, "port", "80:80;80:8080"), one(m1+".port", "host port 80/tcp is mapped twice")},
		{"port a list", ms(1, "port", []any{"80"}), one(m1+".port", "must be a string, got list")},
		{"port a negative number", ms(1, "port", -1), one(m1+".port", `"-1" is not a port number`)},

		// Addresses.
		{"rr_ip outside range", ms(1, "addresses", obj("rr_ip", "10.31.0.1")), one(m1+".addresses.rr_ip", "must be inside 10.30.0.0/16")},
		{"rr_ip not an address", ms(1, "addresses", obj("rr_ip", "10.30.1")), one(m1+".addresses.rr_ip", "must be an IPv4 address")},
		{"rr_ip IPv6", ms(1, "addresses", obj("rr_ip", "fdff:2000::1")), one(m1+".addresses.rr_ip", "must be an IPv4 address")},
		{"rr_ip_v6 outside range", ms(1, "addresses", obj("rr_ip_v6", "fdff:1000::1")), one(m1+".addresses.rr_ip_v6", "must be inside fdff:2000::/21")},
		{"rr_ip_v6 IPv4", ms(1, "addresses", obj("rr_ip_v6", "10.30.0.1")), one(m1+".addresses.rr_ip_v6", "must be an IPv6 address")},
		{"closest_ip outside range", ms(1, "addresses", obj("closest_ip", "192.168.1.1")), one(m1+".addresses.closest_ip", "must be inside 10.30.0.0/16")},
		{"closest_ip same as rr_ip", ms(1, "addresses", obj("rr_ip", "10.30.0.1", "closest_ip", "10.30.0.1")), one(m1+".addresses.closest_ip", "must differ from rr_ip")},
		{"addresses unknown field", ms(1, "addresses", obj("rr_ipv6", "fdff:2000::1")), one(m1+".addresses.rr_ipv6", `unknown field (did you mean "rr_ip_v6"?)`)},
		{"addresses a string", ms(1, "addresses", "10.30.0.1"), one(m1+".addresses", "must be an object")},
		{"rr_ip a number", ms(1, "addresses", obj("rr_ip", 10)), one(m1+".addresses.rr_ip", "must be a string, got number 10")},

		// Constraints.
		{"constraints an object", ms(0, "constraints", obj("type", "direct")), one(m0+".constraints", "must be a list, got object")},
		{"constraint not an object", constraint("direct"), one(m0+".constraints[0]", `must be an object, got string "direct"`)},
		{"constraint without type", constraint(obj("cluster", "gpu")), one(m0+".constraints[0].type", "required")},
		{"constraint unknown type", constraint(obj("type", "gpu")), one(m0+".constraints[0].type", `unknown constraint type "gpu"`)},
		{"direct without target", constraint(obj("type", "direct")), one(m0+".constraints[0]", "a direct constraint needs cluster, node or both")},
		{"direct empty node name", constraint(obj("type", "direct", "node", "a;;b")), one(m0+".constraints[0].node", `separated by ";"`)},
		{"direct with allowed", constraint(obj("type", "direct", "cluster", "c", "allowed", []any{"x"})), one(m0+".constraints[0].allowed", "unknown field")},
		{"direct cluster a list", constraint(obj("type", "direct", "cluster", []any{"c"})), one(m0+".constraints[0].cluster", "must be a string, got list")},
		{"clusters empty", constraint(obj("type", "clusters", "allowed", []any{})), one(m0+".constraints[0].allowed", "must list at least one cluster")},
		{"clusters missing allowed", constraint(obj("type", "clusters")), one(m0+".constraints[0].allowed", "must list at least one cluster")},
		{"clusters empty name", constraint(obj("type", "clusters", "allowed", []any{"a", ""})), one(m0+".constraints[0].allowed[1]", "must not be empty")},
		{"latency zero threshold", constraint(obj("type", "latency", "area", "munich", "threshold", 0)), one(m0+".constraints[0].threshold", "must be a number > 0 (milliseconds)")},
		{"latency without area", constraint(obj("type", "latency", "threshold", 10)), one(m0+".constraints[0].area", "required")},
		{"latency threshold a string", constraint(obj("type", "latency", "area", "x", "threshold", "10ms")), one(m0+".constraints[0].threshold", `must be a number, got string "10ms"`)},
		{"geo latitude out of range", constraint(obj("type", "geo", "location", "91,0", "threshold", 5)), one(m0+".constraints[0].location", "latitude must be within -90..90")},
		{"geo longitude out of range", constraint(obj("type", "geo", "location", "0,181", "threshold", 5)), one(m0+".constraints[0].location", "longitude must be within -180..180")},
		{"geo location not numbers", constraint(obj("type", "geo", "location", "munich", "threshold", 5)), one(m0+".constraints[0].location", `must be "lat,lon"`)},
		{"geo negative threshold", constraint(obj("type", "geo", "location", "48.1,11.6", "threshold", -1)), one(m0+".constraints[0].threshold", "must be a number > 0 (km)")},
		{"addons without needs", constraint(obj("type", "addons")), one(m0+".constraints[0].needs", "must list at least one add-on")},

		// Several problems at once, in several services.
		{"several problems", mutate(t, func(doc map[string]any) {
			a := msMap(doc, 0)
			a["memory"] = -1
			a["microservice_name"] = "a-b"
			a["memroy"] = 1
			b := msMap(doc, 1)
			b["port"] = "x"
			b["constraints"] = []any{obj("type", "clusters")}
			delete(b, "code")
		}), []wantProblem{
			{m0 + ".memroy", "unknown field"},
			{m0 + ".microservice_name", "letters and digits"},
			{m0 + ".memory", "must be >= 0"},
			{m1 + ".code", "required"},
			{m1 + ".port", "not a port number"},
			{m1 + ".constraints[0].allowed", "at least one cluster"},
		}},
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tt := range invalidCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse(tt.input)
			if doc != nil {
				t.Errorf("Parse returned a document along with error %v", err)
			}
			checkProblems(t, err, tt.want)
		})
	}
}

// checkProblems asserts that err is a *ValidationError matching ErrInvalid
// with exactly the wanted problems: same fields, messages containing the
// wanted text.
func checkProblems(t *testing.T, err error, want []wantProblem) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not match ErrInvalid", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T is not a *ValidationError", err)
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("got %d problems, want %d: %v", len(ve.Problems), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, p := range ve.Problems {
			if p.Field == w.field && strings.Contains(p.Message, w.message) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no problem %q containing %q in: %v", w.field, w.message, err)
		}
	}
}

func TestValidationError(t *testing.T) {
	err := &ValidationError{Problems: []Problem{
		{Field: "", Message: "descriptor is empty"},
		{Field: "a.b", Message: "must be >= 0"},
	}}
	if got, want := err.Error(), "descriptor is empty; a.b: must be >= 0"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("errors.Is(err, ErrInvalid) = false")
	}
	if errors.Is(err, errors.New("other")) {
		t.Error("errors.Is matches an unrelated error")
	}
}

func TestManyProblemsAreCapped(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"sla_version": "v2.0", "applications": [{"application_name": "a", "application_namespace": "b", "microservices": [`)
	for i := range 300 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"memory": "x"}`)
	}
	sb.WriteString("]}]}")
	_, err := Parse([]byte(sb.String()))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse error = %v, want a *ValidationError", err)
	}
	if len(ve.Problems) != maxProblems+1 {
		t.Fatalf("got %d problems, want %d", len(ve.Problems), maxProblems+1)
	}
	if last := ve.Problems[maxProblems]; !strings.Contains(last.Message, "more problems not shown") {
		t.Errorf("last problem = %v, want a summary", last)
	}
}

// TestRoundTrip checks that a parsed document, marshalled, is an SLA that
// parses to the same document.
func TestRoundTrip(t *testing.T) {
	inputs := map[string][]byte{
		"clientsrvr":      readTestdata(t, "clientsrvr.json"),
		"unikernel nginx": readTestdata(t, "unikernel-nginx.json"),
		"instances 0": mutate(t, func(doc map[string]any) {
			m := msMap(doc, 0)
			m["instances"] = 0
			m["constraints"] = []any{map[string]any{"type": "geo", "location": "1,2", "threshold": 0.25}}
			m["environment"] = []any{"A=<&>"}
		}),
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse(input)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			out, err := json.Marshal(doc)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
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

// mutate decodes clientsrvr.json, applies f and encodes it again.
func mutate(t testing.TB, f func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readTestdata(t, "clientsrvr.json"), &doc); err != nil {
		t.Fatal(err)
	}
	f(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// msMap returns microservice i of the first application of a decoded SLA.
func msMap(doc map[string]any, i int) map[string]any {
	app := doc["applications"].([]any)[0].(map[string]any)
	return app["microservices"].([]any)[i].(map[string]any)
}

// replace replaces the first old in data, failing if there is none, so that
// a test cannot silently test the unchanged input.
func replace(t testing.TB, data []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%q not found in input", old)
	}
	return bytes.Replace(data, []byte(old), []byte(new), 1)
}

func svc(d *Document, i int) api.ServiceSpec { return d.Applications[0].Services[i] }

func eq[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s, want %s", dump(got), dump(want))
	}
}

func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// aliasBomb is a YAML document whose aliases expand to 10^9 values.
func aliasBomb() string {
	var sb strings.Builder
	sb.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		sb.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("*a" + string(rune('0'+i-1)))
		}
		sb.WriteString("]\n")
	}
	return sb.String()
}
