package pressure

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Orchestrators a nodes file may name.
const (
	OrchestratorDocker     = "docker"
	OrchestratorKubernetes = "kubernetes"
)

// Default ports of FRACTAL's components.
const (
	DefaultGlancesPort      = 61208
	DefaultOrchestratorPort = 9999
	// DefaultDockerPort is where a Docker host's daemon is reached when the
	// entry has no docker field (plain TCP, as FRACTAL exposed it).
	DefaultDockerPort = 2375
)

// Resource names of a node entry's resources list. FRACTAL's are cpu, mem,
// load and alert; fs (disk) is Hedge's. alert is accepted and watches nothing:
// Glances' alerts are not a level that has a threshold.
const (
	ResourceCPU    = "cpu"
	ResourceMemory = "mem"
	ResourceLoad   = "load"
	ResourceAlert  = "alert"
	ResourceFS     = "fs"
)

var resourceNames = []string{ResourceCPU, ResourceMemory, ResourceLoad, ResourceAlert, ResourceFS}

// NodesFile is FRACTAL's nodes.yaml: the nodes to watch and, optionally, the
// custom orchestrator they reported to. The file is a list of entries:
//
//	# nodes.yaml
//	- node: {hostname, IP, port, orchestrator: docker|kubernetes, resources: [cpu, mem]}
//	- custom-orchestrator: {hostname, IP, port: 9999}  # at most one
type NodesFile struct {
	Nodes []NodeEntry
	// CustomOrchestrator is nil when the file names none. Hedge's
	// controller does that job itself; the entry is accepted so that
	// FRACTAL's files work unchanged.
	CustomOrchestrator *Endpoint
}

// NodeEntry is one `- node:` entry.
type NodeEntry struct {
	// Hostname names the node; unique in the file.
	Hostname string
	// IP is an IP address or a host name where the node's Glances runs.
	IP string
	// Port is Glances' port (default DefaultGlancesPort).
	Port int
	// Orchestrator is OrchestratorDocker, OrchestratorKubernetes or "" (the
	// node is watched, nothing acts on it).
	Orchestrator string
	// Resources lists what to watch (Resource* names); empty: everything.
	Resources []string
	// Docker is the Docker Engine address for a docker node (a Hedge
	// extension: "tcp://10.0.0.5:2376", "unix:///var/run/docker.sock").
	// Empty: tcp://IP:DefaultDockerPort.
	Docker string
}

// Endpoint is the `- custom-orchestrator:` entry.
type Endpoint struct {
	Hostname string
	IP       string
	// Port defaults to DefaultOrchestratorPort.
	Port int
}

// GlancesURL is the base URL of the node's Glances API.
func (n NodeEntry) GlancesURL() string {
	return "http://" + net.JoinHostPort(n.IP, strconv.Itoa(n.Port))
}

// DockerHost is the address of the node's Docker daemon.
func (n NodeEntry) DockerHost() string {
	if n.Docker != "" {
		return n.Docker
	}
	return "tcp://" + net.JoinHostPort(n.IP, strconv.Itoa(DefaultDockerPort))
}

// Thresholds returns def restricted to the node's resources list: a resource
// the node does not list is not watched. An empty list keeps def whole.
func (n NodeEntry) Thresholds(def Thresholds) Thresholds {
	if len(n.Resources) == 0 {
		return def
	}
	var t Thresholds
	for _, r := range n.Resources {
		switch r {
		case ResourceCPU:
			t.CPUPercent = def.CPUPercent
		case ResourceMemory:
			t.MemoryPercent = def.MemoryPercent
		case ResourceLoad:
			t.LoadPerCore = def.LoadPerCore
		case ResourceFS:
			t.DiskPercent = def.DiskPercent
		}
	}
	return t
}

// Policy returns base with a PerNode entry for every node that lists its
// resources, unless base already has one for it.
func (f NodesFile) Policy(base Policy) Policy {
	per := make(map[string]Thresholds, len(base.PerNode)+len(f.Nodes))
	for k, v := range base.PerNode {
		per[k] = v
	}
	for _, n := range f.Nodes {
		if _, ok := per[n.Hostname]; !ok && len(n.Resources) > 0 {
			per[n.Hostname] = n.Thresholds(base.Default)
		}
	}
	base.PerNode = per
	return base
}

// EntryError is a problem with one entry of a nodes file, e.g.
// `entry 2 (node "gimli"): port: want an integer from 1 to 65535, got "http"`.
type EntryError struct {
	// Index is the entry's position, counting from 1.
	Index int
	// Kind is "node" or "custom-orchestrator" when it could be read, and
	// Name the entry's hostname when it could be read.
	Kind, Name string
	// Field is the offending field, "" for the entry as a whole.
	Field string
	Err   error
}

// Error returns the message shown on EntryError.
func (e *EntryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entry %d", e.Index)
	switch {
	case e.Kind != "" && e.Name != "":
		fmt.Fprintf(&b, " (%s %q)", e.Kind, short(e.Name))
	case e.Kind != "":
		fmt.Fprintf(&b, " (%s)", e.Kind)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns ErrInvalid and the underlying error.
func (e *EntryError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// ParseNodesFile reads a FRACTAL nodes.yaml. Every entry is checked (known
// fields only, required hostname and IP, ports in range, a known
// orchestrator and resources, unique hostnames, one custom orchestrator at
// most); all problems are returned together, each an *EntryError, and the
// error wraps ErrInvalid.
func ParseNodesFile(data []byte) (NodesFile, error) {
	var f NodesFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return f, fmt.Errorf("nodes file: empty, want a list of node entries: %w", ErrInvalid)
		}
		return f, fmt.Errorf("nodes file: yaml: %w: %w", ErrInvalid, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return f, fmt.Errorf("nodes file: want one YAML document, found more: %w", ErrInvalid)
	}
	list := deref(&doc)
	if list.Kind == yaml.DocumentNode && len(list.Content) == 1 {
		list = deref(list.Content[0])
	}
	if list.Kind != yaml.SequenceNode {
		return f, fmt.Errorf("nodes file: want a list of entries (- node: ...), found %s: %w", kindName(list), ErrInvalid)
	}

	var errs []error
	names := make(map[string]int) // hostname -> entry index
	orchestrator := 0             // entry index of the custom orchestrator
	for i, item := range list.Content {
		index := i + 1
		kind, body, err := entryBody(deref(item))
		if err != nil {
			errs = append(errs, &EntryError{Index: index, Kind: kind, Err: err})
			continue
		}
		fields, name, problems := readFields(body, index, kind)
		errs = append(errs, problems...)
		switch kind {
		case "node":
			n, problems := nodeEntry(fields, index, name)
			errs = append(errs, problems...)
			if first, dup := names[n.Hostname]; dup && n.Hostname != "" {
				errs = append(errs, &EntryError{Index: index, Kind: kind, Name: name, Field: "hostname", Err: fmt.Errorf("%q is already entry %d", n.Hostname, first)})
			} else if n.Hostname != "" {
				names[n.Hostname] = index
			}
			f.Nodes = append(f.Nodes, n)
		case "custom-orchestrator":
			e, problems := endpointEntry(fields, index, name)
			errs = append(errs, problems...)
			if orchestrator != 0 {
				errs = append(errs, &EntryError{Index: index, Kind: kind, Name: name, Err: fmt.Errorf("there can be only one custom orchestrator, entry %d is one already", orchestrator)})
				continue
			}
			orchestrator = index
			f.CustomOrchestrator = &e
		}
	}
	if len(f.Nodes) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("nodes file: no node entries: %w", ErrInvalid))
	}
	if len(errs) > 0 {
		return NodesFile{}, errors.Join(errs...)
	}
	return f, nil
}

// entryBody reads `kind: {fields}` from one list item.
func entryBody(item *yaml.Node) (kind string, body *yaml.Node, err error) {
	if item.Kind != yaml.MappingNode {
		return "", nil, fmt.Errorf("want `node:` or `custom-orchestrator:` with its fields, found %s", kindName(item))
	}
	if len(item.Content) != 2 {
		return "", nil, fmt.Errorf("want exactly one key, node or custom-orchestrator, found %d", len(item.Content)/2)
	}
	key, body := deref(item.Content[0]), deref(item.Content[1])
	switch key.Value {
	case "node", "custom-orchestrator":
	default:
		return "", nil, fmt.Errorf("unknown entry %q: want node or custom-orchestrator", short(key.Value))
	}
	if body.Kind != yaml.MappingNode {
		return key.Value, nil, fmt.Errorf("want its fields (hostname, IP, port, ...), found %s", kindName(body))
	}
	return key.Value, body, nil
}

var knownFields = map[string][]string{
	"node":                {"hostname", "IP", "port", "orchestrator", "resources", "docker"},
	"custom-orchestrator": {"hostname", "IP", "port"},
}

// readFields returns an entry's fields by name, reporting unknown and
// repeated ones, and the entry's hostname for messages.
func readFields(body *yaml.Node, index int, kind string) (map[string]*yaml.Node, string, []error) {
	fields := make(map[string]*yaml.Node)
	var name string
	for i := 0; i+1 < len(body.Content); i += 2 {
		if k := deref(body.Content[i]).Value; k == "hostname" {
			name = deref(body.Content[i+1]).Value
		}
	}
	var errs []error
	for i := 0; i+1 < len(body.Content); i += 2 {
		k, v := deref(body.Content[i]), deref(body.Content[i+1])
		field := k.Value
		switch {
		case !slices.Contains(knownFields[kind], field):
			errs = append(errs, &EntryError{Index: index, Kind: kind, Name: name, Field: field, Err: fmt.Errorf("unknown field; want one of %s", strings.Join(knownFields[kind], ", "))})
		case fields[field] != nil:
			errs = append(errs, &EntryError{Index: index, Kind: kind, Name: name, Field: field, Err: errors.New("given twice")})
		default:
			fields[field] = v
		}
	}
	return fields, name, errs
}

// nodeEntry checks the fields of a node entry.
func nodeEntry(fields map[string]*yaml.Node, index int, name string) (NodeEntry, []error) {
	var errs []error
	fail := func(field string, err error) {
		errs = append(errs, &EntryError{Index: index, Kind: "node", Name: name, Field: field, Err: err})
	}
	var n NodeEntry
	var err error
	if n.Hostname, err = hostname(fields["hostname"]); err != nil {
		fail("hostname", err)
	}
	if n.IP, err = address(fields["IP"]); err != nil {
		fail("IP", err)
	}
	if n.Port, err = port(fields["port"], DefaultGlancesPort); err != nil {
		fail("port", err)
	}
	if v := fields["orchestrator"]; !isNull(v) {
		switch {
		case v.Kind != yaml.ScalarNode:
			fail("orchestrator", fmt.Errorf("want docker or kubernetes, found %s", kindName(v)))
		case v.Value == OrchestratorDocker || v.Value == OrchestratorKubernetes:
			n.Orchestrator = v.Value
		default:
			fail("orchestrator", fmt.Errorf("want docker or kubernetes, got %q", short(v.Value)))
		}
	}
	if n.Resources, err = resources(fields["resources"]); err != nil {
		fail("resources", err)
	}
	if v := fields["docker"]; !isNull(v) {
		switch {
		case v.Kind != yaml.ScalarNode:
			fail("docker", fmt.Errorf("want a Docker host address such as tcp://10.0.0.5:2376, found %s", kindName(v)))
		case !validDockerHost(v.Value):
			fail("docker", fmt.Errorf("want a Docker host address (tcp://host:port, unix:///path), got %q", short(v.Value)))
		default:
			n.Docker = v.Value
		}
	}
	return n, errs
}

// endpointEntry checks the fields of the custom orchestrator entry.
func endpointEntry(fields map[string]*yaml.Node, index int, name string) (Endpoint, []error) {
	var errs []error
	fail := func(field string, err error) {
		errs = append(errs, &EntryError{Index: index, Kind: "custom-orchestrator", Name: name, Field: field, Err: err})
	}
	var e Endpoint
	var err error
	if e.Hostname, err = hostname(fields["hostname"]); err != nil {
		fail("hostname", err)
	}
	if e.IP, err = address(fields["IP"]); err != nil {
		fail("IP", err)
	}
	if e.Port, err = port(fields["port"], DefaultOrchestratorPort); err != nil {
		fail("port", err)
	}
	return e, errs
}

func hostname(v *yaml.Node) (string, error) {
	switch {
	case isNull(v):
		return "", errors.New("required")
	case v.Kind != yaml.ScalarNode:
		return "", fmt.Errorf("want a name, found %s", kindName(v))
	case v.Value == "":
		return "", errors.New("required")
	}
	if len(v.Value) > 253 || strings.IndexFunc(v.Value, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return "", fmt.Errorf("want a name without spaces of at most 253 characters, got %q", short(v.Value))
	}
	return v.Value, nil
}

func address(v *yaml.Node) (string, error) {
	switch {
	case isNull(v):
		return "", errors.New("required")
	case v.Kind != yaml.ScalarNode:
		return "", fmt.Errorf("want an IP address, found %s", kindName(v))
	case v.Value == "":
		return "", errors.New("required")
	}
	if net.ParseIP(v.Value) == nil && !validDNSName(v.Value) {
		return "", fmt.Errorf("want an IP address or a host name, got %q", short(v.Value))
	}
	return v.Value, nil
}

func port(v *yaml.Node, def int) (int, error) {
	if isNull(v) {
		return def, nil
	}
	p, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("want an integer from 1 to 65535, got %q", short(v.Value))
	}
	return p, nil
}

func resources(v *yaml.Node) ([]string, error) {
	if isNull(v) {
		return nil, nil // FRACTAL: leave it blank to watch everything
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list such as [cpu, mem], found %s", kindName(v))
	}
	var out []string
	for i, item := range v.Content {
		item = deref(item)
		if item.Kind != yaml.ScalarNode || !slices.Contains(resourceNames, item.Value) {
			return nil, fmt.Errorf("item %d: want one of %s, got %q", i+1, strings.Join(resourceNames, ", "), short(item.Value))
		}
		if !slices.Contains(out, item.Value) {
			out = append(out, item.Value)
		}
	}
	return out, nil
}

// validDNSName accepts a host name made of letters, digits and hyphens in
// dot-separated labels.
func validDNSName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func validDockerHost(s string) bool {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || rest == "" {
		return false
	}
	switch scheme {
	case "tcp", "http", "https":
		host, p, err := net.SplitHostPort(rest)
		n, perr := strconv.Atoi(p)
		return err == nil && host != "" && perr == nil && n >= 1 && n <= 65535
	case "unix":
		return strings.HasPrefix(rest, "/")
	case "ssh":
		return true
	}
	return false
}

// deref follows aliases (a bounded number of times).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func isNull(v *yaml.Node) bool {
	return v == nil || v.Kind == yaml.ScalarNode && v.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", short(n.Value))
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	return "nothing"
}

// short cuts a value quoted in a message to a readable length.
func short(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:61] + "..."
}
