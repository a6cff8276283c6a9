package pressure

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnitParseNodesFileFractalSample(t *testing.T) {
	f, err := ParseNodesFile(readTestdata(t, "nodes.yaml"))
	if err != nil {
		t.Fatalf("ParseNodesFile: %v", err)
	}
	want := NodesFile{
		Nodes: []NodeEntry{
			{Hostname: "gimli", IP: "192.168.0.83", Port: 61208, Orchestrator: OrchestratorDocker, Resources: []string{"cpu", "mem"}},
			{Hostname: "aragorn", IP: "192.168.0.111", Port: 61208, Orchestrator: OrchestratorKubernetes},
			{Hostname: "legolas", IP: "192.168.0.84", Port: 61208},
		},
		CustomOrchestrator: &Endpoint{Hostname: "gandalf", IP: "192.168.0.53", Port: 9999},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", f, want)
	}
	gimli := f.Nodes[0]
	if got := gimli.GlancesURL(); got != "http://192.168.0.83:61208" {
		t.Errorf("GlancesURL = %q", got)
	}
	if got := gimli.DockerHost(); got != "tcp://192.168.0.83:2375" {
		t.Errorf("DockerHost = %q", got)
	}
	p := f.Policy(DefaultPolicy())
	if got, want := p.For("gimli"), (Thresholds{CPUPercent: 80, MemoryPercent: 80}); got != want {
		t.Errorf("gimli thresholds = %+v, want %+v (load not listed)", got, want)
	}
	if got := p.For("aragorn"); got != DefaultPolicy().Default {
		t.Errorf("aragorn thresholds = %+v, want the default (no resources listed)", got)
	}
}

func TestUnitNodeEntryExtras(t *testing.T) {
	f, err := ParseNodesFile([]byte(`
- node:
    hostname: edge-7
    IP: fd00::7
    orchestrator: docker
    resources: [load, fs, alert, load]
    docker: tcp://[fd00::7]:2376
`))
	if err != nil {
		t.Fatalf("ParseNodesFile: %v", err)
	}
	n := f.Nodes[0]
	if n.Port != DefaultGlancesPort || f.CustomOrchestrator != nil {
		t.Errorf("port %d, orchestrator %v: want the default port and no custom orchestrator", n.Port, f.CustomOrchestrator)
	}
	if got := n.GlancesURL(); got != "http://[fd00::7]:61208" {
		t.Errorf("GlancesURL = %q", got)
	}
	if got := n.DockerHost(); got != "tcp://[fd00::7]:2376" {
		t.Errorf("DockerHost = %q", got)
	}
	if got, want := n.Resources, []string{"load", "fs", "alert"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Resources = %v, want %v (duplicates dropped)", got, want)
	}
	def := Thresholds{CPUPercent: 80, MemoryPercent: 80, LoadPerCore: 2, DiskPercent: 90}
	if got, want := n.Thresholds(def), (Thresholds{LoadPerCore: 2, DiskPercent: 90}); got != want {
		t.Errorf("Thresholds = %+v, want %+v", got, want)
	}
	base := Policy{Default: def, PerNode: map[string]Thresholds{"edge-7": {CPUPercent: 50}}}
	if got := f.Policy(base).For("edge-7"); got != (Thresholds{CPUPercent: 50}) {
		t.Errorf("an explicit PerNode entry was replaced: %+v", got)
	}
}

func TestUnitParseNodesFileRejects(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
		// index and field of the first *EntryError, when there is one.
		index int
		field string
	}{
		{name: "empty", input: "", want: []string{"empty"}},
		{name: "comments only", input: "# nothing\n", want: []string{"empty"}},
		{name: "not a list", input: "node: {hostname: a, IP: 10.0.0.1}\n", want: []string{"want a list of entries"}},
		{name: "bad yaml", input: "- node: [\n", want: []string{"nodes file: invalid YAML: line 1"}},
		{name: "two documents", input: "- node: {hostname: a, IP: 10.0.0.1}\n---\n- node: {hostname: b, IP: 10.0.0.2}\n", want: []string{"nodes file: invalid YAML: more than one document"}},
		{name: "only an orchestrator", input: "- custom-orchestrator: {hostname: g, IP: 10.0.0.9}\n", want: []string{"no node entries"}},
		{name: "entry is a string", input: "- gimli\n", want: []string{`entry 1: want ` + "`node:`", `found "gimli"`}, index: 1},
		{name: "unknown entry kind", input: "- nod: {hostname: a}\n", want: []string{`entry 1: unknown entry "nod"`}, index: 1},
		{name: "two keys in one entry", input: "- node: {hostname: a, IP: 10.0.0.1}\n  custom-orchestrator: {hostname: g, IP: 10.0.0.9}\n", want: []string{"entry 1: want exactly one key"}, index: 1},
		{name: "empty node", input: "- node:\n", want: []string{"entry 1 (node): want its fields", "found nothing"}, index: 1},
		{
			name:  "missing hostname",
			input: "- node:\n    IP: 10.0.0.1\n",
			want:  []string{"entry 1 (node): hostname: required"}, index: 1, field: "hostname",
		},
		{
			name:  "missing IP",
			input: "- node: {hostname: gimli}\n",
			want:  []string{`entry 1 (node "gimli"): IP: required`}, index: 1, field: "IP",
		},
		{
			name:  "bad IP",
			input: "- node: {hostname: gimli, IP: 'not an ip'}\n",
			want:  []string{`entry 1 (node "gimli"): IP: want an IP address or a host name, got "not an ip"`}, index: 1, field: "IP",
		},
		{
			name:  "port out of range",
			input: "- node: {hostname: a, IP: 10.0.0.1}\n- node: {hostname: gimli, IP: 10.0.0.2, port: 70000}\n",
			want:  []string{`entry 2 (node "gimli"): port: want an integer from 1 to 65535, got "70000"`}, index: 2, field: "port",
		},
		{
			name:  "port not a number",
			input: "- node: {hostname: gimli, IP: 10.0.0.1, port: http}\n",
			want:  []string{`port: want an integer from 1 to 65535, got "http"`}, index: 1, field: "port",
		},
		{
			name:  "unknown orchestrator",
			input: "- node: {hostname: gimli, IP: 10.0.0.1, orchestrator: nomad}\n",
			want:  []string{`entry 1 (node "gimli"): orchestrator: want docker or kubernetes, got "nomad"`}, index: 1, field: "orchestrator",
		},
		{
			name:  "unknown resource",
			input: "- node: {hostname: gimli, IP: 10.0.0.1, resources: [cpu, gpu]}\n",
			want:  []string{`resources: item 2: want one of cpu, mem, load, alert, fs, got "gpu"`}, index: 1, field: "resources",
		},
		{
			name:  "resources not a list",
			input: "- node: {hostname: gimli, IP: 10.0.0.1, resources: cpu}\n",
			want:  []string{`resources: want a list such as [cpu, mem], found "cpu"`}, index: 1, field: "resources",
		},
		{
			name:  "unknown field",
			input: "- node: {hostname: gimli, IP: 10.0.0.1, ports: 1}\n",
			want:  []string{`entry 1 (node "gimli"): ports: unknown field; want one of hostname, IP, port, orchestrator, resources, docker`}, index: 1, field: "ports",
		},
		{
			name:  "lowercase ip is not FRACTAL's field",
			input: "- node: {hostname: gimli, ip: 10.0.0.1}\n",
			want:  []string{"ip: unknown field", "IP: required"}, index: 1, field: "ip",
		},
		{
			name:  "field given twice",
			input: "- node: {hostname: gimli, IP: 10.0.0.1, port: 1, port: 2}\n",
			want:  []string{"port: given twice"}, index: 1, field: "port",
		},
		{
			name:  "duplicate hostname",
			input: "- node: {hostname: gimli, IP: 10.0.0.1}\n- node: {hostname: gimli, IP: 10.0.0.2}\n",
			want:  []string{`entry 2 (node "gimli"): hostname: "gimli" is already entry 1`}, index: 2, field: "hostname",
		},
		{
			name:  "hostname with a space",
			input: "- node: {hostname: 'gim li', IP: 10.0.0.1}\n",
			want:  []string{`hostname: want a name without spaces`}, index: 1, field: "hostname",
		},
		{
			name:  "bad docker address",
			input: "- node: {hostname: gimli, IP: 10.0.0.1, docker: '10.0.0.1:2375'}\n",
			want:  []string{`docker: want a Docker host address`}, index: 1, field: "docker",
		},
		{
			name:  "orchestrator has no resources",
			input: "- node: {hostname: a, IP: 10.0.0.1}\n- custom-orchestrator: {hostname: gandalf, IP: 10.0.0.9, resources: [cpu]}\n",
			want:  []string{`entry 2 (custom-orchestrator "gandalf"): resources: unknown field; want one of hostname, IP, port`}, index: 2, field: "resources",
		},
		{
			name:  "two custom orchestrators",
			input: "- node: {hostname: a, IP: 10.0.0.1}\n- custom-orchestrator: {hostname: g1, IP: 10.0.0.9}\n- custom-orchestrator: {hostname: g2, IP: 10.0.0.10}\n",
			want:  []string{`entry 3 (custom-orchestrator "g2"): there can be only one custom orchestrator, entry 2 is one already`}, index: 3,
		},
		{
			name:  "every problem is reported",
			input: "- node: {hostname: a, IP: 10.0.0.1, port: 0}\n- node: {hostname: b, orchestrator: swarm}\n",
			want:  []string{`entry 1 (node "a"): port`, `entry 2 (node "b"): IP: required`, `entry 2 (node "b"): orchestrator`}, index: 1, field: "port",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseNodesFile([]byte(tt.input))
			if err == nil {
				t.Fatalf("ParseNodesFile = %+v, want an error", f)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var ee *EntryError
			switch {
			case tt.index == 0 && errors.As(err, &ee):
				t.Errorf("error %v is an entry error, want one about the file", err)
			case tt.index != 0 && !errors.As(err, &ee):
				t.Errorf("error %v is not an *EntryError", err)
			case tt.index != 0 && (ee.Index != tt.index || ee.Field != tt.field):
				t.Errorf("first entry error at entry %d field %q, want entry %d field %q", ee.Index, ee.Field, tt.index, tt.field)
			}
		})
	}
}
