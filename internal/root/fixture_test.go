package root

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/ipam"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file is the harness of the root's tests: a real Root behind its real
// HTTP handler, a fake clock shared by the root and its auth service, and
// fake clusters that speak the link protocol over HTTP.

const (
	adminPassword = "admin-secret-1"
	userPassword  = "user-secret-1"
	// waitFor bounds every wait for something asynchronous; tests normally
	// see it within milliseconds.
	waitFor = 5 * time.Second
)

// fakeClock is a settable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a running Root served by httptest.
type harness struct {
	t     *testing.T
	clock *fakeClock
	st    store.Store
	auth  *auth.Service
	root  *Root
	srv   *httptest.Server
	hc    *http.Client
	// ctx ends before the server closes, so long-polls return first.
	ctx      context.Context
	closeAll func()
}

type harnessOptions struct {
	// store defaults to a fresh memory store.
	store store.Store
	// clock defaults to a new fake clock.
	clock          *fakeClock
	clusterTimeout time.Duration
	// admin creates the admin user (argon2 hashing is slow under -race, so
	// only tests that need it pay for it).
	admin bool
	// kube configures Kubernetes support (off by default).
	kube KubeOptions
	// auth changes the auth service's options (the clock is the harness's).
	auth auth.Options
	// network are the instance network's settings given to the root.
	network ipam.Settings
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	if o.store == nil {
		o.store = store.NewMemory()
	}
	if o.clock == nil {
		o.clock = newFakeClock()
	}
	if o.clusterTimeout == 0 {
		o.clusterTimeout = 10 * time.Second
	}
	o.auth.Clock = o.clock.Now
	a, err := auth.NewService(o.store, o.auth)
	if err != nil {
		t.Fatalf("auth.NewService: %v", err)
	}
	if o.admin {
		if _, err := a.EnsureAdmin(adminPassword); err != nil {
			t.Fatalf("EnsureAdmin: %v", err)
		}
	}
	r, err := New(Config{Store: o.store, Auth: a, ClusterTimeout: o.clusterTimeout, Now: o.clock.Now, Kube: o.kube, Network: o.network})
	if err != nil {
		t.Fatalf("root.New: %v", err)
	}
	h := &harness{t: t, clock: o.clock, st: o.store, auth: a, root: r}
	tr := &http.Transport{}
	h.hc = &http.Client{Transport: tr}
	h.srv = httptest.NewServer(r.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	h.ctx = ctx
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	var once sync.Once
	h.closeAll = func() {
		once.Do(func() {
			cancel()
			<-done
			h.srv.Close()
			tr.CloseIdleConnections()
		})
	}
	t.Cleanup(h.closeAll)
	return h
}

// addUser creates an Application_Provider.
func (h *harness) addUser(name string) {
	h.t.Helper()
	if err := h.auth.CreateUser(name, userPassword, []string{auth.RoleAppProvider}); err != nil {
		h.t.Fatalf("CreateUser(%s): %v", name, err)
	}
}

// login logs in over HTTP and returns a client that uses the new token.
func (h *harness) login(name, password string) (*api.Client, api.TokenPair) {
	h.t.Helper()
	c := api.NewClient(h.srv.URL, api.WithHTTPClient(h.hc))
	tp, err := c.Login(h.ctx, name, password)
	if err != nil {
		h.t.Fatalf("login %s: %v", name, err)
	}
	return c, tp
}

// do sends a raw request and returns the status and body.
func (h *harness) do(method, path, token, contentType string, body []byte) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.ctx, method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read %s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// submit deploys an SLA and fails the test on error.
func (h *harness) submit(c *api.Client, doc []byte) api.SubmitResult {
	h.t.Helper()
	res, err := c.SubmitSLA(h.ctx, doc, "application/json")
	if err != nil {
		h.t.Fatalf("submit: %v", err)
	}
	return res
}

// waitService polls GET /api/service/{id} until ok holds.
func (h *harness) waitService(c *api.Client, id string, what string, ok func(api.Service) bool) api.Service {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	var s api.Service
	var err error
	for time.Now().Before(deadline) {
		s, err = c.GetService(h.ctx, id)
		if err == nil && ok(s) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("service %s never got %s; last: %+v (err %v)", id, what, s.Instances, err)
	return s
}

// allInState reports whether a service has n instances, all in state.
func allInState(n int, state api.InstanceState) func(api.Service) bool {
	return func(s api.Service) bool {
		if len(s.Instances) != n {
			return false
		}
		for _, in := range s.Instances {
			if in.Status != state {
				return false
			}
		}
		return true
	}
}

// --- SLA builders ---

// svc returns a container microservice as an SLA map, changed by edits.
func svc(name string, memoryMB int, edits ...func(map[string]any)) map[string]any {
	m := map[string]any{
		"microservice_name":      name,
		"microservice_namespace": "test",
		"virtualization":         "container",
		"code":                   "docker.io/library/nginx:latest",
		"memory":                 memoryMB,
		"vcpus":                  1,
	}
	for _, e := range edits {
		e(m)
	}
	return m
}

func instances(n int) func(map[string]any) {
	return func(m map[string]any) { m["instances"] = n }
}

func constraints(cs ...map[string]any) func(map[string]any) {
	return func(m map[string]any) { m["constraints"] = cs }
}

// slaDoc returns an SLA with one application holding services.
func slaDoc(t testing.TB, app string, services ...map[string]any) []byte {
	t.Helper()
	doc := map[string]any{
		"sla_version": "v2.0",
		"customerID":  "test",
		"applications": []any{map[string]any{
			"application_name":      app,
			"application_namespace": "test",
			"application_desc":      "test application",
			"microservices":         services,
		}},
	}
	return mustJSON(t, doc)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// --- fake clusters ---

// fakeCluster is a cluster as the root sees it: a link peer that joined with
// a cluster join token and reports and polls over HTTP.
type fakeCluster struct {
	h          *harness
	name       string
	id         string
	credential string
	link       *link.Client
}

func (h *harness) joinCluster(name string) *fakeCluster {
	h.t.Helper()
	tok, err := h.auth.CreateJoinToken(auth.JoinKindCluster, time.Hour)
	if err != nil {
		h.t.Fatalf("CreateJoinToken: %v", err)
	}
	resp, err := link.Join(h.ctx, h.hc, h.srv.URL, link.JoinRequest{Token: tok, Name: name})
	if err != nil {
		h.t.Fatalf("join %s: %v", name, err)
	}
	if resp.ID == "" || resp.Credential == "" {
		h.t.Fatalf("join %s: empty identity %+v", name, resp)
	}
	return h.clusterWith(name, resp.ID, resp.Credential)
}

// clusterWith is a fake cluster using an identity it already has.
func (h *harness) clusterWith(name, id, credential string) *fakeCluster {
	return &fakeCluster{h: h, name: name, id: id, credential: credential, link: link.NewClient(h.srv.URL, credential, h.hc)}
}

// aggregate is a one-node cluster with capacity free on that node.
func aggregate(capacity api.Resources) api.Cluster {
	return api.Cluster{
		ActiveNodes: 1, Arch: []string{"amd64"}, Runtimes: []string{"container", "process"},
		Capacity: capacity, MaxNodeFree: capacity,
	}
}

// report sends an aggregate and instance states.
func (fc *fakeCluster) report(agg api.Cluster, insts ...link.InstanceStatus) {
	fc.h.t.Helper()
	rep := &link.Report{Cluster: &link.ClusterReport{Name: fc.name, Aggregate: agg}, Instances: insts}
	if insts == nil {
		rep.Instances = []link.InstanceStatus{}
	}
	if err := fc.link.Report(fc.h.ctx, rep); err != nil {
		fc.h.t.Fatalf("report from %s: %v", fc.name, err)
	}
}

// assignments returns the cluster's current desired set without waiting.
func (fc *fakeCluster) assignments() *link.Assignments {
	fc.h.t.Helper()
	a, err := fc.link.Assignments(fc.h.ctx, 0, 0)
	if err != nil {
		fc.h.t.Fatalf("assignments of %s: %v", fc.name, err)
	}
	return a
}

// waitAssignments long-polls until the desired set satisfies ok.
func (fc *fakeCluster) waitAssignments(what string, ok func(*link.Assignments) bool) *link.Assignments {
	fc.h.t.Helper()
	deadline := time.Now().Add(waitFor)
	var have uint64
	var a *link.Assignments
	for time.Now().Before(deadline) {
		var err error
		a, err = fc.link.Assignments(fc.h.ctx, have, 200*time.Millisecond)
		if err != nil {
			fc.h.t.Fatalf("assignments of %s: %v", fc.name, err)
		}
		if ok(a) {
			return a
		}
		have = a.Revision
	}
	fc.h.t.Fatalf("cluster %s never got %s; last: %+v", fc.name, what, a)
	return nil
}

// hasInstances reports whether a desired set holds exactly ids.
func hasInstances(ids ...string) func(*link.Assignments) bool {
	return func(a *link.Assignments) bool {
		if len(a.Items) != len(ids) {
			return false
		}
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
		for _, it := range a.Items {
			if !want[it.InstanceID] {
				return false
			}
		}
		return true
	}
}

// running is the status a cluster reports for an instance it runs.
func running(id string, gen uint64, node string) link.InstanceStatus {
	started := time.Date(2031, 3, 4, 5, 0, 0, 0, time.UTC)
	return link.InstanceStatus{
		InstanceID: id, Generation: gen, State: api.StateRunning, PID: 4242,
		StartedAt: &started, NodeID: node + "-id", NodeName: node,
	}
}

// apiStatus returns the HTTP status of an error from api.Client, or 0.
func apiStatus(err error) int {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
