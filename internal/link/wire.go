package link

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/netmap"
)

// JoinRequest is sent once by a lower tier that has no credential yet.
type JoinRequest struct {
	Token string `json:"token"`
	Name  string `json:"name"`
	// CSR, optional, is a PEM certificate request for the peer's client
	// certificate; only its key is used.
	CSR string `json:"csr,omitempty"`
}

// JoinResponse carries the identity and the credential the peer uses from now on.
type JoinResponse struct {
	ID         string `json:"id"`
	Credential string `json:"credential"`
	// Certificate is the client certificate signed for the CSR of the
	// request, followed by the CA, naming the peer's id; empty when no CSR
	// was sent or the upper tier signs none.
	Certificate string `json:"certificate,omitempty"`
}

// Assignment is one instance the upper tier wants the peer to run.
type Assignment struct {
	InstanceID string          `json:"instance_id"`
	ServiceID  string          `json:"service_id"`
	AppName    string          `json:"app_name"`
	Number     int             `json:"number"`
	Generation uint64          `json:"generation"`
	Spec       api.ServiceSpec `json:"spec"`
	// Limit, when set, replaces the spec's limits while the node is under
	// resource pressure; nil restores them.
	Limit *api.Resources `json:"limit,omitempty"`
}

// Assignments is the whole desired set for one peer at one revision.
type Assignments struct {
	Revision uint64       `json:"revision"`
	Items    []Assignment `json:"items"`
	// Nodes carries operators' orders for the cluster's nodes, by node id.
	Nodes map[string]NodeControl `json:"nodes,omitempty"`
}

// NodeControl is what an operator asked of one node.
type NodeControl struct {
	// Cordoned: place no new instances on the node.
	Cordoned bool `json:"cordoned,omitempty"`
	// Drained: also move the instances it runs to other nodes.
	Drained bool `json:"drained,omitempty"`
	// Deleted: the operator deleted the node. Its cluster revokes its
	// credential, forgets it and moves its instances to other nodes.
	Deleted bool `json:"deleted,omitempty"`
}

// TokenCheck is a cluster asking its root whether a worker may join with a
// worker join token (POST /link/v1/worker-token). The root checks expiry,
// revocation, uses and the token's cluster scope; with Use it also counts
// one use. Clusters keep no copy of the root's tokens, so a revocation or an
// expiry holds at once everywhere.
type TokenCheck struct {
	Token string `json:"token"`
	// Name is the name the worker joins under (for the root's log).
	Name string `json:"name"`
	Use  bool   `json:"use,omitempty"`
}

// InstanceStatus is what a peer reports of one instance.
type InstanceStatus struct {
	InstanceID string            `json:"instance_id"`
	Generation uint64            `json:"generation"`
	State      api.InstanceState `json:"state"`
	Reason     string            `json:"reason,omitempty"`
	ExitCode   *int              `json:"exit_code,omitempty"`
	Restarts   int               `json:"restarts"`
	PID        int               `json:"pid,omitempty"`
	StartedAt  *time.Time        `json:"started_at,omitempty"`
	NodeID     string            `json:"node_id,omitempty"`
	NodeName   string            `json:"node_name,omitempty"`
	CPU        float64           `json:"cpu,omitempty"`
	MemoryMB   int64             `json:"memory_mb,omitempty"`
	Limited    bool              `json:"limited,omitempty"`
	// IP is the instance's address on the instance network, if it has one.
	IP string `json:"ip,omitempty"`
}

// NodeReport is a worker's description of its machine.
type NodeReport struct {
	Name     string            `json:"name"`
	Arch     string            `json:"arch"`
	Runtimes []string          `json:"runtimes"`
	Labels   map[string]string `json:"labels,omitempty"`
	Capacity api.Resources     `json:"capacity"`
	Metrics  api.HostMetrics   `json:"metrics"`
	// Tunnel is the worker's end of the instance network, once it has one.
	Tunnel *netmap.TunnelInfo `json:"tunnel,omitempty"`
}

// ClusterReport is a cluster's aggregate and its nodes, for the root.
type ClusterReport struct {
	Name      string      `json:"name"`
	Aggregate api.Cluster `json:"aggregate"`
	Nodes     []api.Node  `json:"nodes"`
	// NodesUnchanged, when set, stands for Nodes: the NodesDigest of the
	// nodes of an earlier report the upper tier acknowledged (header
	// Hedge-Nodes-Digest). It says that nothing but the nodes' metrics and
	// last-seen times changed since; the upper tier keeps the nodes it holds
	// under that digest, or answers 409 (ErrStale) and the cluster sends
	// them all again. Nodes is then empty.
	NodesUnchanged string `json:"nodes_unchanged,omitempty"`
	// Events are the cluster's recent node events (pressure), newest last.
	Events []api.Event `json:"events,omitempty"`
}

// Report is a peer's whole state. Exactly one of Node or Cluster is set.
//
// Instances are in InstanceID order (the canonical order their Digest is
// taken in); Run sorts them, and the upper tier sorts a full report's
// instances before it digests them.
//
// When none of its instances changed since the last report the upper tier
// acknowledged, a peer may send Unchanged, the Digest of those instances,
// instead of Instances; the upper tier then takes the instances it holds
// under that digest, or answers 409 (ErrStale) if it holds other ones (it
// restarted, a report was lost) and the peer sends them all again. An upper
// tier acknowledges a report's instances with their digest in the
// Hedge-Report-Digest header; a peer sends Unchanged only after such an
// acknowledgement, so an upper tier that does not know the field always gets
// the instances.
//
// When only some instances changed, a peer may send a delta instead: Base is
// the digest of the set the upper tier acknowledged, Instances the statuses
// that are new or changed since, and Removed the ids of those gone. The upper
// tier applies it to the set it holds under Base and hands the whole result
// to Upper.Report, or answers 409 (ErrStale) if it holds no set under Base.
// A peer sends deltas only to an upper tier whose answers carry the
// Hedge-Report-Deltas header.
//
// A report whose Instances and Removed together hold more than PageSize
// entries goes as several pages (Page set), so that no request comes near
// maxBody whatever the number of instances. See ReportPage.
type Report struct {
	Node      *NodeReport      `json:"node,omitempty"`
	Cluster   *ClusterReport   `json:"cluster,omitempty"`
	Instances []InstanceStatus `json:"instances"`
	Unchanged string           `json:"unchanged,omitempty"`
	// Base, when set, makes the report a delta against the instances the
	// upper tier acknowledged under this digest.
	Base string `json:"base,omitempty"`
	// Removed are, in a delta, the ids of the instances no longer reported.
	Removed []string `json:"removed,omitempty"`
	// Page, when set, makes this request one page of a larger report.
	Page *ReportPage `json:"page,omitempty"`
}

// ReportPage places one request in a report sent as several pages. Every
// page carries part of the report's Instances and Removed, and the same Base;
// only the last carries Node or Cluster. The upper tier keeps the pages of a
// peer's report and applies nothing until the last one; a page that does not
// follow the one before it (a lost page, an upper tier that restarted or
// another replica that took over) is answered 409 (ErrStale), and the peer
// sends the report again from a full one.
type ReportPage struct {
	// Set names the report the page belongs to (chosen by the peer, new for
	// each paged report).
	Set string `json:"set"`
	// Number counts the pages of the report from 0.
	Number int `json:"number"`
	// Last marks the report's last page.
	Last bool `json:"last,omitempty"`
}

// PageSize is the most entries (instance statuses plus removed ids) one
// request of a report carries. A status takes about 210 bytes in JSON, so a
// page is about 400 KB: far below maxBody (16 MB) even with long reasons,
// small enough that a page is decoded in a few milliseconds, and large
// enough that 100,000 instances go in 50 requests. A page that encodes to
// more than maxPageBytes all the same is split further.
const PageSize = 2000

// maxPageBytes bounds the encoding of one page: a quarter of maxBody.
const maxPageBytes = maxBody / 4

// maxPages bounds the pages of one report (2,000,000 entries), so that a
// peer cannot make the upper tier hold pages without end.
const maxPages = 1000

// HeaderDigest is the header of the answer to a report that acknowledges
// its instances by their Digest.
const HeaderDigest = "Hedge-Report-Digest"

// HeaderDeltas is set in every answer to a report by an upper tier that
// takes deltas (Report.Base) and pages (Report.Page); its value is the
// PageSize it accepts.
const HeaderDeltas = "Hedge-Report-Deltas"

// HeaderNodesDigest is the header of the answer to a cluster report that
// acknowledges its nodes by their NodesDigest.
const HeaderNodesDigest = "Hedge-Nodes-Digest"

// HeaderStandby marks the answer of a replica of the upper tier that does
// not lead (503 Service Unavailable): it applied nothing, and the link
// client sends the request on to the next replica it was given. Its value
// is the leader's URL when known.
const HeaderStandby = "Hedge-Standby"

// RefuseStandby answers a link request on a replica that does not lead.
func RefuseStandby(w http.ResponseWriter, leader string) {
	w.Header().Set(HeaderStandby, leader)
	w.Header().Set("Retry-After", "1")
	msg := "this replica stands by and serves no tier link: dial the leading replica"
	if leader != "" {
		msg += " (" + leader + ")"
	}
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// Request is a question relayed down to a peer (for example, the logs of an
// instance it runs).
type Request struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	InstanceID string `json:"instance_id,omitempty"`
	Tail       int    `json:"tail,omitempty"`
}

// Request kinds.
const (
	KindLogs = "logs"
)

// Response answers a Request.
type Response struct {
	ID    string          `json:"id"`
	Body  json.RawMessage `json:"body,omitempty"`
	Data  []byte          `json:"data,omitempty"`
	Error string          `json:"error,omitempty"`
	// NotFound marks an error that means the thing asked about does not exist.
	NotFound bool `json:"not_found,omitempty"`
}
