package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AuditEntry is one change made through the API, as GET /api/audit lists
// it. It names the request, never its body.
type AuditEntry struct {
	// Seq increases by one with every entry, across restarts.
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	// Object is the id the request named in its path, if any.
	Object string `json:"object,omitempty"`
	// Status is the HTTP status the API answered.
	Status int `json:"status"`
	// Remote is the client address.
	Remote string `json:"remote"`
}

// AuditPage is a page of the audit log, newest first. Next, when not 0, is
// the Before of the following page.
type AuditPage struct {
	Entries []AuditEntry `json:"entries"`
	Next    uint64       `json:"next,omitempty"`
}

// AuditQuery selects a page: User filters, Before pages on, Limit is the
// page size (the server's default when 0).
type AuditQuery struct {
	User   string
	Before uint64
	Limit  int
}

// Audit reads a page of the audit log (Admin only).
func (c *Client) Audit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	v := url.Values{}
	if q.User != "" {
		v.Set("user", q.User)
	}
	if q.Before != 0 {
		v.Set("before", strconv.FormatUint(q.Before, 10))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/api/audit"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var p AuditPage
	err := c.call(ctx, request{method: http.MethodGet, path: path}, &p)
	return p, err
}
