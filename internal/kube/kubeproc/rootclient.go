package kubeproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/link"
)

// rootBase is the URL of the root over its socket; the host is not used.
const rootBase = "http://hedge-root"

// JoinRequest and JoinResponse are the body and answer of PathJoin.
type (
	JoinRequest struct {
		Name string `json:"name"`
	}
	JoinResponse struct {
		ID         string `json:"id"`
		Credential string `json:"credential"`
	}
	// LabelsRequest is the body of PUT PathClusters/{id}/labels.
	LabelsRequest struct {
		Labels map[string]string `json:"labels"`
	}
)

// RootClient is the root as hedge-kube sees it, over the root's socket. It
// implements internal/kube's Root.
type RootClient struct {
	hc  *http.Client
	log *slog.Logger
}

// NewRootClient returns a client of the root's socket at path.
func NewRootClient(path, secret string, log *slog.Logger) *RootClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns: 16, MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute,
	}
	return &RootClient{hc: &http.Client{Transport: secretTransport{secret, tr}}, log: log}
}

// secretTransport adds the secret to every request.
type secretTransport struct {
	secret string
	next   http.RoundTripper
}

func (t secretTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(HeaderSecret, t.secret)
	return t.next.RoundTrip(req)
}

// JoinCluster registers a cluster tier named name with the root.
func (c *RootClient) JoinCluster(ctx context.Context, name string) (string, string, error) {
	var out JoinResponse
	err := c.do(ctx, http.MethodPost, PathJoin, JoinRequest{Name: name}, &out)
	return out.ID, out.Credential, err
}

// LinkClient returns a client of the root's link over the socket.
func (c *RootClient) LinkClient(credential string) *link.Client {
	return link.NewClient(rootBase, credential, c.hc)
}

// SetClusterLabels sets a cluster's labels at the root.
func (c *RootClient) SetClusterLabels(id string, labels map[string]string) error {
	return c.do(context.Background(), http.MethodPut, PathClusters+"/"+url.PathEscape(id)+"/labels", LabelsRequest{Labels: labels}, nil)
}

// ForgetCluster removes a cluster from the root.
func (c *RootClient) ForgetCluster(id string) error {
	return c.do(context.Background(), http.MethodDelete, PathClusters+"/"+url.PathEscape(id), nil, nil)
}

// Clusters lists the root's clusters; none if the root did not answer
// (which is logged).
func (c *RootClient) Clusters() []api.Cluster {
	var out []api.Cluster
	if err := c.do(context.Background(), http.MethodGet, PathClusters, nil, &out); err != nil {
		c.log.Error("list the root's clusters", "err", err)
		return nil
	}
	return out
}

// kinds maps the root's answers back to the errdefs kinds it mapped.
var kinds = map[int]error{
	http.StatusBadRequest: errdefs.ErrInvalid,
	http.StatusNotFound:   errdefs.ErrNotFound,
	http.StatusConflict:   errdefs.ErrConflict,
}

func (c *RootClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rootBase+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("root %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("root %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e errorBody
		if json.Unmarshal(raw, &e) != nil || e.Detail == "" {
			e.Detail = string(raw)
		}
		if kind, ok := kinds[resp.StatusCode]; ok {
			// The root's answer was written for the user: keep its kind.
			return fmt.Errorf("%w: %s", kind, e.Detail)
		}
		return fmt.Errorf("root %s %s: %s: %s", method, path, resp.Status, e.Detail)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("root %s %s: %w", method, path, err)
		}
	}
	return nil
}
