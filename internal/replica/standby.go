// Package replica serves the API on a root replica that does not lead
// (docs/adr/015-root-on-etcd.md): reads of stored state from a copy kept
// current by an etcd watch, everything else forwarded to the leader, and
// tier links refused with a retry, so that only the leader ever changes the
// state.
package replica

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
)

// HeaderServedBy says how a standby answered: ServedFromCopy or
// ServedByLeader.
const HeaderServedBy = "Hedge-Served-By"

// Values of HeaderServedBy.
const (
	ServedFromCopy = "standby-copy"
	ServedByLeader = "leader-via-standby"
)

// Copy is the standby's copy of the state; store.EtcdCache implements it.
type Copy interface {
	// Revision grows with every change the copy applies.
	Revision() int64
	// Sync waits until the copy holds every change committed before the
	// call.
	Sync(ctx context.Context) error
}

// Config configures a Standby.
type Config struct {
	// Copy is the state the reads are served from.
	Copy Copy
	// View builds a handler serving reads over the copy as it is now (a
	// root over the copy). It is called again once the copy has changed.
	View func() (http.Handler, error)
	// Leader returns the API URL of the leading replica, or an error
	// wrapping ErrNoLeader when none leads.
	Leader func(ctx context.Context) (string, error)
	// Transport reaches the leader (TLS verifying the replicas' CA).
	Transport http.RoundTripper
	// LeaderCheck is how often a forwarded request still waiting checks
	// that its leader still leads (500 ms when zero).
	LeaderCheck time.Duration
	// SyncTimeout bounds how long a forwarded write waits for the copy to
	// hold it before answering (2 s when zero).
	SyncTimeout time.Duration
	Logger      *slog.Logger
}

// Standby is the HTTP handler of a replica that does not lead.
type Standby struct {
	cfg   Config
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	view    http.Handler
	viewRev int64
}

var _ http.Handler = (*Standby)(nil)

type targetKey struct{}

// ErrNoLeader is wrapped by Config.Leader's error when no replica leads.
var ErrNoLeader = errors.New("no replica leads")

// New returns the handler of a standby replica.
func New(cfg Config) *Standby {
	if cfg.LeaderCheck <= 0 {
		cfg.LeaderCheck = 500 * time.Millisecond
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Standby{cfg: cfg}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(targetKey{}).(*url.URL))
			// The leader sees the standby as the client; it believes
			// this header only from --trusted-proxies.
			pr.SetXForwarded()
		},
		Transport:      cfg.Transport,
		ModifyResponse: s.afterForward,
		ErrorHandler:   s.forwardFailed,
		// Long-polls and streams go through as they come.
		FlushInterval: -1,
	}
	return s
}

// ServeHTTP serves reads of stored state from the copy, refuses tier
// links, and forwards the rest to the leader.
func (s *Standby) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/link/"):
		leader, _ := s.cfg.Leader(r.Context())
		link.RefuseStandby(w, leader)
	case Local(r):
		if h := s.current(); h != nil {
			w.Header().Set(HeaderServedBy, ServedFromCopy)
			h.ServeHTTP(w, r)
			return
		}
		s.forward(w, r)
	default:
		s.forward(w, r)
	}
}

// Local reports whether r only reads state the copy holds: applications,
// services and their instances, users, tokens, the audit log, the API's
// documents and the web console. Everything that depends on the leader's
// memory (cluster and node liveness, events, logs relayed from workers,
// health) is asked of the leader.
func Local(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	if p == "/" || strings.HasPrefix(p, "/assets/") {
		return true
	}
	if strings.HasPrefix(p, "/api/service/") && strings.HasSuffix(p, "/logs") {
		return false
	}
	for _, prefix := range []string{"/api/application/", "/api/applications/", "/api/service/", "/api/services/",
		"/api/users/", "/api/user/", "/api/tokens/", "/api/audit", "/api/openapi", "/api/docs", "/api/schemas"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// current returns the view over the copy, rebuilt if the copy changed
// since it was built; nil when it cannot be built (the leader has not
// finished setting the state up).
func (s *Standby) current() http.Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev := s.cfg.Copy.Revision()
	if s.view != nil && s.viewRev == rev {
		return s.view
	}
	h, err := s.cfg.View()
	if err != nil {
		s.cfg.Logger.Warn("standby: cannot serve from the copy; forwarding", "err", err)
		return nil
	}
	s.view, s.viewRev = h, rev
	return h
}

func (s *Standby) forward(w http.ResponseWriter, r *http.Request) {
	leader, err := s.cfg.Leader(r.Context())
	if err != nil {
		s.cfg.Logger.Warn("standby: no leader to forward to", "err", err)
		unavailable(w, "no root replica leads at the moment: retry in a second")
		return
	}
	u, err := url.Parse(leader)
	if err != nil || u.Scheme == "" || u.Host == "" {
		s.cfg.Logger.Error("standby: the leader's URL is not a URL", "leader", leader, "err", err)
		unavailable(w, "the leading replica advertises no usable URL (--advertise-url)")
		return
	}
	w.Header().Set(HeaderServedBy, ServedByLeader)
	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), targetKey{}, u))
	defer cancel()
	go s.whileLeading(ctx, cancel, leader)
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// whileLeading cancels a forwarded request once leader no longer leads: a
// leader cut off from the network would otherwise hold it until the
// connection times out, though it can apply nothing more (it is fenced).
// It returns when ctx ends.
func (s *Standby) whileLeading(ctx context.Context, cancel context.CancelFunc, leader string) {
	t := time.NewTicker(s.cfg.LeaderCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now, err := s.cfg.Leader(ctx); err == nil && now != leader || errors.Is(err, ErrNoLeader) {
			s.cfg.Logger.Warn("standby: the leader changed while it was asked; dropping the request", "leader", leader, "now", now)
			cancel()
			return
		}
	}
}

// afterForward makes a write answered by the leader visible in the copy
// before the caller hears of it, so that its next read through this
// replica sees it.
func (s *Standby) afterForward(resp *http.Response) error {
	m := resp.Request.Method
	if m == http.MethodGet || m == http.MethodHead || resp.StatusCode >= 300 {
		return nil
	}
	ctx, cancel := context.WithTimeout(resp.Request.Context(), s.cfg.SyncTimeout)
	defer cancel()
	if err := s.cfg.Copy.Sync(ctx); err != nil {
		s.cfg.Logger.Warn("standby: the copy lags behind a forwarded write", "err", err)
	}
	return nil
}

// forwardFailed answers when the leader could not be asked. A request that
// never reached it may be sent again (503); one that may have reached it is
// not known to have failed (502).
func (s *Standby) forwardFailed(w http.ResponseWriter, r *http.Request, err error) {
	if api.Unreachable(err) {
		unavailable(w, "the leading replica cannot be reached: retry in a second")
		return
	}
	s.cfg.Logger.Warn("standby: forward to the leader", "path", r.URL.Path, "err", err)
	http.Error(w, "the leading replica did not answer; the request may or may not have been applied", http.StatusBadGateway)
}

func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	w.Header().Del(HeaderServedBy)
	http.Error(w, msg, http.StatusServiceUnavailable)
}
