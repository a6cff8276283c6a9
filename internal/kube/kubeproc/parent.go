package kubeproc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/store"
)

// Program is the name of the hedge-kube executable.
const Program = "hedge-kube"

// MissingMessage is the answer of every Kubernetes path when hedge-kube
// cannot be found.
const MissingMessage = "Kubernetes support needs the hedge-kube program next to hedge (go build ./cmd/hedge-kube)"

// Launcher starts hedge-kube with cfg, serving on ln (which stays the
// caller's: a launcher must not close it). It returns once the child has
// started; wait blocks until the child has exited. The child must stop
// when ctx ends. ExecLauncher runs the program; tests may run the same
// code in-process.
type Launcher func(ctx context.Context, cfg ChildConfig, ln *net.UnixListener) (wait func() error, err error)

// Options configure a Supervisor.
type Options struct {
	// Dir holds the sockets and hedge-kube's store. Empty: Kubernetes
	// support is off and its paths answer 503.
	Dir string
	// Program is hedge-kube's path; when empty it is looked for next to
	// the running executable, then on PATH. Unused with Launch.
	Program string
	// Launch starts the child; ExecLauncher(program) when nil.
	Launch Launcher
	// Backplane serves hedge-kube's calls to the root (PathJoin,
	// PathClusters, PathLink), behind the secret.
	Backplane http.Handler
	// Legacy is the root's store, from which Kubernetes state written by
	// versions before the split is moved once to hedge-kube's store.
	Legacy store.Store
	// SealKeyFile is the file of the key that seals the secrets in
	// hedge-kube's store; DefaultSealKeyFile in Dir when empty.
	SealKeyFile string
	// Pressure and LogLevel are passed on in ChildConfig.
	Pressure []byte
	LogLevel string
	Logger   *slog.Logger
}

// Supervisor runs hedge-kube for the root: it starts the child on the
// first request (or at once when the child has state from an earlier
// run), restarts it if it dies, and forwards requests to it.
type Supervisor struct {
	o       Options
	log     *slog.Logger
	secret  string
	launch  Launcher // nil: the program is missing
	missing string   // why launch is nil
	proxy   *httputil.ReverseProxy

	startOnce sync.Once
	start     chan struct{} // closed by the first request that needs the child
	ready     chan struct{} // closed when Run has its sockets (or gave up)
	started   chan struct{} // closed once the child was launched at least once
	mu        sync.Mutex
	runErr    error // why Run could not serve, if it could not
}

// NewSupervisor returns a supervisor; nothing starts until Run.
func NewSupervisor(o Options) (*Supervisor, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("kube secret: %w", err)
	}
	s := &Supervisor{o: o, log: o.Logger.With("component", "kube"), secret: hex.EncodeToString(b),
		start: make(chan struct{}), ready: make(chan struct{}), started: make(chan struct{})}
	switch {
	case o.Dir == "":
		s.missing = "Kubernetes support is off: the root has no data directory"
	case o.Launch != nil:
		s.launch = o.Launch
	default:
		if p, err := FindProgram(o.Program); err != nil {
			s.missing = MissingMessage
			s.log.Info("kubernetes support unavailable", "err", err)
		} else {
			s.launch = ExecLauncher(p, s.log)
		}
	}
	sock := filepath.Join(o.Dir, ChildSocket)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns: 8, IdleConnTimeout: time.Minute,
	}
	s.proxy = &httputil.ReverseProxy{
		Rewrite:   func(*httputil.ProxyRequest) {}, // Forward sets the request up
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			id := errdefs.NewRequestID()
			s.log.Warn("forward to hedge-kube", "path", req.URL.Path, "request_id", id, "err", err)
			WriteError(w, http.StatusBadGateway, "hedge-kube did not answer (request id "+id+")")
		},
	}
	return s, nil
}

// keyFile is the sealing key's file.
func (s *Supervisor) keyFile() string {
	if s.o.SealKeyFile != "" {
		return s.o.SealKeyFile
	}
	return filepath.Join(s.o.Dir, DefaultSealKeyFile)
}

// FindProgram returns hedge-kube's path: explicit if set (it must exist),
// else next to the running executable, else on PATH.
func FindProgram(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("%s: %w", Program, err)
		}
		return explicit, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), Program)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := execLookPath(Program)
	if err != nil {
		return "", fmt.Errorf("%s not next to %s nor on PATH: %w", Program, os.Args[0], err)
	}
	return p, nil
}

// Available reports whether hedge-kube can be started.
func (s *Supervisor) Available() bool { return s.launch != nil }

// Forward sends req to hedge-kube on behalf of c, whom the root has
// authenticated, starting the child if needed. The caller's bearer token
// does not travel on.
func (s *Supervisor) Forward(w http.ResponseWriter, req *http.Request, c Caller) {
	if s.launch == nil {
		WriteError(w, http.StatusServiceUnavailable, s.missing)
		return
	}
	if s.emptyList(req) {
		// Listing what does not exist yet costs nothing: hedge-kube is
		// started by the first change, not by a console or CLI looking.
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[]\n"))
		return
	}
	s.startOnce.Do(func() { close(s.start) })
	select {
	case <-s.ready:
	case <-req.Context().Done():
		return
	}
	s.mu.Lock()
	runErr := s.runErr
	s.mu.Unlock()
	if runErr != nil {
		id := errdefs.NewRequestID()
		s.log.Error("kubernetes support unavailable", "request_id", id, "err", runErr)
		WriteError(w, http.StatusServiceUnavailable, "Kubernetes support unavailable (request id "+id+")")
		return
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = "http", req.Host
	if out.URL.Host == "" {
		out.URL.Host = "hedge-kube"
	}
	out.RequestURI = ""
	for _, h := range []string{"Authorization", "Cookie", HeaderSecret, HeaderUser, HeaderUserID, HeaderAdmin} {
		out.Header.Del(h)
	}
	out.Header.Set(HeaderSecret, s.secret)
	out.Header.Set(HeaderUser, c.User)
	out.Header.Set(HeaderUserID, c.UserID)
	out.Header.Set(HeaderAdmin, strconv.FormatBool(c.Admin))
	s.proxy.ServeHTTP(w, out)
}

// Run serves the root's socket and keeps hedge-kube running once it is
// needed, until ctx ends; then it stops the child and returns.
func (s *Supervisor) Run(ctx context.Context) {
	if s.launch == nil {
		close(s.ready)
		return
	}
	child, back, err := s.listen()
	if err != nil {
		s.mu.Lock()
		s.runErr = err
		s.mu.Unlock()
		close(s.ready)
		s.log.Error("kubernetes support unavailable", "err", err)
		return
	}
	defer child.Close()
	srv := &http.Server{Handler: Authenticate(s.secret, s.o.Backplane), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(back)
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()
	moved, err := Migrate(s.o.Legacy, filepath.Join(s.o.Dir, StoreFile), s.keyFile())
	if err != nil {
		s.log.Error("move kubernetes state to hedge-kube's store; it stays in the root's store", "err", err)
	} else if moved > 0 {
		s.log.Info("moved kubernetes state to hedge-kube's store", "records", moved, "store", filepath.Join(s.o.Dir, StoreFile))
	}
	close(s.ready)
	if _, err := os.Stat(filepath.Join(s.o.Dir, StoreFile)); err != nil {
		// No state yet: start on the first request.
		select {
		case <-s.start:
		case <-ctx.Done():
			return
		}
	}
	s.supervise(ctx, child)
}

// listen opens both sockets, readable by this user only.
func (s *Supervisor) listen() (child, back *net.UnixListener, err error) {
	if err := os.MkdirAll(s.o.Dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data directory: %w", err)
	}
	open := func(name string) (*net.UnixListener, error) {
		p := filepath.Join(s.o.Dir, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", p, err)
		}
		if err := os.Chmod(p, 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("socket mode: %w", err)
		}
		return ln, nil
	}
	if child, err = open(ChildSocket); err != nil {
		return nil, nil, err
	}
	if back, err = open(RootSocket); err != nil {
		child.Close()
		return nil, nil, err
	}
	return child, back, nil
}

// supervise launches the child and launches it again, after a pause that
// grows to 30 s, whenever it exits before ctx ends.
func (s *Supervisor) supervise(ctx context.Context, ln *net.UnixListener) {
	cfg := ChildConfig{Secret: s.secret, RootSocket: filepath.Join(s.o.Dir, RootSocket), Store: filepath.Join(s.o.Dir, StoreFile), SealKeyFile: s.keyFile(),
		LogLevel: s.o.LogLevel, Pressure: s.o.Pressure}
	pause := time.Second
	for {
		begun := time.Now()
		wait, err := s.launch(ctx, cfg, ln)
		if err == nil {
			s.log.Info("hedge-kube started")
			s.markStarted()
			err = wait()
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(begun) > time.Minute {
			pause = time.Second
		}
		s.log.Error("hedge-kube stopped; starting it again", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// emptyLists are the list paths of hedge-kube that answer [] while nothing
// Kubernetes has ever been stored.
var emptyLists = map[string]bool{"/api/k8sclusters/": true, "/api/chartrepo": true, "/api/chartrepo/": true, "/api/enabler/instanced": true}

// emptyList reports whether req lists objects of hedge-kube while the child
// has never run and has no store: the answer is known to be empty.
func (s *Supervisor) emptyList(req *http.Request) bool {
	if req.Method != http.MethodGet || !emptyLists[req.URL.Path] {
		return false
	}
	select {
	case <-s.started:
		return false
	default:
	}
	_, err := os.Stat(filepath.Join(s.o.Dir, StoreFile))
	return errors.Is(err, fs.ErrNotExist)
}

func (s *Supervisor) markStarted() {
	select {
	case <-s.started:
	default:
		close(s.started)
	}
}

// Started is closed once the child has been launched.
func (s *Supervisor) Started() <-chan struct{} { return s.started }
