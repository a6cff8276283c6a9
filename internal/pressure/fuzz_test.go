package pressure

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParseNodesFile checks, for any input, that ParseNodesFile never panics,
// that a rejection wraps ErrInvalid, and that an accepted file holds only
// valid entries and survives being written back as FRACTAL YAML and parsed
// again unchanged.
func FuzzParseNodesFile(f *testing.F) {
	f.Add(readTestdata(f, "nodes.yaml"))
	for _, s := range []string{
		"- node: {hostname: a, IP: 10.0.0.1, port: 1, orchestrator: docker, resources: [cpu, mem, load, fs, alert]}\n",
		"- node: {hostname: a, IP: fd00::1, docker: unix:///run/docker.sock}\n- custom-orchestrator: {hostname: g, IP: h.example}\n",
		"- node: &n {hostname: a, IP: 10.0.0.1}\n- node: *n\n",
		"- node: {hostname: a, IP: 10.0.0.1, resources: [cpu, gpu]}\n",
		"- node: {hostname: [a], IP: {x: 1}, port: -1}\n",
		"- node:\n- custom-orchestrator:\n",
		"[]", "~", "- 1\n- [2]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseNodesFile(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !reflect.DeepEqual(file, NodesFile{}) {
				t.Fatalf("rejected file returned content %+v", file)
			}
			return
		}
		if len(file.Nodes) == 0 {
			t.Fatal("accepted a file without nodes")
		}
		seen := map[string]bool{}
		for _, n := range file.Nodes {
			if n.Hostname == "" || n.IP == "" || n.Port < 1 || n.Port > 65535 || seen[n.Hostname] {
				t.Fatalf("accepted an invalid or repeated node %+v", n)
			}
			seen[n.Hostname] = true
			for _, r := range n.Resources {
				if !slices.Contains(resourceNames, r) {
					t.Fatalf("accepted resource %q", r)
				}
			}
		}
		again, err := ParseNodesFile(render(t, file))
		if err != nil {
			t.Fatalf("re-parse of the rendered file: %v\n%s", err, render(t, file))
		}
		if !reflect.DeepEqual(file, again) {
			t.Fatalf("round trip changed the file:\n%+v\nbecame\n%+v", file, again)
		}
	})
}

// render writes a NodesFile back in FRACTAL's form.
func render(t *testing.T, f NodesFile) []byte {
	t.Helper()
	var entries []map[string]map[string]any
	for _, n := range f.Nodes {
		fields := map[string]any{"hostname": n.Hostname, "IP": n.IP, "port": n.Port}
		if n.Orchestrator != "" {
			fields["orchestrator"] = n.Orchestrator
		}
		if len(n.Resources) > 0 {
			fields["resources"] = n.Resources
		}
		if n.Docker != "" {
			fields["docker"] = n.Docker
		}
		entries = append(entries, map[string]map[string]any{"node": fields})
	}
	if e := f.CustomOrchestrator; e != nil {
		entries = append(entries, map[string]map[string]any{"custom-orchestrator": {"hostname": e.Hostname, "IP": e.IP, "port": e.Port}})
	}
	b, err := yaml.Marshal(entries)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return b
}
