package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"github.com/hedgeorch/hedge/internal/pki"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// t0 is "now" for the tests; fixtures are dated relative to it.
var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeRoot implements just enough of the root's REST API contract for the
// CLI's tests: login and refresh with rotating tokens, and in-memory apps,
// services, users and logs.
type fakeRoot struct {
	mu sync.Mutex

	password string
	access   string // the only valid access token
	refresh  string // the only valid refresh token
	gen      int

	apps     []api.Application
	services []api.Service
	users    []api.User
	allow    []api.AllowEntry
	clusters []api.Cluster
	nodes    []api.Node
	tokens   []api.JoinToken
	// isolation is the namespaces' isolation, by namespace.
	isolation map[string]api.NamespaceIsolation
	logs      map[string][]byte // "serviceID/n" -> output

	// submit answers POST /api/application/; nil means 400.
	submit func(contentType string, body []byte) (api.SubmitResult, *api.Error)
	// advance is called on every GET /api/service/{id}, with how many
	// times that service was fetched before, to move its instances along.
	advance func(svc *api.Service, polls int)
	// onLogs is called on every logs request with how many came before.
	onLogs func(f *fakeRoot, n int)

	// What the fake saw.
	requests     []string // "METHOD /path"
	auths        []string // Authorization header of every request
	refreshes    int
	polls        map[string]int
	contentTypes []string
	bodies       [][]byte
	logTails     []string
}

func newFakeRoot() *fakeRoot {
	started := t0.Add(-3 * time.Minute)
	exit1 := 1
	return &fakeRoot{
		password: "s3cret",
		access:   "access-0",
		refresh:  "refresh-0",
		apps: []api.Application{
			{ID: "a1", Name: "clientsrvr", Namespace: "test", Owner: "admin", ServiceIDs: []string{"s1", "s2"}, CreatedAt: t0.Add(-5 * time.Minute)},
			{ID: "a2", Name: "demo", Namespace: "prod", Owner: "bob", ServiceIDs: []string{"s3"}, CreatedAt: t0.Add(-50 * time.Hour)},
		},
		services: []api.Service{
			{ID: "s1", ApplicationID: "a1", AppName: "clientsrvr", Owner: "admin", CreatedAt: t0.Add(-5 * time.Minute),
				Spec: api.ServiceSpec{Name: "curl", Namespace: "test", Virtualization: "container", Code: "docker.io/curlimages/curl:7.82.0",
					Cmd: []string{"sh", "-c", "curl 10.30.55.55"}, MemoryMB: 100, VCPUs: 1, OneShot: true},
				Instances: []api.Instance{{Number: 0, Status: api.StateFailed, Reason: "exit code 1", ClusterName: "edge1",
					NodeName: "pi4", Restarts: 3, ExitCode: &exit1, StartedAt: &started, UpdatedAt: t0.Add(-10 * time.Second)}}},
			{ID: "s2", ApplicationID: "a1", AppName: "clientsrvr", Owner: "admin", CreatedAt: t0.Add(-5 * time.Minute),
				Spec: api.ServiceSpec{Name: "nginx", Namespace: "test", Virtualization: "container", Code: "docker.io/library/nginx:latest",
					Port: "80:80/tcp", MemoryMB: 100, VCPUs: 1, Addresses: &api.Addresses{RRIP: "10.30.55.55"},
					Constraints: []api.Constraint{{Type: "direct", Cluster: "edge1"}}},
				Instances: []api.Instance{
					{Number: 0, Status: api.StateRunning, ClusterName: "edge1", NodeName: "pi4", PID: 4242, StartedAt: &started, UpdatedAt: t0.Add(-3 * time.Minute)},
					{Number: 1, Status: api.StateUnschedulable, Reason: "0/2 clusters fit: 2 memory", UpdatedAt: t0.Add(-time.Minute)},
				}},
			{ID: "s3", ApplicationID: "a2", AppName: "demo", Owner: "bob", CreatedAt: t0.Add(-50 * time.Hour),
				Spec: api.ServiceSpec{Name: "nginx", Namespace: "prod", Virtualization: "process", Code: "/usr/sbin/nginx"}},
		},
		users: []api.User{
			{Username: "bob", Roles: []string{"Application_Provider"}, CreatedAt: t0.Add(-72 * time.Hour)},
			{Username: "admin", Roles: []string{"Admin"}, CreatedAt: t0.Add(-96 * time.Hour)},
		},
		clusters: []api.Cluster{{ID: "c1", Name: "edge1", State: api.NodeReady, ActiveNodes: 2, Capacity: api.Resources{VCPUs: 8, MemoryMB: 16384},
			Reserved: api.Resources{VCPUs: 1.5, MemoryMB: 512}, CPUPercent: 12.34, MemoryPercent: 40, Instances: 3, LastSeen: t0.Add(-4 * time.Second)}},
		nodes: []api.Node{{ID: "n1", Name: "pi4", ClusterName: "edge1", State: api.NodeReady, Cordoned: true, Arch: "arm64", Runtimes: []string{"process", "container"},
			Capacity: api.Resources{VCPUs: 4, MemoryMB: 8192}, Reserved: api.Resources{VCPUs: 1, MemoryMB: 200},
			Metrics: api.HostMetrics{CPUPercent: 5, MemoryPercent: 33.3}, Instances: 2, LastSeen: t0.Add(-2 * time.Second)}},
		logs:  map[string][]byte{"s2/0": []byte("GET / 200\nGET /x 404\n")},
		polls: map[string]int{},
	}
}

func (f *fakeRoot) start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	return srv
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, detail string, problems ...api.Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Error{Status: status, Title: http.StatusText(status), Detail: detail, Problems: problems})
}

func (f *fakeRoot) rotate() api.TokenPair {
	f.gen++
	f.access = "access-" + strconv.Itoa(f.gen)
	f.refresh = "refresh-" + strconv.Itoa(f.gen)
	return api.TokenPair{Token: f.access, RefreshToken: f.refresh, ExpiresIn: 900}
}

func (f *fakeRoot) service(id string) *api.Service {
	for i := range f.services {
		if f.services[i].ID == id {
			return &f.services[i]
		}
	}
	return nil
}

func (f *fakeRoot) handler() http.Handler {
	mux := http.NewServeMux()
	// Unauthenticated endpoints.
	mux.HandleFunc("POST /api/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var req api.LoginRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Username != "admin" || req.Password != f.password {
			problem(w, 401, "wrong username or password")
			return
		}
		writeJSON(w, 200, f.rotate())
	})
	mux.HandleFunc("POST /api/auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		f.refreshes++
		var req api.RefreshRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.RefreshToken != f.refresh {
			problem(w, 401, "invalid refresh token")
			return
		}
		writeJSON(w, 200, f.rotate())
	})
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Health{Status: "ok", Version: "v9.9.9"})
	})

	// Authenticated endpoints.
	auth := http.NewServeMux()
	auth.HandleFunc("GET /api/applications/", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, f.apps) })
	auth.HandleFunc("GET /api/allow", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, f.allow) })
	auth.HandleFunc("PUT /api/allow/{cluster}/{user}", func(w http.ResponseWriter, r *http.Request) {
		f.allow = append(f.allow, api.AllowEntry{Cluster: r.PathValue("cluster"), User: r.PathValue("user")})
		writeJSON(w, 200, map[string]string{"message": "ok"})
	})
	auth.HandleFunc("DELETE /api/allow/{cluster}/{user}", func(w http.ResponseWriter, r *http.Request) {
		f.allow = slices.DeleteFunc(f.allow, func(e api.AllowEntry) bool {
			return e.Cluster == r.PathValue("cluster") && e.User == r.PathValue("user")
		})
		writeJSON(w, 200, map[string]string{"message": "ok"})
	})
	auth.HandleFunc("GET /api/services/", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, f.services) })
	auth.HandleFunc("GET /api/services/{appid}", func(w http.ResponseWriter, r *http.Request) {
		out := []api.Service{}
		for _, s := range f.services {
			if s.ApplicationID == r.PathValue("appid") {
				out = append(out, s)
			}
		}
		writeJSON(w, 200, out)
	})
	auth.HandleFunc("GET /api/service/{id}", func(w http.ResponseWriter, r *http.Request) {
		s := f.service(r.PathValue("id"))
		if s == nil {
			problem(w, 404, "service "+r.PathValue("id")+" not found")
			return
		}
		if f.advance != nil {
			f.advance(s, f.polls[s.ID])
		}
		f.polls[s.ID]++
		writeJSON(w, 200, s)
	})
	auth.HandleFunc("POST /api/application/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.contentTypes = append(f.contentTypes, r.Header.Get("Content-Type"))
		f.bodies = append(f.bodies, body)
		if f.submit == nil {
			problem(w, 400, "validation failed", api.Problem{Location: "applications[0].microservices[0].memory", Message: "must be >= 0"},
				api.Problem{Location: "applications[0].application_name", Message: "must match ^[a-zA-Z0-9]{1,30}$"})
			return
		}
		res, perr := f.submit(r.Header.Get("Content-Type"), body)
		if perr != nil {
			problem(w, perr.Status, perr.Detail, perr.Problems...)
			return
		}
		f.apps = append(f.apps, res.Applications...)
		f.services = append(f.services, res.Services...)
		writeJSON(w, 200, res)
	})
	auth.HandleFunc("DELETE /api/application/{appid}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(204)
	})
	auth.HandleFunc("DELETE /api/service/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	auth.HandleFunc("DELETE /api/service/{id}/instance/{n}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	auth.HandleFunc("PUT /api/service/{id}/scale", func(w http.ResponseWriter, r *http.Request) {
		s := f.service(r.PathValue("id"))
		if s == nil {
			problem(w, 404, "service not found")
			return
		}
		var req api.ScaleRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		s.Spec.Instances = req.Instances
		writeJSON(w, 200, s)
	})
	auth.HandleFunc("GET /api/service/{id}/instance/{n}/logs", func(w http.ResponseWriter, r *http.Request) {
		if f.onLogs != nil {
			f.onLogs(f, len(f.logTails))
		}
		f.logTails = append(f.logTails, r.URL.Query().Get("tail"))
		b, ok := f.logs[r.PathValue("id")+"/"+r.PathValue("n")]
		if !ok {
			problem(w, 404, "no such instance")
			return
		}
		if tail, _ := strconv.Atoi(r.URL.Query().Get("tail")); tail > 0 && tail < len(b) {
			b = b[len(b)-tail:]
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(b)
	})
	auth.HandleFunc("GET /api/clusters/", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, f.clusters) })
	auth.HandleFunc("GET /api/clusters/active", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, []api.Cluster{}) })
	auth.HandleFunc("GET /api/nodes/", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, f.nodes) })
	auth.HandleFunc("PUT /api/namespaces/{ns}/isolation", func(w http.ResponseWriter, r *http.Request) {
		var body api.IsolationRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			problem(w, 400, err.Error())
			return
		}
		iso := api.NamespaceIsolation{Namespace: r.PathValue("ns"), Isolated: body.Isolated, Allow: body.Allow}
		if f.isolation == nil {
			f.isolation = map[string]api.NamespaceIsolation{}
		}
		if iso.Isolated {
			f.isolation[iso.Namespace] = iso
		} else {
			delete(f.isolation, iso.Namespace)
		}
		writeJSON(w, 200, iso)
	})
	auth.HandleFunc("GET /api/namespaces/isolation", func(w http.ResponseWriter, r *http.Request) {
		out := []api.NamespaceIsolation{}
		for _, iso := range f.isolation {
			out = append(out, iso)
		}
		writeJSON(w, 200, out)
	})
	auth.HandleFunc("GET /api/users/", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, f.users) })
	auth.HandleFunc("POST /api/user/", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateUserRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Password == "" {
			problem(w, 400, "password is required")
			return
		}
		u := api.User{Username: req.Username, Roles: req.Roles, CreatedAt: t0}
		f.users = append(f.users, u)
		writeJSON(w, 200, u)
	})
	auth.HandleFunc("DELETE /api/user/{name}", func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(f.users, func(u api.User) bool { return u.Username == r.PathValue("name") })
		if i < 0 {
			problem(w, 404, "user "+r.PathValue("name")+" not found")
			return
		}
		f.users = slices.Delete(f.users, i, i+1)
		w.WriteHeader(204)
	})
	auth.HandleFunc("POST /api/tokens/", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateTokenRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		jt := api.JoinToken{Token: fmt.Sprintf("join-%s-%d", req.Kind, req.TTLSeconds), ID: fmt.Sprintf("%016x", len(f.tokens)+1),
			Kind: req.Kind, Cluster: req.Cluster, MaxUses: req.MaxUses, ExpiresAt: t0.Add(24 * time.Hour)}
		f.tokens = append(f.tokens, jt)
		writeJSON(w, 200, jt)
	})
	auth.HandleFunc("GET /api/tokens/", func(w http.ResponseWriter, r *http.Request) {
		out := []api.JoinToken{}
		for _, jt := range f.tokens {
			jt.Token = ""
			out = append(out, jt)
		}
		writeJSON(w, 200, out)
	})
	auth.HandleFunc("DELETE /api/tokens/{id}", func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(f.tokens, func(jt api.JoinToken) bool { return jt.ID == r.PathValue("id") })
		if i < 0 {
			problem(w, 404, "join token "+r.PathValue("id")+" not found")
			return
		}
		f.tokens = slices.Delete(f.tokens, i, i+1)
		writeJSON(w, 200, api.Message{Message: "revoked"})
	})
	auth.HandleFunc("DELETE /api/nodes/{id}", func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(f.nodes, func(n api.Node) bool { return n.Name == r.PathValue("id") || n.ID == r.PathValue("id") })
		if i < 0 {
			problem(w, 404, "node "+r.PathValue("id")+" not found")
			return
		}
		f.nodes = slices.Delete(f.nodes, i, i+1)
		writeJSON(w, 200, api.Message{Message: "deleted"})
	})
	auth.HandleFunc("DELETE /api/clusters/{id}", func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(f.clusters, func(c api.Cluster) bool { return c.Name == r.PathValue("id") || c.ID == r.PathValue("id") })
		if i < 0 {
			problem(w, 404, "cluster "+r.PathValue("id")+" not found")
			return
		}
		f.clusters = slices.Delete(f.clusters, i, i+1)
		writeJSON(w, 200, api.Message{Message: "deleted"})
	})
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.access {
			problem(w, 401, "token expired or invalid")
			return
		}
		auth.ServeHTTP(w, r)
	}))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, r.Method+" "+r.URL.Path)
		f.auths = append(f.auths, r.Header.Get("Authorization"))
		mux.ServeHTTP(w, r)
	})
}

func (f *fakeRoot) saw(req string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.requests, req)
}

// harness runs hedge commands against a fakeRoot, with a config file in a
// temporary directory.
type harness struct {
	t      *testing.T
	fake   *fakeRoot
	url    string
	config string
	env    map[string]string
	opts   []Option
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	f := newFakeRoot()
	srv := f.start(t)
	h := &harness{t: t, fake: f, url: srv.URL, config: filepath.Join(t.TempDir(), "hedge", "config.json")}
	h.env = map[string]string{"HEDGE_SERVER": srv.URL, "HEDGE_CONFIG": h.config}
	return h
}

// loggedIn writes a config as `hedge login` would have.
func (h *harness) loggedIn() *harness {
	h.t.Helper()
	if err := saveConfig(h.config, config{Server: h.url, Username: "admin", Token: h.fake.access, RefreshToken: h.fake.refresh}); err != nil {
		h.t.Fatal(err)
	}
	return h
}

type result struct {
	stdout, stderr string
	code           int
}

func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	return h.runIn(strings.NewReader(stdin), args...)
}

func (h *harness) runIn(stdin io.Reader, args ...string) result {
	h.t.Helper()
	return h.runCtx(context.Background(), stdin, args...)
}

func (h *harness) runCtx(ctx context.Context, stdin io.Reader, args ...string) result {
	h.t.Helper()
	start := time.Now()
	opts := append([]Option{
		WithVersion("v1.2.3"),
		func(s *settings) {
			s.getenv = func(k string) string { return h.env[k] }
			s.homeDir = func() (string, error) { return "", os.ErrNotExist }
			// The clock starts at t0 and runs, so ages are stable and grace
			// periods still pass.
			s.now = func() time.Time { return t0.Add(time.Since(start)) }
			s.waitPoll = 2 * time.Millisecond
			s.followPoll = 2 * time.Millisecond
			s.failGrace = 30 * time.Millisecond
			s.isTerminal = func(int) bool { return false }
			s.readPassword = func(int) ([]byte, error) { return nil, io.EOF }
		},
	}, h.opts...)
	root := NewRootCommand(opts...)
	var out, errOut bytes.Buffer
	root.SetIn(stdin)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	code := Execute(ctx, root)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

func (h *harness) readConfig() config {
	h.t.Helper()
	cfg, err := loadConfig(h.config)
	if err != nil {
		h.t.Fatal(err)
	}
	return cfg
}

// newTLSHarness is newHarness with the fake root behind HTTPS, its
// certificate signed by a Hedge CA whose PEM is in h.caFile (not yet given
// to the client).
func newTLSHarness(t *testing.T) *tlsHarness {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueLocal("fake root", []string{pki.RootName, "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeRoot()
	srv := httptest.NewUnstartedServer(f.handler())
	srv.TLS = pki.NewServing(cert).ServerConfig()
	// httptest fills an empty Certificates with its own, which Go prefers
	// to GetCertificate for clients that send no server name (IPs).
	srv.TLS.Certificates = []tls.Certificate{*cert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	h := &harness{t: t, fake: f, url: srv.URL, config: filepath.Join(t.TempDir(), "hedge", "config.json")}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	h.env = map[string]string{"HEDGE_SERVER": srv.URL, "HEDGE_CONFIG": h.config, "HEDGE_CA_CERT": caFile}
	return &tlsHarness{harness: h, ca: ca, caFile: caFile}
}

type tlsHarness struct {
	*harness
	ca     *pki.CA
	caFile string
}
