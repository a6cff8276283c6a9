package link

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
)

// Sentinel errors an Upper returns so the server can pick the status code.
var (
	ErrUnauthorized = errdefs.New(errdefs.ErrUnauthorized, "unauthorized")
	ErrInvalid      = errdefs.New(errdefs.ErrInvalid, "invalid request")
	// ErrConflict: a join names a peer that is alive (409).
	ErrConflict = errdefs.New(errdefs.ErrConflict, "conflict")
	// ErrNotFound: the upper tier does not serve this request.
	ErrNotFound = errdefs.New(errdefs.ErrNotFound, "not found")
	ErrNoPeer   = errdefs.New(errdefs.ErrUnavailable, "peer not connected")
	// ErrNotReady: the upper tier cannot answer yet (e.g. a cluster that has
	// not heard from the root since it started); the peer should retry.
	ErrNotReady = errdefs.New(errdefs.ErrUnavailable, "not ready")
	// ErrStale: a report says its instances are unchanged, or is a delta
	// or a page, but the upper tier does not hold what it builds on (the
	// instances under that digest, the pages before); the peer must send
	// them all.
	ErrStale = errdefs.New(errdefs.ErrConflict, "report builds on instances or pages the upper tier does not hold")
)

// maxBody bounds what a peer may send in one request.
const maxBody = 16 << 20

// maxWait bounds a long-poll so proxies and server timeouts never cut it first.
const maxWait = 60 * time.Second

// Upper is implemented by the tier that peers report to: the root for
// clusters, a cluster for workers.
type Upper interface {
	// Join admits a new peer that presents a join token and returns its identity
	// and credential. It must fail with ErrUnauthorized for a bad token.
	Join(ctx context.Context, req JoinRequest) (JoinResponse, error)
	// Authenticate maps a bearer credential to a peer id, or ErrUnauthorized.
	Authenticate(bearer string) (peerID string, err error)
	// Report takes the peer's whole state: r.Instances are every instance
	// the peer reports, in InstanceID order, also when the peer sent a
	// delta, pages or a digest (the server makes the report whole first).
	// It must be idempotent, and must neither keep nor modify r.Instances:
	// the server keeps them as the base of the peer's next reports.
	// r.Unchanged is still set when the peer said its instances are those
	// of its last report, to the last figure: an Upper may then skip them.
	Report(ctx context.Context, peerID string, r *Report) error
	// Assignments returns the peer's desired set and a channel closed when it
	// next changes.
	Assignments(peerID string) (*Assignments, <-chan struct{})
}

// TokenChecker is implemented by an Upper that checks worker join tokens for
// the clusters below it (the root). Without it, /link/v1/worker-token
// answers 404.
type TokenChecker interface {
	// CheckWorkerToken answers a cluster's TokenCheck: nil admits the join,
	// an error wrapping ErrUnauthorized refuses it.
	CheckWorkerToken(ctx context.Context, peerID string, c TokenCheck) error
}

// Server serves the upper side of the link over HTTP and relays requests
// down to connected peers.
type Server struct {
	up  Upper
	log *slog.Logger

	mu     sync.Mutex
	queues map[string]*queue
	// held is, by peer, the whole set of instances of its last report
	// (full, or a delta applied) and their digest, for its reports of
	// unchanged instances and its deltas.
	held map[string]heldInstances
	// pages is, by peer, the pages received so far of a paged report.
	pages map[string]*pendingReport

	// served counts the requests served, by endpoint (Requests).
	served sync.Map // endpoint -> *atomic.Uint64
}

// heldInstances are the instances of a peer's last report made whole, and a
// cluster's nodes of its last report that carried them.
type heldInstances struct {
	digest      string
	instances   []InstanceStatus
	nodesDigest string
	nodes       []api.Node
}

// queue holds requests waiting to be picked up by one peer, and the callers
// waiting for their answers.
type queue struct {
	pending []Request
	ready   chan struct{}
	waiters map[string]chan Response
}

// NewServer returns a link server for up.
func NewServer(up Upper, log *slog.Logger) *Server {
	return &Server{up: up, log: log, queues: map[string]*queue{}, held: map[string]heldInstances{}, pages: map[string]*pendingReport{}}
}

// Handler serves the protocol under /link/v1/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(method, endpoint string, h http.HandlerFunc) {
		v, _ := s.served.LoadOrStore(endpoint, new(atomic.Uint64)) // one count across handlers
		c := v.(*atomic.Uint64)
		mux.HandleFunc(method+" /link/v1/"+endpoint, func(w http.ResponseWriter, r *http.Request) {
			c.Add(1)
			h(w, r)
		})
	}
	handle("POST", "join", s.join)
	handle("POST", "report", s.authed(s.report))
	handle("GET", "assignments", s.authed(s.assignments))
	handle("GET", "requests", s.authed(s.requests))
	handle("POST", "response", s.authed(s.response))
	handle("POST", "worker-token", s.authed(s.workerToken))
	handle("POST", "certificate", s.authed(s.certificate))
	handle("GET", "netmap", s.authed(s.netmap))
	return mux
}

// Requests returns how many link requests the server has answered since it
// started, by endpoint ("report", "assignments", "join", ...): the link
// messages its peers send, for hedge_link_requests_total.
func (s *Server) Requests() map[string]uint64 {
	out := map[string]uint64{}
	s.served.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

func (s *Server) authed(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || bearer == "" {
			s.writeErr(w, fmt.Errorf("%w: missing bearer credential", ErrUnauthorized))
			return
		}
		id, err := s.up.Authenticate(bearer)
		if err != nil {
			s.log.Warn("link: rejected credential", "remote", r.RemoteAddr)
			s.writeErr(w, err)
			return
		}
		if err := s.checkClientCert(r, id); err != nil {
			s.log.Warn("link: rejected client certificate", "peer_id", id, "remote", r.RemoteAddr, "err", err)
			s.writeErr(w, err)
			return
		}
		h(w, r, id)
	}
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := decode(r, &req); err != nil {
		s.writeErr(w, err)
		return
	}
	resp, err := s.up.Join(r.Context(), req)
	if err == nil {
		err = s.signJoin(r.Context(), req, &resp)
	}
	if err != nil {
		s.log.Warn("link: join refused", "remote", r.RemoteAddr, "name", req.Name, "err", err)
		s.writeErr(w, err)
		return
	}
	s.log.Info("link: peer joined", "peer_id", resp.ID, "name", req.Name)
	writeJSON(w, resp)
}

func (s *Server) workerToken(w http.ResponseWriter, r *http.Request, peer string) {
	tc, ok := s.up.(TokenChecker)
	if !ok {
		s.writeErr(w, fmt.Errorf("%w: this tier does not check worker join tokens", ErrNotFound))
		return
	}
	var c TokenCheck
	if err := decode(r, &c); err != nil {
		s.writeErr(w, err)
		return
	}
	if err := tc.CheckWorkerToken(r.Context(), peer, c); err != nil {
		s.log.Warn("link: worker join token refused", "peer_id", peer, "name", c.Name, "err", err)
		s.writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) report(w http.ResponseWriter, r *http.Request, peer string) {
	w.Header().Set(HeaderDeltas, strconv.Itoa(PageSize))
	var rep Report
	if err := decode(r, &rep); err != nil {
		s.writeErr(w, err)
		return
	}
	if rep.Page != nil {
		last, err := s.page(peer, &rep)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		if !last {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	} else {
		s.mu.Lock()
		delete(s.pages, peer) // the peer started over
		s.mu.Unlock()
	}
	s.apply(w, r, peer, &rep)
}

// pendingReport holds the pages of a paged report received so far.
type pendingReport struct {
	set       string
	next      int
	base      string
	instances []InstanceStatus
	removed   []string
}

// page takes one page of a paged report from peer. It returns true on the
// last page, with rep then holding the whole report, its pages joined.
func (s *Server) page(peer string, rep *Report) (last bool, err error) {
	pg := rep.Page
	switch {
	case pg.Set == "":
		return false, fmt.Errorf("%w: page.set: required in a paged report", ErrInvalid)
	case pg.Number < 0 || pg.Number >= maxPages:
		return false, fmt.Errorf("%w: page.number: %d, want 0 to %d", ErrInvalid, pg.Number, maxPages-1)
	case rep.Unchanged != "":
		return false, fmt.Errorf("%w: unchanged: a report of unchanged instances is never paged", ErrInvalid)
	case len(rep.Instances)+len(rep.Removed) > PageSize:
		return false, fmt.Errorf("%w: instances: %d entries with removed in one page, at most %d", ErrInvalid, len(rep.Instances)+len(rep.Removed), PageSize)
	case !pg.Last && rep.Node != nil:
		return false, fmt.Errorf("%w: node: only in the last page of a report", ErrInvalid)
	case !pg.Last && rep.Cluster != nil:
		return false, fmt.Errorf("%w: cluster: only in the last page of a report", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[peer]
	delete(s.pages, peer)
	if pg.Number == 0 {
		if h, ok := s.held[peer]; rep.Base != "" && (!ok || h.digest != rep.Base) {
			// Refused now rather than after the last page.
			return false, fmt.Errorf("%w: base: the upper tier holds no instances under digest %q", ErrStale, rep.Base)
		}
		p = &pendingReport{set: pg.Set, base: rep.Base}
	} else if p == nil || p.set != pg.Set || p.next != pg.Number {
		return false, fmt.Errorf("%w: page.number: page %d of report %q does not follow a page this tier holds", ErrStale, pg.Number, pg.Set)
	}
	if rep.Base != p.base {
		return false, fmt.Errorf("%w: base: %q differs from the first page's %q", ErrInvalid, rep.Base, p.base)
	}
	p.instances = append(p.instances, rep.Instances...)
	p.removed = append(p.removed, rep.Removed...)
	p.next++
	if !pg.Last {
		s.pages[peer] = p
		return false, nil
	}
	rep.Instances, rep.Removed, rep.Page = p.instances, p.removed, nil
	return true, nil
}

// apply takes a whole report, a report of unchanged instances or a delta:
// it makes it whole from what the peer's last reports left, hands it to
// the Upper and acknowledges it.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, peer string, rep *Report) {
	delta := rep.Base != ""
	full := rep.Unchanged == "" && !delta
	cl := rep.Cluster
	fullNodes := cl == nil || cl.NodesUnchanged == ""
	if delta && rep.Unchanged != "" {
		s.writeErr(w, fmt.Errorf("%w: base: a report of unchanged instances is no delta", ErrInvalid))
		return
	}
	if len(rep.Removed) > 0 && !delta {
		s.writeErr(w, fmt.Errorf("%w: removed: only in a delta (with base)", ErrInvalid))
		return
	}
	s.mu.Lock()
	h, ok := s.held[peer]
	s.mu.Unlock()
	switch {
	case rep.Unchanged != "":
		if len(rep.Instances) > 0 {
			s.writeErr(w, fmt.Errorf("%w: instances: must be empty in a report of unchanged instances", ErrInvalid))
			return
		}
		if !ok || h.digest != rep.Unchanged {
			s.writeErr(w, ErrStale)
			return
		}
		rep.Instances = h.instances
	case delta:
		if !ok || h.digest != rep.Base {
			s.writeErr(w, fmt.Errorf("%w: base: the upper tier holds no instances under digest %q", ErrStale, rep.Base))
			return
		}
		all, err := applyDelta(h.instances, rep.Instances, rep.Removed)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		rep.Instances, rep.Base, rep.Removed = all, "", nil
	default:
		sortStatuses(rep.Instances)
		if err := checkUnique("instances", rep.Instances); err != nil {
			s.writeErr(w, err)
			return
		}
	}
	if !fullNodes {
		if len(cl.Nodes) > 0 {
			s.writeErr(w, fmt.Errorf("%w: cluster.nodes: must be empty in a report of unchanged nodes", ErrInvalid))
			return
		}
		if !ok || h.nodesDigest != cl.NodesUnchanged {
			s.writeErr(w, fmt.Errorf("%w (nodes)", ErrStale))
			return
		}
		cl.Nodes = h.nodes
	}
	if err := s.up.Report(r.Context(), peer, rep); err != nil {
		s.writeErr(w, err)
		return
	}
	d, nd := rep.Unchanged, ""
	if cl != nil {
		nd = cl.NodesUnchanged
	}
	if full || delta || (cl != nil && fullNodes) {
		s.mu.Lock()
		h := s.held[peer]
		if full || delta {
			d = Digest(rep.Instances)
			h.digest, h.instances = d, rep.Instances
		}
		if cl != nil && fullNodes {
			nd = NodesDigest(cl.Nodes)
			h.nodesDigest, h.nodes = nd, cl.Nodes
		}
		s.held[peer] = h
		s.mu.Unlock()
	}
	w.Header().Set(HeaderDigest, d)
	if nd != "" {
		w.Header().Set(HeaderNodesDigest, nd)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) assignments(w http.ResponseWriter, r *http.Request, peer string) {
	have, _ := strconv.ParseUint(r.URL.Query().Get("rev"), 10, 64)
	shared := r.URL.Query().Get("specs") == "shared" // the peer reads each spec once per service
	longPoll(w, r, have, func() (any, uint64, <-chan struct{}) {
		a, changed := s.up.Assignments(peer)
		if !shared {
			return (*plainAssignments)(a), a.Revision, changed
		}
		return a, a.Revision, changed
	})
}

// longPoll answers with what get returns once its revision differs from
// have, or when the request's wait ends; get also returns a channel closed
// on its next change.
func longPoll(w http.ResponseWriter, r *http.Request, have uint64, get func() (any, uint64, <-chan struct{})) {
	timer := time.NewTimer(waitParam(r))
	defer timer.Stop()
	for {
		v, rev, changed := get()
		if rev != have {
			writeJSON(w, v)
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			writeJSON(w, v)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) requests(w http.ResponseWriter, r *http.Request, peer string) {
	timer := time.NewTimer(waitParam(r))
	defer timer.Stop()
	for {
		s.mu.Lock()
		q := s.queue(peer)
		if len(q.pending) > 0 {
			out := q.pending
			q.pending = nil
			s.mu.Unlock()
			writeJSON(w, out)
			return
		}
		ready := q.ready
		s.mu.Unlock()
		select {
		case <-ready:
		case <-timer.C:
			writeJSON(w, []Request{})
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) response(w http.ResponseWriter, r *http.Request, peer string) {
	var resp Response
	if err := decode(r, &resp); err != nil {
		s.writeErr(w, err)
		return
	}
	s.mu.Lock()
	ch, ok := s.queue(peer).waiters[resp.ID]
	s.mu.Unlock()
	if ok {
		select {
		case ch <- resp:
		default:
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// queue returns peer's queue; s.mu must be held.
func (s *Server) queue(peer string) *queue {
	q, ok := s.queues[peer]
	if !ok {
		q = &queue{ready: make(chan struct{}), waiters: map[string]chan Response{}}
		s.queues[peer] = q
	}
	return q
}

// Call relays req to peer and waits for its answer until ctx ends. The peer
// picks the request up on its next long-poll.
func (s *Server) Call(ctx context.Context, peer string, req Request) (Response, error) {
	req.ID = newID()
	ch := make(chan Response, 1)
	s.mu.Lock()
	q := s.queue(peer)
	q.pending = append(q.pending, req)
	q.waiters[req.ID] = ch
	close(q.ready)
	q.ready = make(chan struct{})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(q.waiters, req.ID)
		for i, p := range q.pending {
			if p.ID == req.ID {
				q.pending = append(q.pending[:i], q.pending[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
	}()
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		return Response{}, fmt.Errorf("relay %s to %s: %w (%v)", req.Kind, peer, ErrNoPeer, ctx.Err())
	}
}

func waitParam(r *http.Request) time.Duration {
	d, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil || d < 0 {
		return 0
	}
	return min(d, maxWait)
}

func decode(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, maxBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: decode body: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON body", ErrInvalid)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr answers with err's status (errdefs): an internal error is logged
// with a request id and not echoed to the peer.
func (s *Server) writeErr(w http.ResponseWriter, err error) {
	code, msg := errdefs.HTTP(s.log, err)
	http.Error(w, msg, code)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
