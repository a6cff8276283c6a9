package pressure

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/hedgeorch/hedge/internal/fieldpath"
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

// maxNodesFile bounds a nodes file, in bytes.
const maxNodesFile = 1 << 20

// ParseNodesFile reads a FRACTAL nodes.yaml (or the same in JSON). Every entry
// is checked (known fields only, required hostname and IP, ports in range, a
// known orchestrator and resources, unique hostnames, one custom
// orchestrator at most); all problems are returned together, each an
// *EntryError, and the error wraps ErrInvalid.
func ParseNodesFile(data []byte) (NodesFile, error) {
	var f NodesFile
	tree, problems, ok := fieldpath.Decode(data, "nodes file", maxNodesFile)
	if !ok {
		msg := problems[0].Message
		if !strings.HasPrefix(msg, "nodes file") {
			msg = "nodes file: " + msg
		}
		return f, fmt.Errorf("%s: %w", msg, ErrInvalid)
	}
	list, isList := tree.([]any)
	if !isList {
		return f, fmt.Errorf("nodes file: want a list of entries (- node: ...), found %s: %w", kindName(tree), ErrInvalid)
	}
	// Problems the decoder found (a field given twice, a bad scalar) belong
	// to an entry: their paths start with "[i].kind".
	decoded := make(map[int][]fieldpath.Problem)
	for _, p := range problems {
		i, field := entryField(p.Field)
		decoded[i] = append(decoded[i], fieldpath.Problem{Field: field, Message: p.Message})
	}

	var errs []error
	names := make(map[string]int) // hostname -> entry index
	orchestrator := 0             // entry index of the custom orchestrator
	for i, item := range list {
		index := i + 1
		kind, body, err := entryBody(item)
		if err != nil {
			errs = append(errs, &EntryError{Index: index, Kind: kind, Err: err})
			continue
		}
		name, _ := scalar(body.Get("hostname"))
		for _, p := range decoded[i] {
			msg := p.Message
			if msg == "duplicate field" {
				msg = "given twice"
			}
			errs = append(errs, &EntryError{Index: index, Kind: kind, Name: name, Field: p.Field, Err: errors.New(msg)})
		}
		errs = append(errs, unknownFields(body, index, kind, name)...)
		switch kind {
		case "node":
			n, problems := nodeEntry(body, index, name)
			errs = append(errs, problems...)
			if first, dup := names[n.Hostname]; dup && n.Hostname != "" {
				errs = append(errs, &EntryError{Index: index, Kind: kind, Name: name, Field: "hostname", Err: fmt.Errorf("%q is already entry %d", n.Hostname, first)})
			} else if n.Hostname != "" {
				names[n.Hostname] = index
			}
			f.Nodes = append(f.Nodes, n)
		case "custom-orchestrator":
			e, problems := endpointEntry(body, index, name)
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

// entryField splits a decoder path "[2].node.port" into the entry's list
// index (2) and the field within the entry ("port").
func entryField(path string) (int, string) {
	var i int
	var rest string
	if n, err := fmt.Sscanf(path, "[%d]", &i); n != 1 || err != nil {
		return -1, path
	}
	rest = path[strings.IndexByte(path, ']')+1:]
	rest = strings.TrimPrefix(rest, ".")
	if _, field, ok := strings.Cut(rest, "."); ok { // drop "node." / the entry kind
		return i, field
	}
	return i, ""
}

// entryBody reads `kind: {fields}` from one list item.
func entryBody(item any) (kind string, body *fieldpath.Object, err error) {
	o, ok := item.(*fieldpath.Object)
	if !ok {
		return "", nil, fmt.Errorf("want `node:` or `custom-orchestrator:` with its fields, found %s", kindName(item))
	}
	if len(o.Keys()) != 1 {
		return "", nil, fmt.Errorf("want exactly one key, node or custom-orchestrator, found %d", len(o.Keys()))
	}
	key := o.Keys()[0]
	switch key {
	case "node", "custom-orchestrator":
	default:
		return "", nil, fmt.Errorf("unknown entry %q: want node or custom-orchestrator", short(key))
	}
	body, ok = o.Get(key).(*fieldpath.Object)
	if !ok {
		return key, nil, fmt.Errorf("want its fields (hostname, IP, port, ...), found %s", kindName(o.Get(key)))
	}
	return key, body, nil
}

var knownFields = map[string][]string{
	"node":                {"hostname", "IP", "port", "orchestrator", "resources", "docker"},
	"custom-orchestrator": {"hostname", "IP", "port"},
}

// unknownFields reports the fields of an entry that FRACTAL's format does
// not have.
func unknownFields(body *fieldpath.Object, index int, kind, name string) []error {
	var errs []error
	for _, field := range body.Keys() {
		if !slices.Contains(knownFields[kind], field) {
			errs = append(errs, &EntryError{Index: index, Kind: kind, Name: name, Field: field, Err: fmt.Errorf("unknown field; want one of %s", strings.Join(knownFields[kind], ", "))})
		}
	}
	return errs
}

// nodeEntry checks the fields of a node entry.
func nodeEntry(fields *fieldpath.Object, index int, name string) (NodeEntry, []error) {
	var errs []error
	fail := func(field string, err error) {
		errs = append(errs, &EntryError{Index: index, Kind: "node", Name: name, Field: field, Err: err})
	}
	var n NodeEntry
	var err error
	if n.Hostname, err = hostname(fields.Get("hostname")); err != nil {
		fail("hostname", err)
	}
	if n.IP, err = address(fields.Get("IP")); err != nil {
		fail("IP", err)
	}
	if n.Port, err = port(fields.Get("port"), DefaultGlancesPort); err != nil {
		fail("port", err)
	}
	if v := fields.Get("orchestrator"); v != nil {
		s, ok := scalar(v)
		switch {
		case !ok:
			fail("orchestrator", fmt.Errorf("want docker or kubernetes, found %s", kindName(v)))
		case s == OrchestratorDocker || s == OrchestratorKubernetes:
			n.Orchestrator = s
		default:
			fail("orchestrator", fmt.Errorf("want docker or kubernetes, got %q", short(s)))
		}
	}
	if n.Resources, err = resources(fields.Get("resources")); err != nil {
		fail("resources", err)
	}
	if v := fields.Get("docker"); v != nil {
		s, ok := scalar(v)
		switch {
		case !ok:
			fail("docker", fmt.Errorf("want a Docker host address such as tcp://10.0.0.5:2376, found %s", kindName(v)))
		case !validDockerHost(s):
			fail("docker", fmt.Errorf("want a Docker host address (tcp://host:port, unix:///path), got %q", short(s)))
		default:
			n.Docker = s
		}
	}
	return n, errs
}

// endpointEntry checks the fields of the custom orchestrator entry.
func endpointEntry(fields *fieldpath.Object, index int, name string) (Endpoint, []error) {
	var errs []error
	fail := func(field string, err error) {
		errs = append(errs, &EntryError{Index: index, Kind: "custom-orchestrator", Name: name, Field: field, Err: err})
	}
	var e Endpoint
	var err error
	if e.Hostname, err = hostname(fields.Get("hostname")); err != nil {
		fail("hostname", err)
	}
	if e.IP, err = address(fields.Get("IP")); err != nil {
		fail("IP", err)
	}
	if e.Port, err = port(fields.Get("port"), DefaultOrchestratorPort); err != nil {
		fail("port", err)
	}
	return e, errs
}

// scalar returns a string, number or boolean as written; ok is false for
// anything else (absent, a list, a mapping).
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case fieldpath.Number:
		return v.Text, true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

func hostname(v any) (string, error) {
	s, ok := scalar(v)
	switch {
	case v == nil:
		return "", errors.New("required")
	case !ok:
		return "", fmt.Errorf("want a name, found %s", kindName(v))
	case s == "":
		return "", errors.New("required")
	}
	if len(s) > 253 || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return "", fmt.Errorf("want a name without spaces of at most 253 characters, got %q", short(s))
	}
	return s, nil
}

func address(v any) (string, error) {
	s, ok := scalar(v)
	switch {
	case v == nil:
		return "", errors.New("required")
	case !ok:
		return "", fmt.Errorf("want an IP address, found %s", kindName(v))
	case s == "":
		return "", errors.New("required")
	}
	if net.ParseIP(s) == nil && !validDNSName(s) {
		return "", fmt.Errorf("want an IP address or a host name, got %q", short(s))
	}
	return s, nil
}

func port(v any, def int) (int, error) {
	if v == nil {
		return def, nil
	}
	s, ok := scalar(v)
	p, err := strconv.Atoi(s)
	if !ok || err != nil || p < 1 || p > 65535 {
		if !ok {
			return 0, fmt.Errorf("want an integer from 1 to 65535, found %s", kindName(v))
		}
		return 0, fmt.Errorf("want an integer from 1 to 65535, got %q", short(s))
	}
	return p, nil
}

func resources(v any) ([]string, error) {
	if v == nil {
		return nil, nil // FRACTAL: leave it blank to watch everything
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list such as [cpu, mem], found %s", kindName(v))
	}
	var out []string
	for i, item := range items {
		s, ok := scalar(item)
		if !ok || !slices.Contains(resourceNames, s) {
			return nil, fmt.Errorf("item %d: want one of %s, got %q", i+1, strings.Join(resourceNames, ", "), short(s))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
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

// kindName describes a decoded value for a message.
func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case []any:
		return "a list"
	case *fieldpath.Object:
		return "a mapping"
	}
	s, _ := scalar(v)
	return fmt.Sprintf("%q", short(s))
}

// short cuts a value quoted in a message to a readable length.
func short(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:61] + "..."
}
