package topology

import (
	"fmt"
	"strconv"
	"strings"
)

// APIVersion is the API group and version of the FogAtlas kinds.
const APIVersion = "fogatlas.fbk.eu/v1alpha1"

// NodeAPIVersion is the apiVersion of a `kind: Node` document: the core
// Kubernetes group, since the document is a small subset of a Kubernetes Node.
const NodeAPIVersion = "v1"

// Kinds of the documents ParseDocuments reads.
const (
	KindRegion           = "Region"
	KindLink             = "Link"
	KindExternalEndpoint = "ExternalEndpoint"
	KindFADepl           = "FADepl"
	KindNode             = "Node"
)

// Labels a node carries to say where it is (FogAtlas's node labelling).
const (
	LabelRegion      = "region"
	LabelRegionName  = "region-name"
	LabelTier        = "tier"
	LabelAccelerator = "accelerator"
)

// LinkUp is the status of a usable link; a link with another status carries
// no traffic.
const LinkUp = "up"

// Object is one parsed document: a *Region, *Link, *ExternalEndpoint, *Node
// or *FADepl.
type Object interface {
	// Kind returns the document's kind, e.g. "Region".
	Kind() string
	// ObjectID returns what other documents refer to it by: the spec id of a
	// Region, Link or ExternalEndpoint, the metadata name of a Node or FADepl.
	ObjectID() string
}

// Location is a point on Earth, written "lat,lon" in the documents.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// String returns "lat,lon".
func (l Location) String() string {
	return strconv.FormatFloat(l.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(l.Lon, 'f', -1, 64)
}

// ParseLocation parses "lat,lon" in degrees.
func ParseLocation(s string) (Location, error) {
	lat, lon, ok := strings.Cut(s, ",")
	if !ok {
		return Location{}, fmt.Errorf("location %q: want \"lat,lon\"", s)
	}
	var l Location
	var err error
	if l.Lat, err = strconv.ParseFloat(strings.TrimSpace(lat), 64); err != nil || l.Lat < -90 || l.Lat > 90 {
		return Location{}, fmt.Errorf("location %q: latitude must be a number in [-90, 90]", s)
	}
	if l.Lon, err = strconv.ParseFloat(strings.TrimSpace(lon), 64); err != nil || l.Lon < -180 || l.Lon > 180 {
		return Location{}, fmt.Errorf("location %q: longitude must be a number in [-180, 180]", s)
	}
	return l, nil
}

// Region is an aggregation of compute: its capacity is the sum of the nodes
// labelled region=<ID>.
type Region struct {
	ID          string    `json:"id"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	Location    *Location `json:"location,omitempty"`
	// Tier is 0 for the cloud and grows toward the edge.
	Tier     int    `json:"tier"`
	Type     string `json:"type,omitempty"`
	CPUModel string `json:"cpumodel,omitempty"`
	// CPU2MIPS is the MIPS rating of one full CPU of the region; 0 when
	// unknown, and then a microservice that asks for MIPS cannot go there.
	CPU2MIPS int64 `json:"cpu2mips,omitempty"`
}

// Kind returns "Region".
func (*Region) Kind() string { return KindRegion }

// ObjectID returns the region id.
func (r *Region) ObjectID() string { return r.ID }

// Link connects two regions. It is undirected: traffic in either direction
// shares Bandwidth.
type Link struct {
	ID        string `json:"id"`
	EndpointA string `json:"endpointa"`
	EndpointB string `json:"endpointb"`
	// Bandwidth is the capacity in bit/s.
	Bandwidth int64 `json:"bandwidth"`
	// Latency is one-way latency in milliseconds.
	Latency float64 `json:"latency"`
	// Status is "up" for a usable link; "" is read as "up".
	Status string `json:"status"`
	// BWAllocated is the bandwidth (bit/s) already allocated to dataflows.
	BWAllocated int64 `json:"bwallocated,omitempty"`
}

// Kind returns "Link".
func (*Link) Kind() string { return KindLink }

// ObjectID returns the link id.
func (l *Link) ObjectID() string { return l.ID }

// Up reports whether the link carries traffic.
func (l *Link) Up() bool { return l.Status == LinkUp }

// Free returns the bandwidth not yet allocated, never below 0.
func (l *Link) Free() int64 { return max(l.Bandwidth-l.BWAllocated, 0) }

// Other returns the endpoint of l that is not region, assuming region is one
// of its endpoints.
func (l *Link) Other(region string) string {
	if l.EndpointA == region {
		return l.EndpointB
	}
	return l.EndpointA
}

// ExternalEndpoint is a source or sink of data outside the cluster (camera,
// sensor, service), attached to a region.
type ExternalEndpoint struct {
	ID          string    `json:"id"`
	Type        string    `json:"type,omitempty"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	IPAddress   string    `json:"ipaddress,omitempty"`
	Location    *Location `json:"location,omitempty"`
	RegionID    string    `json:"regionid"`
}

// Kind returns "ExternalEndpoint".
func (*ExternalEndpoint) Kind() string { return KindExternalEndpoint }

// ObjectID returns the endpoint id.
func (e *ExternalEndpoint) ObjectID() string { return e.ID }

// Node is a machine of a region, as a `kind: Node` document describes it:
// its labels place it (region, region-name, tier) and say what it has
// (accelerator); its capacity is what placement may use.
type Node struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	// Region is the value of the "region" label.
	Region string `json:"region"`
	// CPUMillis, MemoryBytes and GPU are the node's capacity.
	CPUMillis   int64 `json:"cpu_millis"`
	MemoryBytes int64 `json:"memory_bytes"`
	GPU         int64 `json:"gpu,omitempty"`
	// AllocatedCPUMillis and AllocatedMemoryBytes are already in use by
	// other work (spec.allocated); placement uses only the rest.
	AllocatedCPUMillis   int64 `json:"allocated_cpu_millis,omitempty"`
	AllocatedMemoryBytes int64 `json:"allocated_memory_bytes,omitempty"`
}

// Kind returns "Node".
func (*Node) Kind() string { return KindNode }

// ObjectID returns the node name.
func (n *Node) ObjectID() string { return n.Name }

// FreeCPUMillis returns the cpu not yet allocated, never below 0.
func (n *Node) FreeCPUMillis() int64 { return max(n.CPUMillis-n.AllocatedCPUMillis, 0) }

// FreeMemoryBytes returns the memory not yet allocated, never below 0.
func (n *Node) FreeMemoryBytes() int64 { return max(n.MemoryBytes-n.AllocatedMemoryBytes, 0) }

// Algorithm names a FADepl placement algorithm.
type Algorithm string

// The algorithms of FogAtlas.
const (
	// AlgorithmSilly places every microservice in the regions it requires,
	// without checking resources.
	AlgorithmSilly Algorithm = "Silly"
	// AlgorithmResourceBased places a pipeline (a chain of dataflows).
	AlgorithmResourceBased Algorithm = "ResourceBased"
	// AlgorithmDAG places any acyclic graph of microservices and endpoints.
	AlgorithmDAG Algorithm = "DAG"
)

// FADepl is a whole application: microservices, the external endpoints they
// talk to and the dataflows between them.
type FADepl struct {
	Name              string         `json:"name"`
	Algorithm         Algorithm      `json:"algorithm"`
	ExternalEndpoints []string       `json:"externalendpoints,omitempty"`
	Microservices     []Microservice `json:"microservices"`
	Dataflows         []Dataflow     `json:"dataflows,omitempty"`
}

// Kind returns "FADepl".
func (*FADepl) Kind() string { return KindFADepl }

// ObjectID returns the application name.
func (a *FADepl) ObjectID() string { return a.Name }

// Microservice returns the microservice called name.
func (a *FADepl) Microservice(name string) (*Microservice, bool) {
	for i := range a.Microservices {
		if a.Microservices[i].Name == name {
			return &a.Microservices[i], true
		}
	}
	return nil, false
}

// Microservice is one component of a FADepl, run as a Kubernetes Deployment.
type Microservice struct {
	Name string `json:"name"`
	// MIPSRequired, when > 0, replaces the cpu request: in a region it is
	// MIPSRequired / (cpu2mips/1000) millicores.
	MIPSRequired int64               `json:"mipsrequired,omitempty"`
	Deployment   Deployment          `json:"deployment"`
	Regions      []RegionRequirement `json:"regions,omitempty"`
}

// RegionRequirement pins a microservice to a region, optionally with its own
// replica count and image there.
type RegionRequirement struct {
	RegionRequired string `json:"regionrequired"`
	// Replicas overrides the deployment's replicas in this region; 0 keeps it.
	Replicas int `json:"replicas,omitempty"`
	// Image overrides the first container's image in this region; "" keeps it.
	Image string `json:"image,omitempty"`
}

// Deployment is what placement keeps of a Kubernetes Deployment.
type Deployment struct {
	Name         string            `json:"name,omitempty"`
	Replicas     int               `json:"replicas"`
	Containers   []Container       `json:"containers"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
}

// Image returns the first container's image: the one a region override
// replaces.
func (d *Deployment) Image() string {
	if len(d.Containers) == 0 {
		return ""
	}
	return d.Containers[0].Image
}

// CPUMillis returns the pod's cpu request: the sum over its containers.
func (d *Deployment) CPUMillis() int64 {
	var sum int64
	for _, c := range d.Containers {
		sum += c.CPUMillis
	}
	return sum
}

// MemoryBytes returns the pod's memory request: the sum over its containers.
func (d *Deployment) MemoryBytes() int64 {
	var sum int64
	for _, c := range d.Containers {
		sum += c.MemoryBytes
	}
	return sum
}

// Container is one container of a Deployment's pod template.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// CPUMillis and MemoryBytes are resources.requests.
	CPUMillis   int64 `json:"cpu_millis,omitempty"`
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// Dataflow is data sent from one microservice or endpoint to another.
type Dataflow struct {
	SourceID      string `json:"sourceid"`
	DestinationID string `json:"destinationid"`
	// BandwidthRequired is in bit/s.
	BandwidthRequired int64 `json:"bandwidthrequired"`
	// Latency is the most the path may add, in milliseconds; 0 means no
	// bound (the field was left out).
	Latency float64 `json:"latency,omitempty"`
}

// String returns "source->destination".
func (f Dataflow) String() string { return f.SourceID + "->" + f.DestinationID }
