package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// This file holds the wire types and client calls of Kubernetes clusters,
// Helm chart repositories and enablers (the ASSIST-IoT Smart Orchestrator's
// API, under the paths its users know).

// Kubernetes cluster states, as the Smart Orchestrator names them.
const (
	KubePending  = "Pending"  // registered, not checked yet
	KubeEnabled  = "Enabled"  // reachable, every node Ready
	KubeDegraded = "Degraded" // reachable, some nodes NotReady
	KubeError    = "Error"    // unreachable or credentials refused
)

// KubeClusterKindLabel is the label every Kubernetes cluster carries in
// GET /api/clusters/ (value KubeClusterKind); KubeCloudLabel="true" marks the
// cloud cluster, which automatic placement leaves out unless asked for.
const (
	KubeClusterKindLabel = "hedge.io/cluster-kind"
	KubeClusterKind      = "kubernetes"
	KubeCloudLabel       = "hedge.io/cloud"
)

// KubeClusterRequest registers a Kubernetes cluster. Credentials is a
// kubeconfig: a JSON object or a YAML (or JSON) document in a string.
type KubeClusterRequest struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Credentials json.RawMessage `json:"credentials"`
	Cloud       bool            `json:"cloud,omitempty"`
}

// KubeCluster is a registered Kubernetes cluster. Its credentials are never
// part of it.
type KubeCluster struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Cloud       bool   `json:"cloud"`
	// Status is KubePending, KubeEnabled, KubeDegraded or KubeError; Reason
	// says why it is not Enabled.
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	Server     string    `json:"server"`
	Version    string    `json:"k8s_version,omitempty"`
	Nodes      int       `json:"nodes"`
	ReadyNodes int       `json:"ready_nodes"`
	CreatedAt  time.Time `json:"created_at"`
	CheckedAt  time.Time `json:"checked_at,omitempty"`
}

// KubeTaint is a node taint.
type KubeTaint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// KubeNode is a node of a Kubernetes cluster with what its running pods
// already request. CPU is in cores, memory in MB.
type KubeNode struct {
	Name          string            `json:"name"`
	Ready         bool              `json:"ready"`
	Unschedulable bool              `json:"unschedulable,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Taints        []KubeTaint       `json:"taints,omitempty"`
	Capacity      Resources         `json:"capacity"`
	Allocatable   Resources         `json:"allocatable"`
	Requested     Resources         `json:"requested"`
	Pods          int               `json:"pods"`
}

// ChartRepoRequest adds or updates a Helm chart repository; Username and
// Password make it private (sent with HTTP basic auth).
type ChartRepoRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`
	Username    string `json:"username,omitempty"`
	Password    string `json:"password,omitempty"`
}

// ChartRepo is a registered chart repository; its password is never shown.
type ChartRepo struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	URL         string    `json:"url"`
	Private     bool      `json:"private"`
	CreatedAt   time.Time `json:"created_at"`
}

// Chart is one chart version listed in a repository's index.yaml.
type Chart struct {
	Repo        string `json:"repo"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	AppVersion  string `json:"app_version,omitempty"`
	Description string `json:"description,omitempty"`
}

// EnablerRequest installs an enabler (a Helm release). HelmChart is
// "repo/chart" or "chart" (searched in every repository). Either Cluster
// (a Kubernetes cluster's name or id) or Auto must be given.
type EnablerRequest struct {
	Name            string         `json:"enablerName"`
	HelmChart       string         `json:"helmChart"`
	Version         string         `json:"version,omitempty"`
	Values          map[string]any `json:"additionalParams,omitempty"`
	Cluster         string         `json:"cluster,omitempty"`
	Auto            bool           `json:"auto,omitempty"`
	PlacementPolicy string         `json:"placementPolicy,omitempty"`
	// IncludeCloud lets automatic placement choose the cloud cluster.
	IncludeCloud bool `json:"includeCloud,omitempty"`
	// Timeout in seconds for the install (default 300).
	Timeout int `json:"timeout,omitempty"`
}

// EnablerUpgrade changes an enabler's chart version or values.
type EnablerUpgrade struct {
	Version string         `json:"version,omitempty"`
	Values  map[string]any `json:"additionalParams,omitempty"`
	Timeout int            `json:"timeout,omitempty"`
}

// Enabler states.
const (
	EnablerInstalling = "INSTALLING"
	EnablerDeployed   = "DEPLOYED"
	EnablerFailed     = "FAILED"
	EnablerTerminated = "TERMINATED"
)

// Enabler is a Helm release Hedge installed, with how its cluster was chosen.
type Enabler struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	HelmChart string         `json:"helmChart"`
	Version   string         `json:"version"`
	Values    map[string]any `json:"additionalParams,omitempty"`
	// OwnerID is the user id of who installed the enabler: they and Admins
	// see Values.
	OwnerID     string `json:"owner_id,omitempty"`
	ClusterID   string `json:"cluster_id"`
	ClusterName string `json:"cluster"`
	Namespace   string `json:"namespace"`
	Status      string `json:"status"`
	Message     string `json:"message,omitempty"`
	Revision    int    `json:"revision,omitempty"`
	// Placement explains the choice of cluster (set for automatic placement).
	Placement *EnablerPlacement `json:"placement,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// EnablerPlacement is how an enabler's cluster was chosen: the chart's demand
// and each cluster's verdict.
type EnablerPlacement struct {
	Policy   string           `json:"policy"`
	Demand   Resources        `json:"demand"`
	Replicas int              `json:"replicas"`
	Winner   string           `json:"winner"`
	Clusters []ClusterVerdict `json:"clusters"`
}

// ClusterVerdict is one cluster's part in a placement: its max_replicas (how
// many replicas of the demand its nodes can still take) and why it won or lost.
type ClusterVerdict struct {
	Cluster      string  `json:"cluster"`
	MaxReplicas  int     `json:"max_replicas"`
	NetRxBytesPS float64 `json:"net_rx_bytes_per_s"`
	Won          bool    `json:"won"`
	Reason       string  `json:"reason"`
}

// AddKubeCluster registers a Kubernetes cluster (Admin).
func (c *Client) AddKubeCluster(ctx context.Context, req KubeClusterRequest) (KubeCluster, error) {
	var out KubeCluster
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/k8sclusters/", body: req}, &out)
	return out, err
}

// ListKubeClusters lists the registered Kubernetes clusters.
func (c *Client) ListKubeClusters(ctx context.Context) ([]KubeCluster, error) {
	var out []KubeCluster
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/k8sclusters/"}, &out)
	return out, err
}

// DeleteKubeCluster forgets a Kubernetes cluster (Admin).
func (c *Client) DeleteKubeCluster(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/k8sclusters/" + url.PathEscape(id)}, nil)
}

// KubeNodes lists the nodes of a Kubernetes cluster (by id or name).
func (c *Client) KubeNodes(ctx context.Context, cluster string) ([]KubeNode, error) {
	var out []KubeNode
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/k8sclusters/node/" + url.PathEscape(cluster)}, &out)
	return out, err
}

// AddChartRepo adds a Helm chart repository (Admin).
func (c *Client) AddChartRepo(ctx context.Context, req ChartRepoRequest) (ChartRepo, error) {
	var out ChartRepo
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/chartrepo", body: req}, &out)
	return out, err
}

// UpdateChartRepo changes a chart repository (Admin).
func (c *Client) UpdateChartRepo(ctx context.Context, id string, req ChartRepoRequest) (ChartRepo, error) {
	var out ChartRepo
	err := c.call(ctx, request{method: http.MethodPut, path: "/api/chartrepo/" + url.PathEscape(id), body: req}, &out)
	return out, err
}

// ListChartRepos lists the chart repositories.
func (c *Client) ListChartRepos(ctx context.Context) ([]ChartRepo, error) {
	var out []ChartRepo
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/chartrepo"}, &out)
	return out, err
}

// DeleteChartRepo removes a chart repository (Admin).
func (c *Client) DeleteChartRepo(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/chartrepo/" + url.PathEscape(id)}, nil)
}

// ListCharts lists the charts of a repository, read from its index.yaml.
func (c *Client) ListCharts(ctx context.Context, repo string) ([]Chart, error) {
	var out []Chart
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/chartrepo/" + url.PathEscape(repo) + "/charts"}, &out)
	return out, err
}

// InstallEnabler installs an enabler and waits for the install to finish.
func (c *Client) InstallEnabler(ctx context.Context, req EnablerRequest) (Enabler, error) {
	var out Enabler
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/enabler/", body: req}, &out)
	return out, err
}

// ListEnablers lists the enablers (GET /api/enabler/instanced).
func (c *Client) ListEnablers(ctx context.Context) ([]Enabler, error) {
	var out []Enabler
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/enabler/instanced"}, &out)
	return out, err
}

// GetEnabler returns one enabler.
func (c *Client) GetEnabler(ctx context.Context, id string) (Enabler, error) {
	var out Enabler
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/enabler/" + url.PathEscape(id)}, &out)
	return out, err
}

// UpgradeEnabler upgrades an enabler to new values or a new chart version.
func (c *Client) UpgradeEnabler(ctx context.Context, id string, req EnablerUpgrade) (Enabler, error) {
	var out Enabler
	err := c.call(ctx, request{method: http.MethodPut, path: "/api/enabler/" + url.PathEscape(id), body: req}, &out)
	return out, err
}

// TerminateEnabler uninstalls an enabler's release and keeps its record.
func (c *Client) TerminateEnabler(ctx context.Context, id string) (Enabler, error) {
	var out Enabler
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/enabler/" + url.PathEscape(id) + "/terminate"}, &out)
	return out, err
}

// DeleteEnabler uninstalls an enabler if needed and forgets it.
func (c *Client) DeleteEnabler(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/enabler/" + url.PathEscape(id)}, nil)
}

// DeleteEnablerVolumes deletes the PVCs of an enabler's release and the PVs
// bound to them; it returns the names of the PVCs deleted.
func (c *Client) DeleteEnablerVolumes(ctx context.Context, id string) ([]string, error) {
	var out []string
	err := c.call(ctx, request{method: http.MethodDelete, path: "/api/enabler/pv/" + url.PathEscape(id)}, &out)
	return out, err
}

// ClusterEnablers lists the enablers of one Kubernetes cluster (by name).
func (c *Client) ClusterEnablers(ctx context.Context, cluster string) ([]Enabler, error) {
	var out []Enabler
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/enabler/enabler_cluster/" + url.PathEscape(cluster)}, &out)
	return out, err
}
