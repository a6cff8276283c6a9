package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// FogAtlasAPIVersion is the apiVersion of the FogAtlas documents (Region,
// Link, ExternalEndpoint, FADepl) that ApplyTopology takes.
const FogAtlasAPIVersion = "fogatlas.fbk.eu/v1alpha1"

// Location is a point on Earth in degrees.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Region is a FogAtlas region as the root stores it.
type Region struct {
	ID          string    `json:"id"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	Location    *Location `json:"location,omitempty"`
	Tier        int       `json:"tier"`
	Type        string    `json:"type,omitempty"`
	CPUModel    string    `json:"cpumodel,omitempty"`
	CPU2MIPS    int64     `json:"cpu2mips,omitempty"`
}

// Link joins two regions; BWAllocated is what placed FADepls hold on it.
type Link struct {
	ID          string  `json:"id"`
	EndpointA   string  `json:"endpointa"`
	EndpointB   string  `json:"endpointb"`
	Bandwidth   int64   `json:"bandwidth"`
	Latency     float64 `json:"latency"`
	Status      string  `json:"status"`
	BWAllocated int64   `json:"bwallocated,omitempty"`
}

// ExternalEndpoint is a source or sink of data attached to a region.
type ExternalEndpoint struct {
	ID          string    `json:"id"`
	Type        string    `json:"type,omitempty"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	IPAddress   string    `json:"ipaddress,omitempty"`
	Location    *Location `json:"location,omitempty"`
	RegionID    string    `json:"regionid"`
}

// PlacementResult is the placement of a FADepl (see docs/placement.md).
type PlacementResult struct {
	App            string                  `json:"app"`
	Algorithm      string                  `json:"algorithm"`
	Status         string                  `json:"status"`
	Method         string                  `json:"method"`
	Placements     []MicroservicePlacement `json:"placements,omitempty"`
	LinksOccupancy []LinkOccupancy         `json:"linksoccupancy,omitempty"`
	Objective      int64                   `json:"objective"`
	NetworkCost    int64                   `json:"network_cost"`
	ComputeCost    int64                   `json:"compute_cost"`
	LatencyMicros  int64                   `json:"latency_micros"`
	Variables      int                     `json:"variables,omitempty"`
	Reason         string                  `json:"reason,omitempty"`
}

// MicroservicePlacement is where one microservice runs.
type MicroservicePlacement struct {
	Microservice string            `json:"microservice"`
	Regions      []RegionPlacement `json:"regions"`
}

// RegionPlacement is one microservice's deployment in one region, run as the
// service named Deployment.
type RegionPlacement struct {
	Region      string `json:"region"`
	Deployment  string `json:"deployment"`
	Replicas    int    `json:"replicas"`
	Image       string `json:"image"`
	CPUMillis   int64  `json:"cpu_millis"`
	MemoryBytes int64  `json:"memory_bytes"`
}

// LinkOccupancy is the bandwidth a FADepl holds on one link.
type LinkOccupancy struct {
	LinkID      string `json:"linkid"`
	BWAllocated int64  `json:"bwallocated"`
	FreeAfter   int64  `json:"free_after"`
}

// FADepl is a placed application with its status.
type FADepl struct {
	Name          string           `json:"name"`
	Owner         string           `json:"owner"`
	Algorithm     string           `json:"algorithm"`
	ApplicationID string           `json:"application_id,omitempty"`
	Status        *PlacementResult `json:"status"`
	// Running is the placement still running when the latest one failed.
	Running   *PlacementResult `json:"running,omitempty"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

// TopologyResult is what ApplyTopology did.
type TopologyResult struct {
	Regions   []string `json:"regions"`
	Links     []string `json:"links"`
	Endpoints []string `json:"endpoints"`
	FADepls   []FADepl `json:"fadepls"`
	Replaced  []FADepl `json:"replaced"`
}

// ApplyTopology sends FogAtlas documents (Region, Link, ExternalEndpoint,
// FADepl) as they are; contentType is "application/yaml" or JSON.
func (c *Client) ApplyTopology(ctx context.Context, body []byte, contentType string) (TopologyResult, error) {
	if contentType == "" {
		contentType = "application/yaml"
	}
	var res TopologyResult
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/topology", raw: body, contentType: contentType}, &res)
	return res, err
}

// ListRegions lists the regions.
func (c *Client) ListRegions(ctx context.Context) ([]Region, error) {
	var out []Region
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/regions"}, &out)
	return out, err
}

// ListLinks lists the links with their allocated bandwidth.
func (c *Client) ListLinks(ctx context.Context) ([]Link, error) {
	var out []Link
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/links"}, &out)
	return out, err
}

// ListEndpoints lists the external endpoints.
func (c *Client) ListEndpoints(ctx context.Context) ([]ExternalEndpoint, error) {
	var out []ExternalEndpoint
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/endpoints"}, &out)
	return out, err
}

// ListFADepls lists the caller's FADepls.
func (c *Client) ListFADepls(ctx context.Context) ([]FADepl, error) {
	var out []FADepl
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/fadepl"}, &out)
	return out, err
}

// GetFADepl returns one FADepl with its placement status.
func (c *Client) GetFADepl(ctx context.Context, name string) (FADepl, error) {
	var out FADepl
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/fadepl/" + url.PathEscape(name)}, &out)
	return out, err
}

// DeleteFADepl removes a FADepl and its services.
func (c *Client) DeleteFADepl(ctx context.Context, name string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/fadepl/" + url.PathEscape(name)}, nil)
}

// DeleteTopologyObject removes a region, link or endpoint; kind is
// "regions", "links" or "endpoints" (Admin).
func (c *Client) DeleteTopologyObject(ctx context.Context, kind, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/" + url.PathEscape(kind) + "/" + url.PathEscape(id)}, nil)
}
