package kubeproc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Files of the root's data directory that belong to hedge-kube.
const (
	// ChildSocket is where hedge-kube serves the forwarded API.
	ChildSocket = "kube.sock"
	// RootSocket is where the root serves hedge-kube's calls back.
	RootSocket = "kube-root.sock"
	// StoreFile is hedge-kube's own state store.
	StoreFile = "kube.db"
	// DefaultSealKeyFile holds the key that seals the secrets of
	// StoreFile, apart from it (mode 0600).
	DefaultSealKeyFile = "kube-seal.key"
)

// StateBuckets are the buckets of Kubernetes state. Versions before the
// split kept them in the root's store; Migrate moves them to StoreFile.
var StateBuckets = []string{"kube_clusters", "kube_chart_repos", "kube_enablers", secretBucket}

// secretBucket holds the key that seals the credentials of the others.
const secretBucket = "kube_secret"

// Paths of the root's socket, called by hedge-kube.
const (
	PathJoin     = "/kube/v1/join"
	PathClusters = "/kube/v1/clusters"
	// PathLink prefixes the link protocol (internal/link) that each
	// Kubernetes cluster speaks to the root as a cluster tier.
	PathLink = "/link/v1/"
)

// Headers of a call over either socket. Any caller that can reach a socket
// file must still present the secret; the identity headers are trusted
// only behind it.
const (
	HeaderSecret = "Hedge-Kube-Secret"
	HeaderUser   = "Hedge-Kube-User"
	HeaderAdmin  = "Hedge-Kube-Admin"
	// HeaderUserID is the caller's user id (names can be reused).
	HeaderUserID = "Hedge-Kube-User-Id"
)

// ErrUnavailable is returned when the root cannot reach hedge-kube.
var ErrUnavailable = errors.New("kubernetes support unavailable")

// ChildConfig is what the root tells hedge-kube at start, as one JSON
// value on its standard input (which then stays open: its end means the
// root is gone). The listening socket is file descriptor 3.
type ChildConfig struct {
	// Secret authenticates both sides over the sockets.
	Secret string `json:"secret"`
	// RootSocket is the path of the root's socket.
	RootSocket string `json:"root_socket"`
	// Store is the path of hedge-kube's state store.
	Store string `json:"store"`
	// SealKeyFile is the file of the key that seals the secrets in Store;
	// DefaultSealKeyFile next to Store when empty.
	SealKeyFile string `json:"seal_key_file,omitempty"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level,omitempty"`
	// Pressure is the pressure control of Kubernetes nodes, as
	// internal/kube reads it; null when off.
	Pressure json.RawMessage `json:"pressure,omitempty"`
}

// Caller is who called the root's API, as the root authenticated them.
type Caller struct {
	User   string
	UserID string
	Admin  bool
}

type callerKey struct{}

// CallerFrom returns the caller the root forwarded with the request, as
// Authenticate put it in ctx; the zero Caller if none.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// Authenticate lets through only requests that carry secret, and puts the
// caller they name in the request's context. Others get 401 and reach
// nothing.
func Authenticate(secret string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got := req.Header.Get(HeaderSecret)
		if secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
			WriteError(w, http.StatusUnauthorized, "this socket is for the hedge root and hedge-kube only")
			return
		}
		admin, _ := strconv.ParseBool(req.Header.Get(HeaderAdmin))
		c := Caller{User: req.Header.Get(HeaderUser), UserID: req.Header.Get(HeaderUserID), Admin: admin}
		next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), callerKey{}, c)))
	})
}

// errorBody is the API's error document (RFC 9457, as huma writes it).
type errorBody struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// WriteError writes an API error document.
func WriteError(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Title: http.StatusText(status), Status: status, Detail: detail})
}
