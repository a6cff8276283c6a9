package link

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// Client is the lower tier's side of the link to one upper tier.
type Client struct {
	bases *api.Endpoints
	cred  string
	hc    *http.Client
}

// NewClient returns a client for the upper tier at base (e.g.
// "http://10.0.0.1:10100") that authenticates with credential. Replicas of
// the upper tier (root replicas on etcd) are given comma-separated: a
// request that cannot reach one goes to the next.
func NewClient(base, credential string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{bases: api.ParseEndpoints(base), cred: credential, hc: hc}
}

// Join presents a join token to the upper tier at base and returns the
// identity and credential issued.
func Join(ctx context.Context, hc *http.Client, base string, req JoinRequest) (JoinResponse, error) {
	c := NewClient(base, "", hc)
	var resp JoinResponse
	err := c.do(ctx, http.MethodPost, "/link/v1/join", req, &resp)
	return resp, err
}

// Report sends the peer's whole state.
func (c *Client) Report(ctx context.Context, r *Report) error {
	_, err := c.report(ctx, r)
	return err
}

// report sends r and returns the digest the upper tier acknowledged its
// instances with ("" from an upper tier that does not acknowledge them).
func (c *Client) report(ctx context.Context, r *Report) (string, error) {
	a, err := c.reportAcks(ctx, r)
	return a.instances, err
}

// acks are the digests an upper tier acknowledged a report with: of its
// instances, and of a cluster's nodes ("" when it did not).
type acks struct{ instances, nodes string }

// reportAcks sends r and returns what the upper tier acknowledged.
func (c *Client) reportAcks(ctx context.Context, r *Report) (acks, error) {
	var h http.Header
	err := c.doHeader(ctx, http.MethodPost, "/link/v1/report", r, nil, &h)
	return acks{instances: h.Get(HeaderDigest), nodes: h.Get(HeaderNodesDigest)}, err
}

// Assignments long-polls for a desired set whose revision differs from have,
// waiting at most wait.
func (c *Client) Assignments(ctx context.Context, have uint64, wait time.Duration) (*Assignments, error) {
	var a Assignments
	q := url.Values{"rev": {fmt.Sprint(have)}, "wait": {wait.String()}}
	err := c.do(ctx, http.MethodGet, "/link/v1/assignments?"+q.Encode(), nil, &a)
	return &a, err
}

// Requests long-polls for relayed requests.
func (c *Client) Requests(ctx context.Context, wait time.Duration) ([]Request, error) {
	var out []Request
	err := c.do(ctx, http.MethodGet, "/link/v1/requests?wait="+url.QueryEscape(wait.String()), nil, &out)
	return out, err
}

// Respond answers a relayed request.
func (c *Client) Respond(ctx context.Context, r Response) error {
	return c.do(ctx, http.MethodPost, "/link/v1/response", r, nil)
}

// CheckWorkerToken asks the upper tier (the root) whether a worker may join
// with c.Token; an error wrapping ErrUnauthorized means no.
func (c *Client) CheckWorkerToken(ctx context.Context, tc TokenCheck) error {
	return c.do(ctx, http.MethodPost, "/link/v1/worker-token", tc, nil)
}

// fromStandby reports whether resp is the refusal of a replica that does
// not lead (RefuseStandby), which applied nothing.
func fromStandby(resp *http.Response) bool {
	return resp.StatusCode == http.StatusServiceUnavailable && len(resp.Header.Values(HeaderStandby)) > 0
}

// StatusError is an HTTP error answer from the upper tier.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upper tier answered %d: %s", e.Code, strings.TrimSpace(e.Body))
}

// Unwrap maps 401 to ErrUnauthorized so callers can stop retrying, and 400
// and 404 to ErrInvalid and ErrNotFound. A 409 is ErrConflict to a join (a
// live peer has the name) and ErrStale to a report (the upper tier does not
// hold the instances a digest stands for); each caller asks for its own.
func (e *StatusError) Unwrap() []error {
	switch e.Code {
	case http.StatusUnauthorized:
		return []error{ErrUnauthorized}
	case http.StatusBadRequest:
		return []error{ErrInvalid}
	case http.StatusNotFound:
		return []error{ErrNotFound}
	case http.StatusConflict:
		return []error{ErrConflict, ErrStale}
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doHeader(ctx, method, path, in, out, nil)
}

// doHeader is do that also keeps the answer's header in *hdr, if hdr is set.
func (c *Client) doHeader(ctx context.Context, method, path string, in, out any, hdr *http.Header) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	var resp *http.Response
	var lastErr error
	for range c.bases.Len() {
		base := c.bases.Current()
		req, err := http.NewRequestWithContext(ctx, method, base+path, body)
		if err != nil {
			return fmt.Errorf("link request %s: %w", path, err)
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.cred != "" {
			req.Header.Set("Authorization", "Bearer "+c.cred)
		}
		if resp, err = c.hc.Do(req); err == nil {
			if !fromStandby(resp) || c.bases.Len() == 1 {
				break
			}
			// A standby replica applied nothing: the next may lead.
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			err = &StatusError{Code: resp.StatusCode, Body: string(b)}
			resp = nil
		} else if !api.Unreachable(err) || c.bases.Len() == 1 {
			return err
		}
		lastErr = err
		c.bases.Next(base) // a replica that is down, or standing by
		if b, ok := body.(*bytes.Reader); ok {
			_, _ = b.Seek(0, io.SeekStart)
		}
	}
	if resp == nil {
		return fmt.Errorf("link %s: no replica of the upper tier can be reached (%s): %w", path, c.bases, lastErr)
	}
	defer resp.Body.Close()
	if hdr != nil {
		*hdr = resp.Header
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &StatusError{Code: resp.StatusCode, Body: string(b)}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}
