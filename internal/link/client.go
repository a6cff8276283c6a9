package link

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
	"strings"
	"sync/atomic"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// Client is the lower tier's side of the link to one upper tier.
type Client struct {
	bases *api.Endpoints
	cred  string
	hc    *http.Client
	// deltas is the page size the upper tier said it takes deltas and
	// pages in (HeaderDeltas): 0 while unknown, -1 when it takes neither.
	deltas atomic.Int64
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

// reportAcks sends r and returns what the upper tier acknowledged. A report
// with more than a page of entries, or more than maxPageBytes encoded, goes
// in pages to an upper tier that takes them (reportPages).
func (c *Client) reportAcks(ctx context.Context, r *Report) (acks, error) {
	n := len(r.Instances) + len(r.Removed)
	if n > PageSize && c.deltas.Load() == 0 {
		c.probe(ctx)
	}
	size := int(min(c.deltas.Load(), PageSize))
	if size > 0 && n > size {
		return c.reportPages(ctx, r, size)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return acks{}, fmt.Errorf("encode report: %w", err)
	}
	if size > 0 && n > 1 && len(b) > maxPageBytes {
		return c.reportPages(ctx, r, n/2)
	}
	return c.post(ctx, b)
}

// probeDigest is a digest no report has (Digest gives hex): a report of
// unchanged instances under it is refused (409) before anything is applied,
// by upper tiers that take pages or not, and its answer says which.
const probeDigest = "probe"

// probe learns whether the upper tier takes deltas and pages, before a peer
// sends it a report too large for one request.
func (c *Client) probe(ctx context.Context) {
	b, _ := json.Marshal(Report{Unchanged: probeDigest}) // plain fields always encode
	_, _ = c.post(ctx, b)
}

// post sends one encoded report (or page) and learns from the answer
// whether the upper tier takes deltas and pages.
func (c *Client) post(ctx context.Context, body json.RawMessage) (acks, error) {
	var h http.Header
	err := c.doHeader(ctx, http.MethodPost, "/link/v1/report", body, nil, &h)
	if h != nil {
		var se *StatusError
		if v, perr := strconv.ParseInt(h.Get(HeaderDeltas), 10, 64); perr == nil && v > 0 {
			c.deltas.Store(v)
		} else if err == nil || (errors.As(err, &se) && se.Code == http.StatusConflict) {
			c.deltas.Store(-1) // the report handler answered, without the header
		}
	}
	return acks{instances: h.Get(HeaderDigest), nodes: h.Get(HeaderNodesDigest)}, err
}

// reportPages sends r as pages of at most size entries (Instances first,
// then Removed), each encoding to at most maxPageBytes unless it holds a
// single entry; Node and Cluster go in the last. It returns the last page's
// acknowledgement.
func (c *Client) reportPages(ctx context.Context, r *Report, size int) (acks, error) {
	set := newID()
	i, j := 0, 0 // next instance, next removed id
	for num := 0; ; num++ {
		k := size
		for {
			ni := min(k, len(r.Instances)-i)
			nr := min(k-ni, len(r.Removed)-j)
			pg := Report{Base: r.Base, Instances: r.Instances[i : i+ni], Removed: r.Removed[j : j+nr], Page: &ReportPage{Set: set, Number: num}}
			last := i+ni == len(r.Instances) && j+nr == len(r.Removed)
			if last {
				pg.Node, pg.Cluster, pg.Page.Last = r.Node, r.Cluster, true
			}
			b, err := json.Marshal(pg)
			if err != nil {
				return acks{}, fmt.Errorf("encode report page %d: %w", num, err)
			}
			if len(b) > maxPageBytes && ni+nr > 1 {
				k = (ni + nr) / 2
				continue
			}
			a, err := c.post(ctx, b)
			if err != nil || last {
				return a, err
			}
			i, j = i+ni, j+nr
			break
		}
	}
}

// Assignments long-polls for a desired set whose revision differs from have,
// waiting at most wait.
func (c *Client) Assignments(ctx context.Context, have uint64, wait time.Duration) (*Assignments, error) {
	var a Assignments
	q := url.Values{"rev": {fmt.Sprint(have)}, "wait": {wait.String()}, "specs": {"shared"}}
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
	switch v := in.(type) {
	case nil:
	case json.RawMessage:
		body = bytes.NewReader(v)
	default:
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
