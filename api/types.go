package api

import "time"

// Virtualization names a runtime that can run a service's instances.
const (
	VirtProcess   = "process"
	VirtContainer = "container"
	VirtUnikernel = "unikernel"
)

// InstanceState is the lifecycle state of one instance of a service. The states
// follow Oakestra's names where Oakestra has one.
type InstanceState string

// Instance states, in the order an instance normally passes through them.
const (
	// StateRequested: the root accepted the instance and has not placed it yet.
	StateRequested InstanceState = "REQUESTED"
	// StateUnschedulable: no cluster (or no node) fits; Reason says which filter
	// rejected how many candidates. Placement is retried periodically.
	StateUnschedulable InstanceState = "UNSCHEDULABLE"
	// StateScheduled: the root assigned the instance to a cluster.
	StateScheduled InstanceState = "SCHEDULED"
	// StateNodeScheduled: the cluster assigned the instance to a node.
	StateNodeScheduled InstanceState = "NODE_SCHEDULED"
	// StateStarting: the worker is preparing the instance (download, cgroup).
	StateStarting InstanceState = "STARTING"
	// StateRunning: the instance's process or container is running.
	StateRunning InstanceState = "RUNNING"
	// StateCompleted: a one_shot instance exited 0; it is not restarted.
	StateCompleted InstanceState = "COMPLETED"
	// StateFailed: the instance exited non-zero or could not start; it is
	// restarted with backoff unless its restart policy says otherwise.
	StateFailed InstanceState = "FAILED"
	// StateDead: the node running the instance stopped reporting.
	StateDead InstanceState = "DEAD"
	// StateUndeployed: the instance was stopped because it was removed.
	StateUndeployed InstanceState = "UNDEPLOYED"
)

// Terminal reports whether an instance in state s will not run again by itself.
func (s InstanceState) Terminal() bool {
	return s == StateCompleted || s == StateUndeployed
}

// Resources is an amount of compute: cores and memory.
type Resources struct {
	VCPUs    float64 `json:"vcpus"`
	MemoryMB int64   `json:"memory_mb"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{VCPUs: r.VCPUs + o.VCPUs, MemoryMB: r.MemoryMB + o.MemoryMB}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{VCPUs: r.VCPUs - o.VCPUs, MemoryMB: r.MemoryMB - o.MemoryMB}
}

// Fits reports whether r is no larger than o in every dimension.
func (r Resources) Fits(o Resources) bool {
	return r.VCPUs <= o.VCPUs+1e-9 && r.MemoryMB <= o.MemoryMB
}

// Constraint is one entry of an SLA microservice's `constraints` list. Which
// fields are set depends on Type.
type Constraint struct {
	// Type is one of direct, clusters, latency, geo, addons.
	Type string `json:"type" yaml:"type"`
	// Cluster (direct): the name of the only cluster allowed.
	Cluster string `json:"cluster,omitempty" yaml:"cluster,omitempty"`
	// Node (direct): node names separated by ";"; the instance may run on any.
	Node string `json:"node,omitempty" yaml:"node,omitempty"`
	// Allowed (clusters): names of the clusters allowed.
	Allowed []string `json:"allowed,omitempty" yaml:"allowed,omitempty"`
	// Area and Threshold (latency): target area and maximum latency in ms.
	Area string `json:"area,omitempty" yaml:"area,omitempty"`
	// Location (geo): "lat,lon"; Threshold is then a distance in km.
	Location  string  `json:"location,omitempty" yaml:"location,omitempty"`
	Threshold float64 `json:"threshold,omitempty" yaml:"threshold,omitempty"`
	// Needs (addons): names of add-ons the node must have.
	Needs []string `json:"needs,omitempty" yaml:"needs,omitempty"`
	// Regions (latency) is set by the root, never by the user: the ids of
	// the topology's regions whose path to Area takes at most Threshold ms,
	// where the instance may run. Clusters place by it; the root refreshes
	// it, and moves instances, when the topology changes.
	Regions []string `json:"regions,omitempty" yaml:"-"`
}

// Addresses are a service's virtual addresses (Oakestra semantic addressing).
type Addresses struct {
	RRIP      string `json:"rr_ip,omitempty" yaml:"rr_ip,omitempty"`
	RRIPv6    string `json:"rr_ip_v6,omitempty" yaml:"rr_ip_v6,omitempty"`
	ClosestIP string `json:"closest_ip,omitempty" yaml:"closest_ip,omitempty"`
}

// ServiceSpec is what an instance of a service runs: one microservice of an SLA,
// after validation. JSON names follow the SLA so that a spec reads like the
// descriptor it came from.
type ServiceSpec struct {
	Name           string   `json:"microservice_name"`
	Namespace      string   `json:"microservice_namespace"`
	Virtualization string   `json:"virtualization"`
	Code           string   `json:"code"`
	Cmd            []string `json:"cmd,omitempty"`
	Args           []string `json:"args,omitempty"`
	Environment    []string `json:"environment,omitempty"`
	MemoryMB       int64    `json:"memory"`
	VCPUs          float64  `json:"vcpus"`
	VGPUs          int      `json:"vgpus,omitempty"`
	VTPUs          int      `json:"vtpus,omitempty"`
	BandwidthIn    int64    `json:"bandwidth_in,omitempty"`
	BandwidthOut   int64    `json:"bandwidth_out,omitempty"`
	Storage        int64    `json:"storage,omitempty"`
	Port           string   `json:"port,omitempty"`
	AddedFiles     []string `json:"added_files,omitempty"`
	OneShot        bool     `json:"one_shot,omitempty"`
	Privileged     bool     `json:"privileged,omitempty"`
	// Raw runs a process service outside the instance sandbox, as the
	// worker's user on the host's namespaces (Hedge extension; needs the
	// Admin role or an allow list entry, see docs/adr/012-instance-sandbox.md).
	Raw         bool         `json:"raw,omitempty"`
	Arch        []string     `json:"arch,omitempty"`
	Addresses   *Addresses   `json:"addresses,omitempty"`
	Constraints []Constraint `json:"constraints,omitempty"`
	// Instances is how many instances to run (Hedge extension; default 1).
	Instances int `json:"instances,omitempty"`
	// RestartPolicy says when the worker restarts an instance that exited
	// (Hedge extension): RestartAlways (the default), RestartOnFailure or
	// RestartNever. one_shot services behave as on-failure.
	RestartPolicy string `json:"restart_policy,omitempty"`
	// NodeSelector holds labels the node must carry (Hedge extension), e.g.
	// {"accelerator": "nvidia-t4"} or {"region": "003-003"}.
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	// PlacementPolicy scores candidates (Hedge extension): best-fit (the
	// default), worst-fit, most-traffic (also traffic-most).
	PlacementPolicy string `json:"placement_policy,omitempty"`
	// Priority orders instances under resource pressure (Hedge extension):
	// the lowest priority is limited and evicted first.
	Priority int `json:"priority,omitempty"`
	// PressureExempt opts the service out of pressure actions (Hedge
	// extension): its instances are never limited or evicted.
	PressureExempt bool `json:"pressure_exempt,omitempty"`
	// Connectivity lists the dataflows that leave (or, from an external
	// endpoint, reach) this microservice, with their latency and bandwidth
	// bounds. An application with any places as a whole over the topology's
	// regions (docs/placement.md, "SLAs with dataflows").
	Connectivity []Connectivity `json:"connectivity,omitempty" yaml:"connectivity,omitempty"`
}

// Connectivity is one dataflow of a microservice, in the spirit of
// Oakestra's SLA: exactly one of TargetMicroservice (this microservice
// sends to another of the same application), TargetEndpoint (it sends to an
// external endpoint of the topology) or SourceEndpoint (that endpoint sends
// to it), and the flow's constraints.
type Connectivity struct {
	TargetMicroservice string          `json:"target_microservice,omitempty" yaml:"target_microservice,omitempty"`
	TargetEndpoint     string          `json:"target_endpoint,omitempty" yaml:"target_endpoint,omitempty"`
	SourceEndpoint     string          `json:"source_endpoint,omitempty" yaml:"source_endpoint,omitempty"`
	Constraints        []ConConstraint `json:"con_constraints,omitempty" yaml:"con_constraints,omitempty"`
}

// ConConstraint bounds a dataflow: Type "latency" (Threshold in ms, the
// most the path between the two regions may take) or "bandwidth"
// (Threshold in bit/s, reserved on every link of the path).
type ConConstraint struct {
	Type      string  `json:"type" yaml:"type"`
	Threshold float64 `json:"threshold" yaml:"threshold"`
}

// Connectivity constraint types.
const (
	ConLatency   = "latency"
	ConBandwidth = "bandwidth"
)

// Restart policies.
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

// Restarts reports whether an instance that exited with the given code (or
// an unknown one) should be started again under this spec.
func (s *ServiceSpec) Restarts(code int, known bool) bool {
	failed := !known || code != 0
	switch {
	case s.RestartPolicy == RestartNever:
		return false
	case s.OneShot || s.RestartPolicy == RestartOnFailure:
		return failed
	}
	return true
}

// Demand is what one instance of the service reserves on the node running it.
func (s *ServiceSpec) Demand() Resources {
	return Resources{VCPUs: s.VCPUs, MemoryMB: s.MemoryMB}
}

// Instance is one running (or wanted) copy of a service, as the API shows it.
type Instance struct {
	Number      int           `json:"instance_number"`
	ID          string        `json:"instance_id"`
	Status      InstanceState `json:"status"`
	Reason      string        `json:"reason,omitempty"`
	ClusterID   string        `json:"cluster_id"`
	ClusterName string        `json:"cluster_name,omitempty"`
	NodeID      string        `json:"node_id,omitempty"`
	NodeName    string        `json:"node_name,omitempty"`
	ExitCode    *int          `json:"exit_code,omitempty"`
	Restarts    int           `json:"restarts"`
	PID         int           `json:"pid,omitempty"`
	// CPU (cores) and MemoryMB are what the instance uses now, from its cgroup.
	CPU      float64 `json:"cpu_usage,omitempty"`
	MemoryMB int64   `json:"memory_usage_mb,omitempty"`
	// Limited is set while pressure control has tightened its limits.
	Limited   bool       `json:"limited,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
	// IP is the instance's address on the instance network, as its worker
	// reported it (container and unikernel instances).
	IP string `json:"ip,omitempty"`
	OakestraInstance
}

// OakestraInstance holds an instance's fields under the names Oakestra's CLI
// and dashboard read (docs/oakestra.md); the root fills them from the
// fields above and its usage history.
type OakestraInstance struct {
	// StatusDetail is Reason.
	StatusDetail string `json:"status_detail"`
	// PublicIP and HostIP are the address of the node running the instance,
	// when its worker reported one.
	PublicIP string `json:"publicip"`
	HostIP   string `json:"host_ip"`
	// ClusterLocation is the "location" label of the instance's cluster.
	ClusterLocation string `json:"cluster_location"`
	// WorkerID is NodeID.
	WorkerID string `json:"worker_id"`
	// CPUPercent is CPU in percent of one core; MemoryUsedMB is MemoryMB.
	CPUPercent   float64 `json:"cpu"`
	MemoryUsedMB int64   `json:"memory"`
	// CPUHistory and MemoryHistory are the last reported figures, oldest
	// first (a bounded history kept at the root).
	CPUHistory    []Sample `json:"cpu_history"`
	MemoryHistory []Sample `json:"memory_history"`
	// DiskMB is not measured per instance; always 0.
	DiskMB float64 `json:"disk"`
	// Logs is the tail of the instance's output; only GET
	// /api/service/{id} fills it.
	Logs string `json:"logs"`
}

// Sample is one figure of an instance's usage history: CPU in percent of one
// core, memory in MB.
type Sample struct {
	Timestamp float64 `json:"timestamp"` // seconds since the Unix epoch
	Value     float64 `json:"value"`
}

// Service is a deployed microservice with its instances.
type Service struct {
	ID            string `json:"microserviceID"`
	ApplicationID string `json:"applicationID"`
	AppName       string `json:"app_name"`
	Owner         string `json:"owner"`
	// OwnerID is the id of the owning user; Owner is its name then.
	OwnerID   string      `json:"owner_id,omitempty"`
	Spec      ServiceSpec `json:"spec"`
	Instances []Instance  `json:"instance_list"`
	CreatedAt time.Time   `json:"created_at"`
	// ClosestIP is the service's closest address on the instance network;
	// its round-robin address is RR_ip (OakestraService.RRIP). Both are
	// the service's for its whole life (docs/networking.md).
	ClosestIP string `json:"closest_ip,omitempty"`
	// RRIPv6 is the IPv6 round-robin address the SLA gave, kept and shown
	// but not routed yet.
	RRIPv6 string `json:"rr_ip_v6,omitempty"`
	// Names are the DNS names the instance network's resolvers answer with
	// the service's addresses: <service>.<app>.<namespace>.hedge.
	Names []string `json:"names,omitempty"`
	OakestraService
}

// OakestraService is a service as Oakestra stores it, flat: the fields of
// its spec at the top level, which Oakestra's CLI and dashboard read (the
// CLI finds services by microservice_name). The root fills it from Spec.
type OakestraService struct {
	OID            OID      `json:"_id"`
	Name           string   `json:"microservice_name"`
	Namespace      string   `json:"microservice_namespace"`
	AppNamespace   string   `json:"app_ns"`
	Virtualization string   `json:"virtualization"`
	Code           string   `json:"code"`
	Cmd            []string `json:"cmd"`
	MemoryMB       int64    `json:"memory"`
	VCPUs          float64  `json:"vcpus"`
	Port           string   `json:"port"`
	Environment    []string `json:"environment"`
	RRIP           string   `json:"RR_ip"`
	// Status is RUNNING when an instance runs, else the state of its most
	// recently updated instance, or ServiceCreated when it has none.
	Status string `json:"status"`
}

// Application is a set of services submitted together in one SLA.
type Application struct {
	ID          string `json:"applicationID"`
	Name        string `json:"application_name"`
	Namespace   string `json:"application_namespace"`
	Description string `json:"application_desc,omitempty"`
	Owner       string `json:"userId"`
	// OwnerID is the id of the owning user, which ownership is decided by
	// (a new user with a deleted user's name owns nothing of theirs).
	OwnerID    string    `json:"owner_id,omitempty"`
	ServiceIDs []string  `json:"microservices"`
	CreatedAt  time.Time `json:"created_at"`
	// OID is ID as Oakestra's clients key on it; the root fills it.
	OID OID `json:"_id"`
}

// ServiceCreated is the status of a service with no instance: registered,
// not deployed (Oakestra's workflow deploys with POST
// /api/service/{id}/instance).
const ServiceCreated = "CREATED"

// OID is Mongo's form of an object id, {"$oid": "..."}, which Oakestra's CLI
// and dashboard key applications, services, users and clusters on.
type OID struct {
	OID string `json:"$oid"`
}

// NodeState says whether a node (or cluster) is reporting.
type NodeState string

// Node and cluster states.
const (
	NodeReady    NodeState = "READY"
	NodeNotReady NodeState = "NOT_READY"
)

// HostMetrics is what a worker measures of its machine and reports every few
// seconds.
type HostMetrics struct {
	CPUPercent    float64 `json:"cpu_percent"`
	Cores         int     `json:"cpu_cores"`
	MemoryTotalMB int64   `json:"memory_total_mb"`
	MemoryFreeMB  int64   `json:"memory_free_mb"`
	MemoryPercent float64 `json:"memory_percent"`
	DiskTotalMB   int64   `json:"disk_total_mb"`
	DiskFreeMB    int64   `json:"disk_free_mb"`
	NetRxBytesPS  float64 `json:"net_rx_bytes_per_s"`
	NetTxBytesPS  float64 `json:"net_tx_bytes_per_s"`
	Load1         float64 `json:"load1"`
	// InstancesCPU and InstancesMemoryMB are what the node's instances use,
	// from their cgroups (cores, MB).
	InstancesCPU      float64 `json:"instances_cpu"`
	InstancesMemoryMB int64   `json:"instances_memory_mb"`
}

// Node is a worker machine as a cluster (and, through it, the root) sees it.
type Node struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	ClusterID   string    `json:"cluster_id,omitempty"`
	ClusterName string    `json:"cluster_name,omitempty"`
	State       NodeState `json:"state"`
	Cordoned    bool      `json:"cordoned,omitempty"`
	// Pressure is the node's resource-pressure level: normal, limited
	// (avoided by placement) or tainted (no new placements; instances are
	// being moved off).
	Pressure  string            `json:"pressure,omitempty"`
	Arch      string            `json:"arch"`
	Runtimes  []string          `json:"runtimes"`
	Labels    map[string]string `json:"labels,omitempty"`
	Capacity  Resources         `json:"capacity"`
	Reserved  Resources         `json:"reserved"`
	Metrics   HostMetrics       `json:"metrics"`
	Instances int               `json:"instances"`
	LastSeen  time.Time         `json:"last_seen"`
	// Subnet is the node's subnet of the instance network, given by its
	// cluster; TunnelEndpoint ("ip:port", UDP) and TunnelPublicKey (its
	// WireGuard public key) are where its tunnel ends, as it reported.
	Subnet          string `json:"subnet,omitempty"`
	TunnelEndpoint  string `json:"tunnel_endpoint,omitempty"`
	TunnelPublicKey string `json:"tunnel_public_key,omitempty"`
}

// IsolationRequest is the body of PUT /api/namespaces/{ns}/isolation.
type IsolationRequest struct {
	Isolated bool     `json:"isolated"`
	Allow    []string `json:"allow,omitempty"`
}

// NamespaceIsolation is the instance network's policy for one namespace
// (an application namespace): when Isolated, its instances take
// connections only from instances of the same namespace and of those in
// Allow.
type NamespaceIsolation struct {
	Namespace string   `json:"namespace"`
	Isolated  bool     `json:"isolated"`
	Allow     []string `json:"allow,omitempty"`
}

// Cluster is a cluster orchestrator registered with the root, with the
// aggregate of its nodes.
type Cluster struct {
	ID          string            `json:"id"`
	Name        string            `json:"cluster_name"`
	State       NodeState         `json:"state"`
	Labels      map[string]string `json:"labels,omitempty"`
	ActiveNodes int               `json:"active_nodes"`
	Arch        []string          `json:"arch"`
	Runtimes    []string          `json:"runtimes"`
	Capacity    Resources         `json:"capacity"`
	// Reserved is what the root has placed on this cluster.
	Reserved Resources `json:"reserved"`
	// MaxNodeFree is the most free resources on any single ready node.
	MaxNodeFree   Resources `json:"max_node_free"`
	CPUPercent    float64   `json:"aggregated_cpu_percent"`
	MemoryPercent float64   `json:"aggregated_memory_percent"`
	Instances     int       `json:"instances"`
	LastSeen      time.Time `json:"last_seen"`
	OakestraCluster
}

// OakestraCluster holds a cluster's fields under the names Oakestra's CLI and
// dashboard read; the root fills them from the fields above.
type OakestraCluster struct {
	OID OID `json:"_id"`
	// CandidateName is Name.
	CandidateName string `json:"candidate_name"`
	// IP and Port are where the root sees the cluster's link from, when known.
	IP   string `json:"ip"`
	Port string `json:"port"`
	// Active is State == READY.
	Active bool `json:"active"`
	// Location is the cluster's "location" label.
	Location string `json:"cluster_location"`
	// CPUPercentNow and MemPercent repeat the aggregated percentages.
	CPUPercentNow  float64  `json:"cpu_percent"`
	MemPercent     float64  `json:"memory_percent"`
	MemoryInMB     int64    `json:"memory_in_mb"`
	TotalCPUCores  float64  `json:"total_cpu_cores"`
	TotalGPUCores  int      `json:"total_gpu_cores"`
	VCPUsTotal     float64  `json:"vcpus"`
	VGPUs          int      `json:"vgpus"`
	Virtualization []string `json:"virtualization"`
	// LastModified is LastSeen in seconds since the Unix epoch.
	LastModified float64 `json:"last_modified_timestamp"`
}

// Event is something that happened to a node that an operator should see,
// such as a pressure transition and the action taken, with the metric that
// caused it.
type Event struct {
	At        time.Time `json:"at"`
	Cluster   string    `json:"cluster,omitempty"`
	Node      string    `json:"node"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Metric    string    `json:"metric,omitempty"`
	Value     float64   `json:"value,omitempty"`
	Threshold float64   `json:"threshold,omitempty"`
	Action    string    `json:"action,omitempty"`
	Instance  string    `json:"instance,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// AllowEntry lets User use privileged settings (raw processes, privileged
// containers, host-path added_files, pressure_exempt, priority above 0) in
// microservices pinned to Cluster.
type AllowEntry struct {
	Cluster string `json:"cluster"`
	User    string `json:"user"`
}
