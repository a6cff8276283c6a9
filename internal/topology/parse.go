package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

// ErrInvalid marks a document or a set of documents that does not describe a
// valid topology or application. Errors that wrap it name what is wrong.
var ErrInvalid = errdefs.New(errdefs.ErrInvalid, "invalid topology document")

// DocumentError is a problem with one document of the input. Its message
// names the document's position, kind and name and the field path, e.g.
// `document 2 (Link "link2"): spec.bandwidth: quantity "10X": unknown suffix`.
type DocumentError struct {
	// Index is the document's position in the input, counting from 1.
	Index int
	// Kind and Name identify the document when they could be read.
	Kind, Name string
	// Field is the path of the offending field ("spec.bandwidth"), or "" for
	// the document as a whole.
	Field string
	Err   error
}

// Error returns the message described on DocumentError.
func (e *DocumentError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "document %d", e.Index)
	switch {
	case e.Kind != "" && e.Name != "":
		fmt.Fprintf(&b, " (%s %q)", e.Kind, e.Name)
	case e.Kind != "":
		fmt.Fprintf(&b, " (%s)", e.Kind)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns ErrInvalid and the underlying error.
func (e *DocumentError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// maxDocuments bounds how many documents one input may hold.
const maxDocuments = 100_000

// ParseDocuments reads multi-document YAML (documents separated by "---") of
// kinds Region, Link, ExternalEndpoint, FADepl and Node, and returns them in
// input order. Empty documents are skipped. Every document is checked on its
// own (required fields, quantities, ranges, references inside a FADepl), and
// ids must be unique per kind across the input; all problems found are
// returned together, each a *DocumentError, and the error wraps ErrInvalid.
// References between documents (a link's regions, a node's region) are
// checked by Build, which needs the whole topology.
func ParseDocuments(data []byte) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var (
		objs []Object
		errs []error
		seen = make(map[string]int) // kind/id -> document index
	)
	for index := 1; ; index++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &DocumentError{Index: index, Err: fmt.Errorf("yaml: %w", err)})
			break // the decoder cannot resynchronise after a syntax error
		}
		if index > maxDocuments {
			errs = append(errs, &DocumentError{Index: index, Err: fmt.Errorf("more than %d documents", maxDocuments)})
			break
		}
		if isEmpty(&doc) {
			continue
		}
		obj, docErrs := parseDocument(index, &doc)
		errs = append(errs, docErrs...)
		if obj == nil || len(docErrs) > 0 {
			continue
		}
		key := obj.Kind() + "/" + obj.ObjectID()
		if first, dup := seen[key]; dup {
			errs = append(errs, &DocumentError{Index: index, Kind: obj.Kind(), Name: obj.ObjectID(),
				Err: fmt.Errorf("duplicate %s id %q (first in document %d)", obj.Kind(), obj.ObjectID(), first)})
			continue
		}
		seen[key] = index
		objs = append(objs, obj)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return objs, nil
}

func isEmpty(doc *yaml.Node) bool {
	if doc.Kind == 0 {
		return true
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		c := doc.Content[0]
		return c.Kind == yaml.ScalarNode && c.Tag == "!!null"
	}
	return false
}

// header is what every document starts with.
type header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
}

// checker collects the field errors of one document.
type checker struct {
	index      int
	kind, name string
	errs       []error
}

func (c *checker) fail(field string, format string, args ...any) {
	c.errs = append(c.errs, &DocumentError{Index: c.index, Kind: c.kind, Name: c.name, Field: field, Err: fmt.Errorf(format, args...)})
}

// required returns s trimmed, recording an error when it is empty.
func (c *checker) required(field, s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		c.fail(field, "required")
	}
	return s
}

// integer parses an optional integer in [lo, hi]; "" gives def.
func (c *checker) integer(field, s string, def, lo, hi int64) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		c.fail(field, "%q: want an integer in [%d, %d]", s, lo, hi)
		return def
	}
	return v
}

// quantity parses an optional quantity with parse and checks it is at most
// limit; "" gives 0.
func (c *checker) quantity(field, s string, parse func(string) (int64, error), limit int64) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	v, err := parse(s)
	if err == nil && v > limit {
		err = fmt.Errorf("quantity %q is larger than the limit %d", s, limit)
	}
	if err != nil {
		c.fail(field, "%v", err)
		return 0
	}
	return v
}

// Limits on quantities. They are far above any real machine or link and keep
// every sum placement computes (over thousands of dataflows, replicas and
// hops) inside int64.
const (
	maxBandwidth = 1_000_000_000_000_000 // 1P bit/s
	maxCPUMillis = 1_000_000_000         // one million cores
	maxBytes     = 1 << 50               // 1Pi
	maxMIPS      = 1_000_000_000
	// maxContainers bounds the containers of one pod.
	maxContainers = 100
)

// location parses an optional "lat,lon".
func (c *checker) location(field, s string) *Location {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	l, err := ParseLocation(s)
	if err != nil {
		c.fail(field, "%v", err)
		return nil
	}
	return &l
}

func (c *checker) millis(field, s string) float64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	v, err := parseMillis(s)
	if err != nil {
		c.fail(field, "%v", err)
		return 0
	}
	return v
}

// parseDocument decodes and checks one non-empty document.
func parseDocument(index int, doc *yaml.Node) (Object, []error) {
	var h header
	if err := doc.Decode(&h); err != nil {
		return nil, []error{&DocumentError{Index: index, Err: fmt.Errorf("want a mapping with apiVersion, kind, metadata and spec: %w", err)}}
	}
	c := &checker{index: index, kind: h.Kind, name: h.Metadata.Name}
	want := APIVersion
	switch h.Kind {
	case KindRegion, KindLink, KindExternalEndpoint, KindFADepl:
	case KindNode:
		want = NodeAPIVersion
	case "":
		c.fail("kind", "required: one of Region, Link, ExternalEndpoint, FADepl, Node")
		return nil, c.errs
	default:
		c.fail("kind", "%q: want one of Region, Link, ExternalEndpoint, FADepl, Node", h.Kind)
		return nil, c.errs
	}
	if h.APIVersion != want {
		c.fail("apiVersion", "%q: want %q for kind %s", h.APIVersion, want, h.Kind)
	}
	var obj Object
	var err error
	switch h.Kind {
	case KindRegion:
		obj, err = parseRegion(c, doc)
	case KindLink:
		obj, err = parseLink(c, doc)
	case KindExternalEndpoint:
		obj, err = parseEndpoint(c, doc)
	case KindNode:
		obj, err = parseNode(c, doc, &h)
	case KindFADepl:
		obj, err = parseFADepl(c, doc, &h)
	}
	if err != nil {
		c.errs = append(c.errs, &DocumentError{Index: index, Kind: c.kind, Name: c.name, Err: err})
		return nil, c.errs
	}
	return obj, c.errs
}

type rawRegion struct {
	Spec struct {
		ID          string `yaml:"id"`
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		Location    string `yaml:"location"`
		Tier        string `yaml:"tier"`
		Type        string `yaml:"type"`
		CPUModel    string `yaml:"cpumodel"`
		CPU2MIPS    string `yaml:"cpu2mips"`
	} `yaml:"spec"`
}

func parseRegion(c *checker, doc *yaml.Node) (Object, error) {
	var raw rawRegion
	if err := doc.Decode(&raw); err != nil {
		return nil, err
	}
	s := raw.Spec
	r := &Region{
		ID:          c.required("spec.id", s.ID),
		Name:        strings.TrimSpace(s.Name),
		Description: s.Description,
		Location:    c.location("spec.location", s.Location),
		Tier:        int(c.integer("spec.tier", s.Tier, 0, 0, 1000)),
		Type:        strings.TrimSpace(s.Type),
		CPUModel:    strings.TrimSpace(s.CPUModel),
		CPU2MIPS:    c.integer("spec.cpu2mips", s.CPU2MIPS, 0, 0, maxMIPS),
	}
	return r, nil
}

type rawLink struct {
	Spec struct {
		ID        string `yaml:"id"`
		EndpointA string `yaml:"endpointa"`
		EndpointB string `yaml:"endpointb"`
		Bandwidth string `yaml:"bandwidth"`
		Latency   string `yaml:"latency"`
		Status    string `yaml:"status"`
	} `yaml:"spec"`
	Status struct {
		BWAllocated string `yaml:"bwallocated"`
	} `yaml:"status"`
}

func parseLink(c *checker, doc *yaml.Node) (Object, error) {
	var raw rawLink
	if err := doc.Decode(&raw); err != nil {
		return nil, err
	}
	s := raw.Spec
	l := &Link{
		ID:          c.required("spec.id", s.ID),
		EndpointA:   c.required("spec.endpointa", s.EndpointA),
		EndpointB:   c.required("spec.endpointb", s.EndpointB),
		Bandwidth:   c.quantity("spec.bandwidth", c.required("spec.bandwidth", s.Bandwidth), ParseBandwidth, maxBandwidth),
		Latency:     c.millis("spec.latency", c.required("spec.latency", s.Latency)),
		Status:      strings.TrimSpace(s.Status),
		BWAllocated: c.quantity("status.bwallocated", raw.Status.BWAllocated, ParseBandwidth, maxBandwidth),
	}
	if l.Status == "" {
		l.Status = LinkUp
	}
	if l.EndpointA != "" && l.EndpointA == l.EndpointB {
		c.fail("spec.endpointb", "%q: a link must join two different regions", l.EndpointB)
	}
	return l, nil
}

type rawEndpoint struct {
	Spec struct {
		ID          string `yaml:"id"`
		Type        string `yaml:"type"`
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		IPAddress   string `yaml:"ipaddress"`
		Location    string `yaml:"location"`
		RegionID    string `yaml:"regionid"`
	} `yaml:"spec"`
}

func parseEndpoint(c *checker, doc *yaml.Node) (Object, error) {
	var raw rawEndpoint
	if err := doc.Decode(&raw); err != nil {
		return nil, err
	}
	s := raw.Spec
	return &ExternalEndpoint{
		ID:          c.required("spec.id", s.ID),
		Type:        strings.TrimSpace(s.Type),
		Name:        strings.TrimSpace(s.Name),
		Description: s.Description,
		IPAddress:   strings.TrimSpace(s.IPAddress),
		Location:    c.location("spec.location", s.Location),
		RegionID:    c.required("spec.regionid", s.RegionID),
	}, nil
}

type rawResources struct {
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
	GPU    string `yaml:"gpu"`
}

type rawNode struct {
	Spec struct {
		Capacity  rawResources `yaml:"capacity"`
		Allocated rawResources `yaml:"allocated"`
	} `yaml:"spec"`
}

func parseNode(c *checker, doc *yaml.Node, h *header) (Object, error) {
	var raw rawNode
	if err := doc.Decode(&raw); err != nil {
		return nil, err
	}
	capa, alloc := raw.Spec.Capacity, raw.Spec.Allocated
	n := &Node{
		Name:                 c.required("metadata.name", h.Metadata.Name),
		Labels:               h.Metadata.Labels,
		Region:               c.required("metadata.labels.region", h.Metadata.Labels[LabelRegion]),
		CPUMillis:            c.quantity("spec.capacity.cpu", c.required("spec.capacity.cpu", capa.CPU), ParseMilliCPU, maxCPUMillis),
		MemoryBytes:          c.quantity("spec.capacity.memory", c.required("spec.capacity.memory", capa.Memory), ParseBytes, maxBytes),
		GPU:                  c.integer("spec.capacity.gpu", capa.GPU, 0, 0, 1<<20),
		AllocatedCPUMillis:   c.quantity("spec.allocated.cpu", alloc.CPU, ParseMilliCPU, maxCPUMillis),
		AllocatedMemoryBytes: c.quantity("spec.allocated.memory", alloc.Memory, ParseBytes, maxBytes),
	}
	if strings.TrimSpace(alloc.GPU) != "" {
		c.fail("spec.allocated.gpu", "not supported: GPUs are matched by label, not counted")
	}
	if t, ok := n.Labels[LabelTier]; ok {
		c.integer("metadata.labels.tier", t, 0, 0, 1000)
	}
	return n, nil
}

type rawFADepl struct {
	Spec struct {
		Algorithm         string            `yaml:"algorithm"`
		ExternalEndpoints []string          `yaml:"externalendpoints"`
		Microservices     []rawMicroservice `yaml:"microservices"`
		Dataflows         []rawDataflow     `yaml:"dataflows"`
	} `yaml:"spec"`
}

type rawMicroservice struct {
	Name         string          `yaml:"name"`
	MIPSRequired string          `yaml:"mipsrequired"`
	Deployment   rawDeployment   `yaml:"deployment"`
	Regions      []rawRegionWant `yaml:"regions"`
}

type rawDeployment struct {
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas string `yaml:"replicas"`
		Template struct {
			Spec struct {
				Containers   []rawContainer    `yaml:"containers"`
				NodeSelector map[string]string `yaml:"nodeSelector"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type rawContainer struct {
	Name      string `yaml:"name"`
	Image     string `yaml:"image"`
	Resources struct {
		Requests rawResources `yaml:"requests"`
	} `yaml:"resources"`
}

type rawRegionWant struct {
	RegionRequired string `yaml:"regionrequired"`
	Replicas       string `yaml:"replicas"`
	Image          string `yaml:"image"`
}

type rawDataflow struct {
	SourceID          string `yaml:"sourceid"`
	DestinationID     string `yaml:"destinationid"`
	BandwidthRequired string `yaml:"bandwidthrequired"`
	Latency           string `yaml:"latency"`
}

// maxReplicas bounds replica counts so that sums over an application cannot
// overflow.
const maxReplicas = 10_000

func parseFADepl(c *checker, doc *yaml.Node, h *header) (Object, error) {
	var raw rawFADepl
	if err := doc.Decode(&raw); err != nil {
		return nil, err
	}
	s := raw.Spec
	app := &FADepl{Name: c.required("metadata.name", h.Metadata.Name)}
	switch alg := strings.TrimSpace(s.Algorithm); {
	case strings.EqualFold(alg, string(AlgorithmSilly)):
		app.Algorithm = AlgorithmSilly
	case strings.EqualFold(alg, string(AlgorithmResourceBased)):
		app.Algorithm = AlgorithmResourceBased
	case strings.EqualFold(alg, string(AlgorithmDAG)):
		app.Algorithm = AlgorithmDAG
	case alg == "":
		c.fail("spec.algorithm", "required: one of Silly, ResourceBased, DAG")
	default:
		c.fail("spec.algorithm", "%q: want one of Silly, ResourceBased, DAG", alg)
	}

	endpoints := make(map[string]bool)
	for i, id := range s.ExternalEndpoints {
		field := fmt.Sprintf("spec.externalendpoints[%d]", i)
		id = c.required(field, id)
		if endpoints[id] {
			c.fail(field, "duplicate endpoint %q", id)
		}
		if id != "" {
			endpoints[id] = true
			app.ExternalEndpoints = append(app.ExternalEndpoints, id)
		}
	}

	if len(s.Microservices) == 0 {
		c.fail("spec.microservices", "required: at least one microservice")
	}
	names := make(map[string]bool)
	for i, rm := range s.Microservices {
		m := parseMicroservice(c, fmt.Sprintf("spec.microservices[%d]", i), &rm)
		if m.Name != "" {
			if names[m.Name] {
				c.fail(fmt.Sprintf("spec.microservices[%d].name", i), "duplicate microservice %q", m.Name)
			}
			if endpoints[m.Name] {
				c.fail(fmt.Sprintf("spec.microservices[%d].name", i), "%q is also an external endpoint", m.Name)
			}
			names[m.Name] = true
		}
		app.Microservices = append(app.Microservices, m)
	}

	for i, rf := range s.Dataflows {
		field := fmt.Sprintf("spec.dataflows[%d]", i)
		f := Dataflow{
			SourceID:          c.required(field+".sourceid", rf.SourceID),
			DestinationID:     c.required(field+".destinationid", rf.DestinationID),
			BandwidthRequired: c.quantity(field+".bandwidthrequired", rf.BandwidthRequired, ParseBandwidth, maxBandwidth),
			Latency:           c.millis(field+".latency", rf.Latency),
		}
		if strings.TrimSpace(rf.Latency) != "" && f.Latency == 0 {
			c.fail(field+".latency", "0: want a bound > 0 ms, or leave latency out for no bound")
		}
		for _, end := range []struct{ field, id string }{{".sourceid", f.SourceID}, {".destinationid", f.DestinationID}} {
			if end.id != "" && !names[end.id] && !endpoints[end.id] {
				c.fail(field+end.field, "%q names neither a microservice nor an endpoint listed in spec.externalendpoints", end.id)
			}
		}
		if f.SourceID != "" && f.SourceID == f.DestinationID {
			c.fail(field+".destinationid", "%q: a dataflow must join two different ends", f.DestinationID)
		}
		app.Dataflows = append(app.Dataflows, f)
	}
	return app, nil
}

func parseMicroservice(c *checker, field string, rm *rawMicroservice) Microservice {
	m := Microservice{
		Name:         c.required(field+".name", rm.Name),
		MIPSRequired: c.integer(field+".mipsrequired", rm.MIPSRequired, 0, 0, maxMIPS),
	}
	rd := &rm.Deployment
	dfield := field + ".deployment"
	m.Deployment = Deployment{
		Name:         strings.TrimSpace(rd.Metadata.Name),
		Replicas:     int(c.integer(dfield+".spec.replicas", rd.Spec.Replicas, 1, 1, maxReplicas)),
		NodeSelector: rd.Spec.Template.Spec.NodeSelector,
	}
	containers := rd.Spec.Template.Spec.Containers
	if len(containers) == 0 {
		c.fail(dfield+".spec.template.spec.containers", "required: at least one container")
	}
	if len(containers) > maxContainers {
		c.fail(dfield+".spec.template.spec.containers", "%d containers: want at most %d", len(containers), maxContainers)
		containers = containers[:maxContainers]
	}
	for j, rc := range containers {
		cfield := fmt.Sprintf("%s.spec.template.spec.containers[%d]", dfield, j)
		m.Deployment.Containers = append(m.Deployment.Containers, Container{
			Name:        strings.TrimSpace(rc.Name),
			Image:       c.required(cfield+".image", rc.Image),
			CPUMillis:   c.quantity(cfield+".resources.requests.cpu", rc.Resources.Requests.CPU, ParseMilliCPU, maxCPUMillis),
			MemoryBytes: c.quantity(cfield+".resources.requests.memory", rc.Resources.Requests.Memory, ParseBytes, maxBytes),
		})
	}
	var seen []string
	for j, rr := range rm.Regions {
		rfield := fmt.Sprintf("%s.regions[%d]", field, j)
		want := RegionRequirement{
			RegionRequired: c.required(rfield+".regionrequired", rr.RegionRequired),
			Replicas:       int(c.integer(rfield+".replicas", rr.Replicas, 0, 1, maxReplicas)),
			Image:          strings.TrimSpace(rr.Image),
		}
		if slices.Contains(seen, want.RegionRequired) {
			c.fail(rfield+".regionrequired", "duplicate region %q", want.RegionRequired)
		}
		seen = append(seen, want.RegionRequired)
		m.Regions = append(m.Regions, want)
	}
	return m
}
