// Package netmap is the instance network's shared picture: which worker owns
// which subnet of the instance network, where its tunnel ends, and which
// instances stand behind each service address. The root builds one Map from
// its state and sends it down the tier links (root -> cluster -> worker,
// GET /link/v1/netmap, long-polled by revision); each worker programs its
// kernel from it (internal/overlay). The package holds only data and the
// address arithmetic both ends must agree on, so the control plane (root,
// cluster) and the data path (overlay) never import each other.
// See docs/adr/016-service-networking.md.
package netmap

// Defaults of the two address ranges (Oakestra's service range is 10.30/16).
const (
	DefaultInstanceCIDR = "10.18.0.0/16"
	DefaultServiceCIDR  = "10.30.0.0/16"
	// DefaultClusterBits is the prefix length of the range the root gives
	// each cluster, DefaultWorkerBits that of the subnet a cluster gives
	// each worker: 16 clusters of 16 workers of 254 instances in the
	// default /16. Both are root settings (hedge root --cluster-prefix,
	// --worker-prefix).
	DefaultClusterBits = 20
	DefaultWorkerBits  = 24
	// DefaultTunnelPort is the UDP port of a worker's tunnel end.
	DefaultTunnelPort = 4789
)

// Map is the whole instance network at one revision.
type Map struct {
	Revision uint64 `json:"revision"`
	// InstanceCIDR is the instance network (10.18.0.0/16), ServiceCIDR the
	// range of service addresses (10.30.0.0/16).
	InstanceCIDR string `json:"instance_cidr"`
	ServiceCIDR  string `json:"service_cidr"`
	// WorkerPrefix is the prefix length of the subnet a cluster gives each
	// of its workers out of its range (hedge root --worker-prefix).
	WorkerPrefix int `json:"worker_prefix,omitempty"`
	// Encrypt asks every worker to carry traffic between workers through
	// WireGuard instead of plain VXLAN (hedge root --overlay-encrypt).
	Encrypt bool `json:"encrypt,omitempty"`
	// Self is filled per recipient by the tier that serves the map.
	Self     Self      `json:"self"`
	Workers  []Worker  `json:"workers"`
	Services []Service `json:"services"`
	// Isolated lists the namespaces closed to instances of other namespaces.
	Isolated []Isolation `json:"isolated,omitempty"`
}

// Self is the recipient's own share of the instance network.
type Self struct {
	// ID is the recipient's id (cluster or worker).
	ID string `json:"id"`
	// Range is, for a cluster, the part of InstanceCIDR the root gave it,
	// from which it hands out its workers' subnets.
	Range string `json:"range,omitempty"`
	// Subnet is, for a worker, the subnet its instances take addresses
	// from; empty until its cluster has given it one.
	Subnet string `json:"subnet,omitempty"`
}

// Worker is one worker's end of the instance network.
type Worker struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
	// Subnet is the worker's subnet of InstanceCIDR ("10.18.1.0/24").
	Subnet string `json:"subnet"`
	// Endpoint is the underlay "ip:port" (UDP) where the worker's tunnel
	// ends, as the worker reported it.
	Endpoint string `json:"endpoint"`
	// PublicKey is the worker's WireGuard public key (base64), used when
	// the map says Encrypt.
	PublicKey string `json:"public_key,omitempty"`
}

// Service is one service's addresses and its live instances.
type Service struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	App       string `json:"app"`
	Namespace string `json:"namespace"`
	// RRIP spreads connections over Instances in turn; ClosestIP sends
	// them to the instance with the lowest round trip from the caller's
	// worker. Both are in ServiceCIDR and never change for the service.
	RRIP      string `json:"rr_ip"`
	ClosestIP string `json:"closest_ip"`
	// Instances are the RUNNING instances that have an address.
	Instances []Backend `json:"instances"`
}

// Backend is one RUNNING instance behind a service address.
type Backend struct {
	InstanceID string `json:"instance_id"`
	IP         string `json:"ip"`
	Worker     string `json:"worker"`
}

// Isolation closes a namespace to instances of every namespace but its own
// and those in Allow.
type Isolation struct {
	Namespace string   `json:"namespace"`
	Allow     []string `json:"allow,omitempty"`
}

// TunnelInfo is what a worker reports of its tunnel end (in its node report).
type TunnelInfo struct {
	Endpoint  string `json:"endpoint"`
	PublicKey string `json:"public_key,omitempty"`
}

// Name is the DNS name of a service: <service>.<app>.<namespace>.hedge.
func Name(service, app, namespace string) string {
	return service + "." + app + "." + namespace + ".hedge"
}
