package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seen is what the fake server recorded of one request.
type seen struct {
	method, path, query, auth, contentType, accept string
	body                                           string
}

// recorder answers every request with status and body, and records it.
func recorder(t *testing.T, status int, body string) (*httptest.Server, *seen) {
	t.Helper()
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, auth: r.Header.Get("Authorization"),
			contentType: r.Header.Get("Content-Type"), accept: r.Header.Get("Accept"), body: string(b)}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestClientRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		status     int
		answer     string
		call       func(c *Client) (any, error)
		method     string
		path       string
		query      string
		body       string // JSON compared semantically; "" means no body
		rawBody    string // compared byte for byte when set
		ctype      string
		noAuth     bool
		want       any
		wantAccept string
	}{
		{
			name: "login", answer: `{"token":"a","refresh_token":"r","expires_in":900}`,
			call:   func(c *Client) (any, error) { return c.Login(ctx, "admin", "pw") },
			method: "POST", path: "/api/auth/login", body: `{"username":"admin","password":"pw"}`, noAuth: true,
			want: TokenPair{Token: "a", RefreshToken: "r", ExpiresIn: 900},
		},
		{
			name: "refresh", answer: `{"token":"a2","refresh_token":"r2","expires_in":900}`,
			call:   func(c *Client) (any, error) { return c.Refresh(ctx, "r1") },
			method: "POST", path: "/api/auth/refresh", body: `{"refresh_token":"r1"}`, noAuth: true,
			want: TokenPair{Token: "a2", RefreshToken: "r2", ExpiresIn: 900},
		},
		{
			name: "health", answer: `{"status":"ok","version":"v1"}`,
			call:   func(c *Client) (any, error) { return c.Health(ctx) },
			method: "GET", path: "/api/health", noAuth: true, want: Health{Status: "ok", Version: "v1"},
		},
		{
			name: "create user", answer: `{"username":"bob","roles":["Application_Provider"]}`,
			call:   func(c *Client) (any, error) { return c.CreateUser(ctx, "bob", "s3cret", "Application_Provider") },
			method: "POST", path: "/api/user/",
			body: `{"username":"bob","password":"s3cret","roles":["Application_Provider"]}`,
			want: User{Username: "bob", Roles: []string{"Application_Provider"}},
		},
		{
			name: "list users", answer: `[{"username":"admin","roles":["Admin"]}]`,
			call:   func(c *Client) (any, error) { return c.ListUsers(ctx) },
			method: "GET", path: "/api/users/", want: []User{{Username: "admin", Roles: []string{"Admin"}}},
		},
		{
			name: "delete user escapes the name", status: http.StatusNoContent,
			call:   func(c *Client) (any, error) { return nil, c.DeleteUser(ctx, "a b/c") },
			method: "DELETE", path: "/api/user/a%20b%2Fc",
		},
		{
			name: "create token with ttl", answer: `{"token":"jt","kind":"worker","expires_at":"2030-01-01T00:00:00Z"}`,
			call:   func(c *Client) (any, error) { return c.CreateToken(ctx, TokenKindWorker, 90*time.Minute) },
			method: "POST", path: "/api/tokens/", body: `{"kind":"worker","ttl_seconds":5400}`,
			want: JoinToken{Token: "jt", Kind: "worker", ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		},
		{
			name: "create token without ttl", answer: `{"token":"jt","kind":"cluster"}`,
			call:   func(c *Client) (any, error) { return c.CreateToken(ctx, TokenKindCluster, 0) },
			method: "POST", path: "/api/tokens/", body: `{"kind":"cluster"}`,
			want: JoinToken{Token: "jt", Kind: "cluster"},
		},
		{
			name:   "submit yaml SLA as is",
			answer: `{"applications":[{"applicationID":"a1","application_name":"demo"}],"services":[{"microserviceID":"s1"}]}`,
			call: func(c *Client) (any, error) {
				return c.SubmitSLA(ctx, []byte("sla_version: v2.0\n"), "application/yaml")
			},
			method: "POST", path: "/api/application/", query: "deploy=true", rawBody: "sla_version: v2.0\n", ctype: "application/yaml",
			want: SubmitResult{Applications: []Application{{ID: "a1", Name: "demo"}}, Services: []Service{{ID: "s1"}}},
		},
		{
			name: "list applications", answer: `[{"applicationID":"a1"}]`,
			call:   func(c *Client) (any, error) { return c.ListApplications(ctx) },
			method: "GET", path: "/api/applications/", want: []Application{{ID: "a1"}},
		},
		{
			name: "get application", answer: `{"applicationID":"a1"}`,
			call:   func(c *Client) (any, error) { return c.GetApplication(ctx, "a1") },
			method: "GET", path: "/api/application/a1", want: Application{ID: "a1"},
		},
		{
			name: "delete application", status: http.StatusNoContent,
			call:   func(c *Client) (any, error) { return nil, c.DeleteApplication(ctx, "a1") },
			method: "DELETE", path: "/api/application/a1",
		},
		{
			name: "add services", answer: `[{"microserviceID":"s2"}]`,
			call: func(c *Client) (any, error) {
				return c.AddServices(ctx, "a1", []ServiceSpec{{Name: "web", Namespace: "t", Virtualization: "container", Code: "nginx"}})
			},
			method: "POST", path: "/api/service/", query: "deploy=true",
			body: `{"applicationID":"a1","microservices":[{"microservice_name":"web","microservice_namespace":"t",` +
				`"virtualization":"container","code":"nginx","memory":0,"vcpus":0}]}`,
			want: []Service{{ID: "s2"}},
		},
		{
			name: "list services", answer: `[{"microserviceID":"s1","instance_list":[{"instance_number":0,"status":"RUNNING"}]}]`,
			call:   func(c *Client) (any, error) { return c.ListServices(ctx) },
			method: "GET", path: "/api/services/",
			want: []Service{{ID: "s1", Instances: []Instance{{Number: 0, Status: StateRunning}}}},
		},
		{
			name: "list app services", answer: `[]`,
			call:   func(c *Client) (any, error) { return c.ListAppServices(ctx, "a1") },
			method: "GET", path: "/api/services/a1", want: []Service{},
		},
		{
			name: "get service", answer: `{"microserviceID":"s1"}`,
			call:   func(c *Client) (any, error) { return c.GetService(ctx, "s1") },
			method: "GET", path: "/api/service/s1", query: "logs=false", want: Service{ID: "s1"},
		},
		{
			name: "delete service", status: http.StatusNoContent,
			call:   func(c *Client) (any, error) { return nil, c.DeleteService(ctx, "s1") },
			method: "DELETE", path: "/api/service/s1",
		},
		{
			name: "add instance", answer: `{"instance_number":3,"status":"REQUESTED"}`,
			call:   func(c *Client) (any, error) { return c.AddInstance(ctx, "s1") },
			method: "POST", path: "/api/service/s1/instance", want: Instance{Number: 3, Status: StateRequested},
		},
		{
			name: "delete instance", status: http.StatusNoContent,
			call:   func(c *Client) (any, error) { return nil, c.DeleteInstance(ctx, "s1", 2) },
			method: "DELETE", path: "/api/service/s1/instance/2",
		},
		{
			name: "scale", answer: `{"microserviceID":"s1"}`,
			call:   func(c *Client) (any, error) { return c.Scale(ctx, "s1", 4) },
			method: "PUT", path: "/api/service/s1/scale", body: `{"instances":4}`, want: Service{ID: "s1"},
		},
		{
			name: "logs with tail", answer: "line 1\nline 2\n",
			call:   func(c *Client) (any, error) { b, err := c.Logs(ctx, "s1", 1, 100); return string(b), err },
			method: "GET", path: "/api/service/s1/instance/1/logs", query: "tail=100", want: "line 1\nline 2\n",
			wantAccept: "text/plain",
		},
		{
			name: "logs without tail", answer: "x",
			call:   func(c *Client) (any, error) { b, err := c.Logs(ctx, "s1", 0, 0); return string(b), err },
			method: "GET", path: "/api/service/s1/instance/0/logs", want: "x", wantAccept: "text/plain",
		},
		{
			name: "list clusters", answer: `[{"id":"c1","cluster_name":"edge"}]`,
			call:   func(c *Client) (any, error) { return c.ListClusters(ctx) },
			method: "GET", path: "/api/clusters/", want: []Cluster{{ID: "c1", Name: "edge"}},
		},
		{
			name: "list active clusters", answer: `[{"id":"c1","state":"READY"}]`,
			call:   func(c *Client) (any, error) { return c.ListActiveClusters(ctx) },
			method: "GET", path: "/api/clusters/active", want: []Cluster{{ID: "c1", State: NodeReady}},
		},
		{
			name: "list nodes", answer: `[{"id":"n1","name":"pi"}]`,
			call:   func(c *Client) (any, error) { return c.ListNodes(ctx) },
			method: "GET", path: "/api/nodes/", want: []Node{{ID: "n1", Name: "pi"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			srv, got := recorder(t, status, tt.answer)
			c := NewClient(srv.URL+"/", WithToken("tok"))
			res, err := tt.call(c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if got.method != tt.method || got.path != tt.path || got.query != tt.query {
				t.Errorf("request = %s %s?%s, want %s %s?%s", got.method, got.path, got.query, tt.method, tt.path, tt.query)
			}
			wantAuth := "Bearer tok"
			if tt.noAuth {
				wantAuth = ""
			}
			if got.auth != wantAuth {
				t.Errorf("Authorization = %q, want %q", got.auth, wantAuth)
			}
			wantAccept := tt.wantAccept
			if wantAccept == "" {
				wantAccept = "application/json"
			}
			if got.accept != wantAccept {
				t.Errorf("Accept = %q, want %q", got.accept, wantAccept)
			}
			switch {
			case tt.rawBody != "":
				if got.body != tt.rawBody || got.contentType != tt.ctype {
					t.Errorf("body = %q (%s), want %q (%s)", got.body, got.contentType, tt.rawBody, tt.ctype)
				}
			case tt.body != "":
				if got.contentType != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", got.contentType)
				}
				assertSameJSON(t, got.body, tt.body)
			default:
				if got.body != "" {
					t.Errorf("body = %q, want none", got.body)
				}
			}
			if tt.want != nil {
				assertSameJSON(t, mustJSON(t, res), mustJSON(t, tt.want))
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertSameJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got is not JSON: %q", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %q", want)
	}
	if mustJSON(t, g) != mustJSON(t, w) {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantText string
		is       error
		isNot    []error
	}{
		{
			name:   "validation problems are listed",
			status: 400,
			body: `{"title":"Bad Request","status":400,"detail":"validation failed","errors":[` +
				`{"location":"applications[0].microservices[0].memory","message":"must be >= 0"},` +
				`{"location":"applications[0].application_name","message":"must match ^[a-zA-Z0-9]{1,30}$"}]}`,
			wantText: "400 Bad Request: validation failed; applications[0].microservices[0].memory: must be >= 0; " +
				"applications[0].application_name: must match ^[a-zA-Z0-9]{1,30}$",
			is: ErrInvalid, isNot: []error{ErrNotFound, ErrUnauthorized},
		},
		{
			name: "not found", status: 404, body: `{"title":"Not Found","status":404,"detail":"service s9 not found"}`,
			wantText: "404 Not Found: service s9 not found", is: ErrNotFound, isNot: []error{ErrInvalid},
		},
		{
			name: "unauthorized", status: 401, body: `{"title":"Unauthorized","status":401}`,
			wantText: "401 Unauthorized", is: ErrUnauthorized, isNot: []error{ErrForbidden},
		},
		{
			name: "forbidden", status: 403, body: `{"title":"Forbidden","status":403,"detail":"admin only"}`,
			wantText: "403 Forbidden: admin only", is: ErrForbidden, isNot: []error{ErrUnauthorized},
		},
		{
			name: "unprocessable is invalid", status: 422, body: `{"title":"Unprocessable Entity","status":422,"detail":"bad"}`,
			wantText: "422 Unprocessable Entity: bad", is: ErrInvalid,
		},
		{
			name: "conflict", status: 409, body: `{"title":"Conflict","detail":"user exists"}`,
			wantText: "409 Conflict: user exists", is: ErrConflict,
		},
		{
			name: "plain text body becomes the detail", status: 502, body: "upstream down\n",
			wantText: "502 Bad Gateway: upstream down", isNot: []error{ErrNotFound, ErrInvalid},
		},
		{
			name: "status line wins over the body", status: 404, body: `{"title":"Not Found","status":500}`,
			wantText: "404 Not Found", is: ErrNotFound,
		},
		{
			name: "empty body", status: 429, body: "",
			wantText: "429 Too Many Requests",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := recorder(t, tt.status, tt.body)
			_, err := NewClient(srv.URL).ListApplications(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.wantText {
				t.Errorf("Error() = %q\nwant      %q", err.Error(), tt.wantText)
			}
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status {
				t.Errorf("err = %#v, want *Error with status %d", err, tt.status)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false", tt.is)
			}
			for _, not := range tt.isNot {
				if errors.Is(err, not) {
					t.Errorf("errors.Is(err, %v) = true", not)
				}
			}
		})
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := NewClient(url).ListNodes(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.HasPrefix(err.Error(), "GET "+url+"/api/nodes/: ") {
		t.Errorf("err = %q, want it to name the method and URL once", err)
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		t.Errorf("a transport error must not look like an API answer: %v", err)
	}
}

// authServer accepts only the access token it issued last, and rotates the
// refresh token on every refresh, like the real root.
type authServer struct {
	mu        sync.Mutex
	access    string
	refresh   string
	refreshes atomic.Int32
	gen       int
	failRefr  bool
}

func (a *authServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch r.URL.Path {
	case "/api/auth/refresh":
		a.refreshes.Add(1)
		var req RefreshRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if a.failRefr || req.RefreshToken != a.refresh {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"title":"Unauthorized","detail":"invalid refresh token"}`)
			return
		}
		a.gen++
		a.access = "access" + string(rune('0'+a.gen))
		a.refresh = "refresh" + string(rune('0'+a.gen))
		_ = json.NewEncoder(w).Encode(TokenPair{Token: a.access, RefreshToken: a.refresh, ExpiresIn: 60})
	default:
		if r.Header.Get("Authorization") != "Bearer "+a.access {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"title":"Unauthorized","detail":"token expired"}`)
			return
		}
		_, _ = io.WriteString(w, `[]`)
	}
}

func TestClientRefreshesOnce(t *testing.T) {
	as := &authServer{access: "access1", refresh: "refresh0"}
	srv := httptest.NewServer(as)
	defer srv.Close()

	var saved []TokenPair
	c := NewClient(srv.URL, WithToken("expired"), WithRefreshToken("refresh0", func(tp TokenPair) { saved = append(saved, tp) }))
	if _, err := c.ListClusters(context.Background()); err != nil {
		t.Fatalf("first call: %v", err)
	}
	if len(saved) != 1 || saved[0].Token != "access1" || saved[0].RefreshToken != "refresh1" {
		t.Fatalf("saved = %+v, want the new pair once", saved)
	}
	// The client now holds the new pair: no further refresh.
	if _, err := c.ListClusters(context.Background()); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if n := as.refreshes.Load(); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
}

func TestClientRefreshFailureReturnsThe401(t *testing.T) {
	as := &authServer{access: "access1", refresh: "refresh0", failRefr: true}
	srv := httptest.NewServer(as)
	defer srv.Close()

	called := false
	c := NewClient(srv.URL, WithToken("expired"), WithRefreshToken("refresh0", func(TokenPair) { called = true }))
	_, err := c.ListClusters(context.Background())
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "token expired") {
		t.Errorf("err = %v, want the original 401", err)
	}
	if called {
		t.Error("saved called although the refresh failed")
	}
	if n := as.refreshes.Load(); n != 1 {
		t.Errorf("refreshes = %d, want exactly 1 attempt", n)
	}
}

func TestClientNoRefreshWithoutRefreshToken(t *testing.T) {
	as := &authServer{access: "access1", refresh: "refresh0"}
	srv := httptest.NewServer(as)
	defer srv.Close()
	_, err := NewClient(srv.URL, WithToken("expired")).ListNodes(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("err = %v, want 401", err)
	}
	if n := as.refreshes.Load(); n != 0 {
		t.Errorf("refreshes = %d, want 0", n)
	}
}

func TestClientConcurrentRefreshSpendsTheRefreshTokenOnce(t *testing.T) {
	as := &authServer{access: "access1", refresh: "refresh0"}
	srv := httptest.NewServer(as)
	defer srv.Close()

	c := NewClient(srv.URL, WithToken("expired"), WithRefreshToken("refresh0", nil))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := c.ListServices(context.Background())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call: %v", err)
		}
	}
	if n := as.refreshes.Load(); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
}

func TestClientLoginUsesTheNewToken(t *testing.T) {
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/auth/login" {
			_, _ = io.WriteString(w, `{"token":"fresh","refresh_token":"r","expires_in":60}`)
			return
		}
		auth.Store(r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, `[]`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL)
	if _, err := c.Login(context.Background(), "admin", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListUsers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := auth.Load(); got != "Bearer fresh" {
		t.Errorf("Authorization after login = %v, want Bearer fresh", got)
	}
}

func TestClientLoginFailureDoesNotRefresh(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"title":"Unauthorized","detail":"wrong username or password"}`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL, WithRefreshToken("r", nil))
	_, err := c.Login(context.Background(), "admin", "bad")
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("err = %v, want 401", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("requests = %d, want 1 (no refresh for login)", n)
	}
}
