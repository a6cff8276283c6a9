package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// maxErrorBody bounds how much of an error answer is read: enough for any
// problem document, not enough for a misbehaving proxy to exhaust memory.
const maxErrorBody = 1 << 20

// Client calls the REST API of a Hedge root. It is safe for concurrent use.
type Client struct {
	bases *Endpoints
	http  *http.Client

	// refreshMu serialises token refreshes so that concurrent requests that
	// all get a 401 spend the (single-use) refresh token only once.
	refreshMu sync.Mutex
	mu        sync.Mutex
	token     string
	refresh   string
	onRefresh func(TokenPair)
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithToken sets the access token sent as "Authorization: Bearer".
func WithToken(token string) ClientOption {
	return func(c *Client) { c.token = token }
}

// WithRefreshToken lets the client renew an expired access token by itself:
// on a 401 answer to an authenticated request it calls Refresh once, retries
// the request with the new access token, and hands the new pair to saved
// (which may be nil) so the caller can store it.
func WithRefreshToken(refreshToken string, saved func(TokenPair)) ClientOption {
	return func(c *Client) {
		c.refresh = refreshToken
		c.onRefresh = saved
	}
}

// WithHTTPClient replaces http.DefaultClient, e.g. to set TLS or a timeout.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// NewClient returns a client of the root at baseURL (e.g.
// "http://127.0.0.1:10000"; a trailing slash is ignored). Root replicas are
// given comma-separated; calls move to the next one that can be reached.
func NewClient(baseURL string, opts ...ClientOption) *Client {
	c := &Client{bases: ParseEndpoints(baseURL), http: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the root's address as given to NewClient, without a
// trailing slash.
func (c *Client) BaseURL() string { return c.bases.String() }

// Login exchanges a username and password for a token pair. The client uses
// the new pair for its later requests.
func (c *Client) Login(ctx context.Context, username, password string) (TokenPair, error) {
	var tp TokenPair
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/auth/login", noAuth: true,
		body: LoginRequest{Username: username, Password: password}}, &tp)
	if err != nil {
		return TokenPair{}, err
	}
	c.setTokens(tp)
	return tp, nil
}

// Refresh exchanges a refresh token for a new token pair. The client uses the
// new pair for its later requests.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	var tp TokenPair
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/auth/refresh", noAuth: true,
		body: RefreshRequest{RefreshToken: refreshToken}}, &tp)
	if err != nil {
		return TokenPair{}, err
	}
	c.setTokens(tp)
	return tp, nil
}

// Health reports whether the root answers, and its version. It needs no token.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/health", noAuth: true}, &h)
	return h, err
}

// CreateUser creates an account (Admin only).
func (c *Client) CreateUser(ctx context.Context, username, password string, roles ...string) (User, error) {
	var u User
	if roles == nil {
		roles = []string{}
	}
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/user/",
		body: CreateUserRequest{Username: username, Password: password, Roles: roles}}, &u)
	return u, err
}

// ListUsers lists every account (Admin only).
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var us []User
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/users/"}, &us)
	return us, err
}

// DeleteUser removes an account (Admin only).
func (c *Client) DeleteUser(ctx context.Context, username string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/user/" + url.PathEscape(username)}, nil)
}

// AllowList lists who may use privileged settings on which cluster (Admin
// only; docs/adr/012-instance-sandbox.md).
func (c *Client) AllowList(ctx context.Context) ([]AllowEntry, error) {
	var out []AllowEntry
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/allow"}, &out)
	return out, err
}

// Allow puts user on cluster's allow list of privileged settings (Admin
// only), or takes it off when allowed is false.
func (c *Client) Allow(ctx context.Context, cluster, user string, allowed bool) error {
	method := http.MethodPut
	if !allowed {
		method = http.MethodDelete
	}
	return c.call(ctx, request{method: method, path: "/api/allow/" + url.PathEscape(cluster) + "/" + url.PathEscape(user)}, nil)
}

// CreateToken issues a join token of kind TokenKindCluster or TokenKindWorker
// (Admin only). A ttl of 0 leaves the lifetime to the server.
func (c *Client) CreateToken(ctx context.Context, kind string, ttl time.Duration) (JoinToken, error) {
	body := CreateTokenRequest{Kind: kind}
	if ttl > 0 {
		// Round up so that a sub-second TTL does not turn into "server default".
		body.TTLSeconds = int64((ttl + time.Second - 1) / time.Second)
	}
	return c.IssueToken(ctx, body)
}

// IssueToken creates a join token as req asks (Admin): bounded in uses,
// scoped to a cluster. The answer is the only time the token is shown.
func (c *Client) IssueToken(ctx context.Context, req CreateTokenRequest) (JoinToken, error) {
	var jt JoinToken
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/tokens/", body: req}, &jt)
	return jt, err
}

// ListTokens lists the join tokens that have not expired, without their
// secrets (Admin).
func (c *Client) ListTokens(ctx context.Context) ([]JoinToken, error) {
	var out []JoinToken
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/tokens/"}, &out)
	return out, err
}

// RevokeToken revokes the join token with the id that ListTokens shows
// (Admin): every cluster refuses it from then on.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/tokens/" + url.PathEscape(id)}, nil)
}

// DeleteNode deletes a worker node by id or name (Admin): its credential is
// revoked and its instances move to other nodes.
func (c *Client) DeleteNode(ctx context.Context, node string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/nodes/" + url.PathEscape(node)}, nil)
}

// DeleteCluster deletes a cluster by id or name (Admin): its credential is
// revoked and its instances move to other clusters.
func (c *Client) DeleteCluster(ctx context.Context, cluster string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/clusters/" + url.PathEscape(cluster)}, nil)
}

// SubmitSLA submits an SLA v2.0 document as it is and deploys it in one
// step (deploy=true): every microservice starts its instances, one unless
// it says otherwise. contentType is "application/json" or
// "application/yaml"; empty means JSON.
func (c *Client) SubmitSLA(ctx context.Context, body []byte, contentType string) (SubmitResult, error) {
	if contentType == "" {
		contentType = "application/json"
	}
	var res SubmitResult
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/application/?deploy=true",
		raw: body, contentType: contentType}, &res)
	return res, err
}

// ListApplications lists the caller's applications (all of them for Admin).
func (c *Client) ListApplications(ctx context.Context) ([]Application, error) {
	var apps []Application
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/applications/"}, &apps)
	return apps, err
}

// GetApplication returns one application by ID.
func (c *Client) GetApplication(ctx context.Context, appID string) (Application, error) {
	var app Application
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/application/" + url.PathEscape(appID)}, &app)
	return app, err
}

// DeleteApplication removes an application with all its services and
// instances.
func (c *Client) DeleteApplication(ctx context.Context, appID string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/application/" + url.PathEscape(appID)}, nil)
}

// AddServices adds microservices to an existing application and deploys
// them (one instance each unless a spec says otherwise).
func (c *Client) AddServices(ctx context.Context, appID string, specs []ServiceSpec) ([]Service, error) {
	var svcs []Service
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/service/?deploy=true",
		body: AddServicesRequest{ApplicationID: appID, Microservices: specs}}, &svcs)
	return svcs, err
}

// ListServices lists every service of the caller, with instances.
func (c *Client) ListServices(ctx context.Context) ([]Service, error) {
	var svcs []Service
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/services/"}, &svcs)
	return svcs, err
}

// ListAppServices lists the services of one application.
func (c *Client) ListAppServices(ctx context.Context, appID string) ([]Service, error) {
	var svcs []Service
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/services/" + url.PathEscape(appID)}, &svcs)
	return svcs, err
}

// GetService returns one service by ID, with its instances, without their
// log tails (Logs reads those): the view is polled while waiting, and the
// tails are what costs the workers.
func (c *Client) GetService(ctx context.Context, serviceID string) (Service, error) {
	var svc Service
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/service/" + url.PathEscape(serviceID) + "?logs=false"}, &svc)
	return svc, err
}

// DeleteService removes a service and stops its instances.
func (c *Client) DeleteService(ctx context.Context, serviceID string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/api/service/" + url.PathEscape(serviceID)}, nil)
}

// AddInstance asks for one more instance of a service.
func (c *Client) AddInstance(ctx context.Context, serviceID string) (Instance, error) {
	var inst Instance
	err := c.call(ctx, request{method: http.MethodPost,
		path: "/api/service/" + url.PathEscape(serviceID) + "/instance"}, &inst)
	return inst, err
}

// DeleteInstance stops and removes instance number n of a service.
func (c *Client) DeleteInstance(ctx context.Context, serviceID string, n int) error {
	return c.call(ctx, request{method: http.MethodDelete,
		path: "/api/service/" + url.PathEscape(serviceID) + "/instance/" + strconv.Itoa(n)}, nil)
}

// Scale sets how many instances a service runs.
func (c *Client) Scale(ctx context.Context, serviceID string, instances int) (Service, error) {
	var svc Service
	err := c.call(ctx, request{method: http.MethodPut, path: "/api/service/" + url.PathEscape(serviceID) + "/scale",
		body: ScaleRequest{Instances: instances}}, &svc)
	return svc, err
}

// Logs returns the last tail bytes of the output of instance n of a service;
// tail <= 0 leaves the amount to the server (64 KiB).
func (c *Client) Logs(ctx context.Context, serviceID string, n, tail int) ([]byte, error) {
	path := "/api/service/" + url.PathEscape(serviceID) + "/instance/" + strconv.Itoa(n) + "/logs"
	if tail > 0 {
		path += "?tail=" + strconv.Itoa(tail)
	}
	var buf bytes.Buffer
	err := c.call(ctx, request{method: http.MethodGet, path: path, accept: "text/plain"}, &buf)
	return buf.Bytes(), err
}

// ListClusters lists every registered cluster.
func (c *Client) ListClusters(ctx context.Context) ([]Cluster, error) {
	var cs []Cluster
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/clusters/"}, &cs)
	return cs, err
}

// ListActiveClusters lists the READY clusters with their aggregated
// resources.
func (c *Client) ListActiveClusters(ctx context.Context) ([]Cluster, error) {
	var cs []Cluster
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/clusters/active"}, &cs)
	return cs, err
}

// ListNodes lists the nodes of every cluster.
func (c *Client) ListNodes(ctx context.Context) ([]Node, error) {
	var ns []Node
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/nodes/"}, &ns)
	return ns, err
}

// request describes one API call. Exactly one of body (encoded as JSON) and
// raw (sent as is, with contentType) may be set.
type request struct {
	method      string
	path        string
	body        any
	raw         []byte
	contentType string
	accept      string
	// noAuth marks the calls that must not carry a token (login, refresh,
	// health) and so must never trigger a refresh either.
	noAuth bool
}

// call performs r and decodes a successful answer into out: JSON unless out
// is a *bytes.Buffer, which receives the body as is; nil discards it.
func (c *Client) call(ctx context.Context, r request, out any) error {
	payload, contentType := r.raw, r.contentType
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", r.method, r.path, err)
		}
		payload, contentType = b, "application/json"
	}

	token := c.accessToken()
	resp, err := c.send(ctx, r, payload, contentType, token)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusUnauthorized && !r.noAuth {
		if fresh, ok := c.renew(ctx, token); ok {
			drain(resp)
			if resp, err = c.send(ctx, r, payload, contentType, fresh); err != nil {
				return err
			}
		}
	}
	defer drain(resp)

	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return decodeError(resp.StatusCode, body)
	}
	switch out := out.(type) {
	case nil:
		return nil
	case *bytes.Buffer:
		if _, err := out.ReadFrom(resp.Body); err != nil {
			return fmt.Errorf("read %s %s: %w", r.method, r.path, err)
		}
		return nil
	default:
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("decode answer of %s %s: %w", r.method, r.path, err)
		}
		return nil
	}
}

func (c *Client) send(ctx context.Context, r request, payload []byte, contentType, token string) (*http.Response, error) {
	// Each replica is tried once while none can be reached at all.
	var resp *http.Response
	var err error
	for range c.bases.Len() {
		base := c.bases.Current()
		if resp, err = c.sendTo(ctx, base, r, payload, contentType, token); err == nil || !Unreachable(err) {
			return resp, err
		}
		c.bases.Next(base)
	}
	return resp, err
}

func (c *Client) sendTo(ctx context.Context, base string, r request, payload []byte, contentType, token string) (*http.Response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", contentType)
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if token != "" && !r.noAuth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error repeats method and URL in a Go-ish way; say it once.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("%s %s: %w", r.method, base+r.path, err)
	}
	return resp, nil
}

// renew gets a new access token after a 401 to a request sent with stale. It
// reports false when there is nothing to retry with: no refresh token, or the
// refresh failed (the caller then returns the original 401).
func (c *Client) renew(ctx context.Context, stale string) (string, bool) {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()

	c.mu.Lock()
	current, refresh := c.token, c.refresh
	c.mu.Unlock()
	if current != stale && current != "" {
		// Another request refreshed while this one waited.
		return current, true
	}
	if refresh == "" {
		return "", false
	}
	tp, err := c.Refresh(ctx, refresh)
	if err != nil {
		return "", false
	}
	c.mu.Lock()
	saved := c.onRefresh
	c.mu.Unlock()
	if saved != nil {
		saved(tp)
	}
	return tp.Token, true
}

func (c *Client) accessToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

func (c *Client) setTokens(tp TokenPair) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = tp.Token
	if tp.RefreshToken != "" {
		c.refresh = tp.RefreshToken
	}
}

// drain reads what is left of a body (bounded) and closes it so the
// connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
}

// ControlNode cordons, uncordons or drains a node ("cordon", "uncordon",
// "drain"); id may be the node's id or name. Admin only.
func (c *Client) ControlNode(ctx context.Context, id, op string) (Node, error) {
	var n Node
	err := c.call(ctx, request{method: http.MethodPost, path: "/api/nodes/" + url.PathEscape(id) + "/" + url.PathEscape(op)}, &n)
	return n, err
}

// ListEvents lists recent node events (resource pressure), oldest first.
func (c *Client) ListEvents(ctx context.Context) ([]Event, error) {
	var evs []Event
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/events"}, &evs)
	return evs, err
}

// SetIsolation sets a namespace's isolation on the instance network (Admin).
func (c *Client) SetIsolation(ctx context.Context, namespace string, iso NamespaceIsolation) (NamespaceIsolation, error) {
	var out NamespaceIsolation
	err := c.call(ctx, request{method: http.MethodPut, path: "/api/namespaces/" + url.PathEscape(namespace) + "/isolation",
		body: IsolationRequest{Isolated: iso.Isolated, Allow: iso.Allow}}, &out)
	return out, err
}

// ListIsolation lists the namespaces that are isolated (Admin).
func (c *Client) ListIsolation(ctx context.Context) ([]NamespaceIsolation, error) {
	var out []NamespaceIsolation
	err := c.call(ctx, request{method: http.MethodGet, path: "/api/namespaces/isolation"}, &out)
	return out, err
}
