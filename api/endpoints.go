package api

import (
	"errors"
	"net"
	"strings"
	"sync"
)

// Endpoints are the addresses of one service run by several replicas (root
// replicas on etcd, docs/adr/015-root-on-etcd.md), given as one string,
// comma-separated: "https://a:10000,https://b:10000". Calls go to the current
// one; when it cannot be dialled, Next moves to the following one, so a
// client follows a failover by itself. Safe for concurrent use.
type Endpoints struct {
	mu    sync.Mutex
	urls  []string
	index int
}

// ParseEndpoints splits s at commas and trims trailing slashes.
func ParseEndpoints(s string) *Endpoints {
	e := &Endpoints{}
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			e.urls = append(e.urls, u)
		}
	}
	if len(e.urls) == 0 {
		e.urls = []string{""}
	}
	return e
}

// Current is the endpoint calls go to now.
func (e *Endpoints) Current() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.urls[e.index]
}

// Len is the number of endpoints.
func (e *Endpoints) Len() int { return len(e.urls) }

// Next moves on from failed (the endpoint a call could not reach) to the
// following endpoint, unless another call already moved on.
func (e *Endpoints) Next(failed string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.urls[e.index] == failed {
		e.index = (e.index + 1) % len(e.urls)
	}
}

// String gives the endpoints back as they were given.
func (e *Endpoints) String() string { return strings.Join(e.urls, ",") }

// Unreachable reports whether err means the request never reached the
// server (no connection could be made), so that sending it to another
// replica cannot apply it twice.
func Unreachable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
