package topology

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/fieldpath"
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

// maxInput bounds the size of one input, in bytes: far above any real
// topology, small enough that a hostile upload costs little.
const maxInput = 64 << 20

// ParseDocuments reads multi-document YAML (documents separated by "---") of
// kinds Region, Link, ExternalEndpoint, FADepl and Node, and returns them in
// input order. Empty documents are skipped. Every document is checked on its
// own (types, required fields, quantities, ranges, references inside a
// FADepl), and ids must be unique per kind across the input; all problems
// found are returned together, each a *DocumentError, and the error wraps
// ErrInvalid. References between documents (a link's regions, a node's
// region) are checked by Build, which needs the whole topology. Fields Hedge
// does not use are ignored, so that Kubernetes-style documents with more in
// them are accepted as they are.
func ParseDocuments(data []byte) ([]Object, error) {
	docs, err := fieldpath.DecodeStream(data, "input", maxInput, maxDocuments)
	var (
		objs []Object
		errs []error
		seen = make(map[string]int) // kind/id -> document index
	)
	for i, doc := range docs {
		index := i + 1
		if doc.Tree == nil {
			continue
		}
		obj, docErrs := parseDocument(index, doc)
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
	if err != nil {
		errs = append(errs, &DocumentError{Index: len(docs) + 1, Err: err})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return objs, nil
}

// checker reads the fields of one document with the shared field-path
// walker and turns what it finds into DocumentErrors.
type checker struct {
	*fieldpath.Walker
	index      int
	kind, name string
}

func (c *checker) fail(field string, format string, args ...any) {
	c.Addf(field, format, args...)
}

// errors returns the document's problems as DocumentErrors.
func (c *checker) errors() []error {
	var errs []error
	for _, p := range c.Problems() {
		errs = append(errs, &DocumentError{Index: c.index, Kind: c.kind, Name: c.name, Field: p.Field, Err: errors.New(p.Message)})
	}
	return errs
}

// text reads a scalar written as a string or a number, trimmed; "" when absent.
func (c *checker) text(field string, o *fieldpath.Object) string {
	s, _ := c.Text(field, get(o, last(field)))
	return strings.TrimSpace(s)
}

// required is text that must be given.
func (c *checker) required(field string, o *fieldpath.Object) string {
	s := c.text(field, o)
	if s == "" && !c.Covered(field) {
		c.fail(field, "required")
	}
	return s
}

// object reads the object at field (nil when absent: reading from a nil
// object gives absent values).
func (c *checker) object(field string, o *fieldpath.Object) *fieldpath.Object {
	v, _ := c.Object(field, get(o, last(field)))
	return v
}

// list reads the list at field.
func (c *checker) list(field string, o *fieldpath.Object) []any {
	v, _ := c.List(field, get(o, last(field)))
	return v
}

// textMap reads an object of scalars (labels, a node selector) as strings.
func (c *checker) textMap(field string, o *fieldpath.Object) map[string]string {
	m := c.object(field, o)
	if m == nil || len(m.Keys()) == 0 {
		return nil
	}
	out := make(map[string]string, len(m.Keys()))
	for _, k := range m.Keys() {
		if s, ok := c.Text(fieldpath.Join(field, k), m.Get(k)); ok {
			out[k] = s
		}
	}
	return out
}

// get is Object.Get that reads a nil object as empty.
func get(o *fieldpath.Object, key string) any {
	if o == nil {
		return nil
	}
	return o.Get(key)
}

// last is the last name of a field path: "spec.id" gives "id".
func last(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[i+1:]
	}
	return field
}

// integer parses an optional integer in [lo, hi]; "" gives def.
func (c *checker) integer(field, s string, def, lo, hi int64) int64 {
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

// parseDocument checks one non-empty document.
func parseDocument(index int, doc fieldpath.Document) (Object, []error) {
	root, ok := doc.Tree.(*fieldpath.Object)
	if !ok {
		return nil, []error{&DocumentError{Index: index, Err: fmt.Errorf("want a mapping with apiVersion, kind, metadata and spec, got %s", fieldpath.Describe(doc.Tree))}}
	}
	c := &checker{Walker: fieldpath.NewWalker(doc.Problems), index: index}
	c.kind = c.text("kind", root)
	meta := c.object("metadata", root)
	c.name = c.text("metadata.name", meta)
	apiVersion := c.text("apiVersion", root)
	want := APIVersion
	switch c.kind {
	case KindRegion, KindLink, KindExternalEndpoint, KindFADepl:
	case KindNode:
		want = NodeAPIVersion
	case "":
		if !c.Bad("kind") {
			c.fail("kind", "required: one of Region, Link, ExternalEndpoint, FADepl, Node")
		}
		return nil, c.errors()
	default:
		c.fail("kind", "%q: want one of Region, Link, ExternalEndpoint, FADepl, Node", c.kind)
		return nil, c.errors()
	}
	if apiVersion != want {
		c.fail("apiVersion", "%q: want %q for kind %s", apiVersion, want, c.kind)
	}
	spec := c.object("spec", root)
	var obj Object
	switch c.kind {
	case KindRegion:
		obj = parseRegion(c, spec)
	case KindLink:
		obj = parseLink(c, spec, c.object("status", root))
	case KindExternalEndpoint:
		obj = parseEndpoint(c, spec)
	case KindNode:
		obj = parseNode(c, meta, spec)
	case KindFADepl:
		obj = parseFADepl(c, meta, spec)
	}
	return obj, c.errors()
}

func parseRegion(c *checker, spec *fieldpath.Object) Object {
	return &Region{
		ID:          c.required("spec.id", spec),
		Name:        c.text("spec.name", spec),
		Description: c.rawText("spec.description", spec),
		Location:    c.location("spec.location", c.text("spec.location", spec)),
		Tier:        int(c.integer("spec.tier", c.text("spec.tier", spec), 0, 0, 1000)),
		Type:        c.text("spec.type", spec),
		CPUModel:    c.text("spec.cpumodel", spec),
		CPU2MIPS:    c.integer("spec.cpu2mips", c.text("spec.cpu2mips", spec), 0, 0, maxMIPS),
	}
}

// rawText is text without trimming (descriptions).
func (c *checker) rawText(field string, o *fieldpath.Object) string {
	s, _ := c.Text(field, get(o, last(field)))
	return s
}

func parseLink(c *checker, spec, status *fieldpath.Object) Object {
	l := &Link{
		ID:          c.required("spec.id", spec),
		EndpointA:   c.required("spec.endpointa", spec),
		EndpointB:   c.required("spec.endpointb", spec),
		Bandwidth:   c.quantity("spec.bandwidth", c.required("spec.bandwidth", spec), ParseBandwidth, maxBandwidth),
		Latency:     c.millis("spec.latency", c.required("spec.latency", spec)),
		Status:      c.text("spec.status", spec),
		BWAllocated: c.quantity("status.bwallocated", c.text("status.bwallocated", status), ParseBandwidth, maxBandwidth),
	}
	if l.Status == "" {
		l.Status = LinkUp
	}
	if l.EndpointA != "" && l.EndpointA == l.EndpointB {
		c.fail("spec.endpointb", "%q: a link must join two different regions", l.EndpointB)
	}
	return l
}

func parseEndpoint(c *checker, spec *fieldpath.Object) Object {
	return &ExternalEndpoint{
		ID:          c.required("spec.id", spec),
		Type:        c.text("spec.type", spec),
		Name:        c.text("spec.name", spec),
		Description: c.rawText("spec.description", spec),
		IPAddress:   c.text("spec.ipaddress", spec),
		Location:    c.location("spec.location", c.text("spec.location", spec)),
		RegionID:    c.required("spec.regionid", spec),
	}
}

func parseNode(c *checker, meta, spec *fieldpath.Object) Object {
	labels := c.textMap("metadata.labels", meta)
	capa := c.object("spec.capacity", spec)
	alloc := c.object("spec.allocated", spec)
	region := strings.TrimSpace(labels[LabelRegion])
	if region == "" && !c.Covered("metadata.labels."+LabelRegion) {
		c.fail("metadata.labels."+LabelRegion, "required")
	}
	n := &Node{
		Name:                 c.required("metadata.name", meta),
		Labels:               labels,
		Region:               region,
		CPUMillis:            c.quantity("spec.capacity.cpu", c.required("spec.capacity.cpu", capa), ParseMilliCPU, maxCPUMillis),
		MemoryBytes:          c.quantity("spec.capacity.memory", c.required("spec.capacity.memory", capa), ParseBytes, maxBytes),
		GPU:                  c.integer("spec.capacity.gpu", c.text("spec.capacity.gpu", capa), 0, 0, 1<<20),
		AllocatedCPUMillis:   c.quantity("spec.allocated.cpu", c.text("spec.allocated.cpu", alloc), ParseMilliCPU, maxCPUMillis),
		AllocatedMemoryBytes: c.quantity("spec.allocated.memory", c.text("spec.allocated.memory", alloc), ParseBytes, maxBytes),
	}
	if c.text("spec.allocated.gpu", alloc) != "" {
		c.fail("spec.allocated.gpu", "not supported: GPUs are matched by label, not counted")
	}
	if t, ok := n.Labels[LabelTier]; ok {
		c.integer("metadata.labels.tier", strings.TrimSpace(t), 0, 0, 1000)
	}
	return n
}

// maxReplicas bounds replica counts so that sums over an application cannot
// overflow.
const maxReplicas = 10_000

func parseFADepl(c *checker, meta, spec *fieldpath.Object) Object {
	app := &FADepl{Name: c.required("metadata.name", meta)}
	switch alg := c.text("spec.algorithm", spec); {
	case strings.EqualFold(alg, string(AlgorithmSilly)):
		app.Algorithm = AlgorithmSilly
	case strings.EqualFold(alg, string(AlgorithmResourceBased)):
		app.Algorithm = AlgorithmResourceBased
	case strings.EqualFold(alg, string(AlgorithmDAG)):
		app.Algorithm = AlgorithmDAG
	case alg == "":
		if !c.Covered("spec.algorithm") {
			c.fail("spec.algorithm", "required: one of Silly, ResourceBased, DAG")
		}
	default:
		c.fail("spec.algorithm", "%q: want one of Silly, ResourceBased, DAG", alg)
	}

	endpoints := make(map[string]bool)
	for i, v := range c.list("spec.externalendpoints", spec) {
		field := fmt.Sprintf("spec.externalendpoints[%d]", i)
		id, _ := c.Text(field, v)
		id = strings.TrimSpace(id)
		if id == "" && !c.Covered(field) {
			c.fail(field, "required")
		}
		if endpoints[id] {
			c.fail(field, "duplicate endpoint %q", id)
		}
		if id != "" {
			endpoints[id] = true
			app.ExternalEndpoints = append(app.ExternalEndpoints, id)
		}
	}

	items := c.list("spec.microservices", spec)
	if len(items) == 0 && !c.Covered("spec.microservices") {
		c.fail("spec.microservices", "required: at least one microservice")
	}
	names := make(map[string]bool)
	for i, v := range items {
		field := fmt.Sprintf("spec.microservices[%d]", i)
		o, _ := c.ObjectAt(field, v)
		m := parseMicroservice(c, field, o)
		if m.Name != "" {
			if names[m.Name] {
				c.fail(field+".name", "duplicate microservice %q", m.Name)
			}
			if endpoints[m.Name] {
				c.fail(field+".name", "%q is also an external endpoint", m.Name)
			}
			names[m.Name] = true
		}
		app.Microservices = append(app.Microservices, m)
	}

	for i, v := range c.list("spec.dataflows", spec) {
		field := fmt.Sprintf("spec.dataflows[%d]", i)
		o, _ := c.ObjectAt(field, v)
		f := Dataflow{
			SourceID:          c.required(field+".sourceid", o),
			DestinationID:     c.required(field+".destinationid", o),
			BandwidthRequired: c.quantity(field+".bandwidthrequired", c.text(field+".bandwidthrequired", o), ParseBandwidth, maxBandwidth),
		}
		latency := c.text(field+".latency", o)
		f.Latency = c.millis(field+".latency", latency)
		if latency != "" && f.Latency == 0 && !c.Covered(field+".latency") {
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
	return app
}

func parseMicroservice(c *checker, field string, o *fieldpath.Object) Microservice {
	m := Microservice{
		Name:         c.required(field+".name", o),
		MIPSRequired: c.integer(field+".mipsrequired", c.text(field+".mipsrequired", o), 0, 0, maxMIPS),
	}
	dfield := field + ".deployment"
	dep := c.object(dfield, o)
	dspec := c.object(dfield+".spec", dep)
	pspec := c.object(dfield+".spec.template.spec", c.object(dfield+".spec.template", dspec))
	m.Deployment = Deployment{
		Name:         c.text(dfield+".metadata.name", c.object(dfield+".metadata", dep)),
		Replicas:     int(c.integer(dfield+".spec.replicas", c.text(dfield+".spec.replicas", dspec), 1, 1, maxReplicas)),
		NodeSelector: c.textMap(dfield+".spec.template.spec.nodeSelector", pspec),
	}
	containers := c.list(dfield+".spec.template.spec.containers", pspec)
	if len(containers) == 0 && !c.Covered(dfield+".spec.template.spec.containers") {
		c.fail(dfield+".spec.template.spec.containers", "required: at least one container")
	}
	if len(containers) > maxContainers {
		c.fail(dfield+".spec.template.spec.containers", "%d containers: want at most %d", len(containers), maxContainers)
		containers = containers[:maxContainers]
	}
	for j, v := range containers {
		cfield := fmt.Sprintf("%s.spec.template.spec.containers[%d]", dfield, j)
		co, _ := c.ObjectAt(cfield, v)
		req := c.object(cfield+".resources.requests", c.object(cfield+".resources", co))
		m.Deployment.Containers = append(m.Deployment.Containers, Container{
			Name:        c.text(cfield+".name", co),
			Image:       c.required(cfield+".image", co),
			CPUMillis:   c.quantity(cfield+".resources.requests.cpu", c.text(cfield+".resources.requests.cpu", req), ParseMilliCPU, maxCPUMillis),
			MemoryBytes: c.quantity(cfield+".resources.requests.memory", c.text(cfield+".resources.requests.memory", req), ParseBytes, maxBytes),
		})
	}
	var seen []string
	for j, v := range c.list(field+".regions", o) {
		rfield := fmt.Sprintf("%s.regions[%d]", field, j)
		ro, _ := c.ObjectAt(rfield, v)
		want := RegionRequirement{
			RegionRequired: c.required(rfield+".regionrequired", ro),
			Replicas:       int(c.integer(rfield+".replicas", c.text(rfield+".replicas", ro), 0, 1, maxReplicas)),
			Image:          c.text(rfield+".image", ro),
		}
		if slices.Contains(seen, want.RegionRequired) {
			c.fail(rfield+".regionrequired", "duplicate region %q", want.RegionRequired)
		}
		seen = append(seen, want.RegionRequired)
		m.Regions = append(m.Regions, want)
	}
	return m
}
