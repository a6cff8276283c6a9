package root

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
)

// apiState is everything a bad request must leave untouched.
type apiState struct {
	Apps          []api.Application
	Services      []api.Service
	Users         []api.User
	ClusterTokens []string
	WorkerTokens  []string
}

func (h *harness) state(admin *api.Client) apiState {
	h.t.Helper()
	var s apiState
	var err error
	if s.Apps, err = admin.ListApplications(h.ctx); err != nil {
		h.t.Fatalf("list applications: %v", err)
	}
	if s.Services, err = admin.ListServices(h.ctx); err != nil {
		h.t.Fatalf("list services: %v", err)
	}
	if s.Users, err = admin.ListUsers(h.ctx); err != nil {
		h.t.Fatalf("list users: %v", err)
	}
	s.ClusterTokens = h.auth.JoinTokenHashes(auth.JoinKindCluster)
	s.WorkerTokens = h.auth.JoinTokenHashes(auth.JoinKindWorker)
	return s
}

// decodeProblem parses an error answer; it fails the test if the answer is
// not a problem document.
func decodeProblem(t *testing.T, body []byte) api.Error {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error answer is not a problem document: %v\n%s", err, body)
	}
	return e
}

func locations(e api.Error) []string {
	var out []string
	for _, p := range e.Problems {
		out = append(out, p.Location)
	}
	return out
}

func TestAPIBadRequestsAreRejectedWithoutSideEffects(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	h.addUser("alice")
	h.addUser("bob")
	admin, adminTP := h.login(auth.AdminUser, adminPassword)
	alice, aliceTP := h.login("alice", userPassword)
	bob, _ := h.login("bob", userPassword)
	cl := h.joinCluster("edge")
	aliceApp := h.submit(alice, slaDoc(t, "shop", svc("web", 100)))
	bobApp := h.submit(bob, slaDoc(t, "blog", svc("db", 100)))
	sid := aliceApp.Services[0].ID
	// With its only cluster not ready, every instance ends UNSCHEDULABLE for
	// that reason and then stays put, so the state compared below does not
	// move by itself.
	settled := func(s api.Service) bool {
		return allInState(1, api.StateUnschedulable)(s) && s.Instances[0].Reason == "0/1 clusters available: 1 not ready"
	}
	h.waitService(alice, sid, "UNSCHEDULABLE", settled)
	h.waitService(bob, bobApp.Services[0].ID, "UNSCHEDULABLE", settled)

	// An access token issued an hour ago by the same root (same secret) has
	// expired by now.
	past, err := auth.NewService(h.st, auth.Options{Clock: func() time.Time { return h.clock.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatalf("auth.NewService: %v", err)
	}
	expired, err := past.Login("alice", userPassword)
	if err != nil {
		t.Fatalf("login in the past: %v", err)
	}

	tokens := map[string]string{
		"admin":   adminTP.Token,
		"alice":   aliceTP.Token,
		"none":    "",
		"garbage": "not-a-jwt",
		"expired": expired.Token,
		"refresh": aliceTP.RefreshToken,
		"cluster": cl.credential,
	}
	big := `{"sla_version":"v2.0","customerID":"` + strings.Repeat("x", 1<<20) + `"}`
	svcPath := "/api/service/" + sid
	jsonCT := "application/json"

	tests := []struct {
		name        string
		method      string
		path        string
		as          string
		body        string
		wantStatus  int
		wantText    []string // each must appear in the detail or a problem
		wantProblem string   // a problem must have this location
	}{
		{name: "sla malformed json", method: "POST", path: "/api/application/", as: "alice",
			body: `{"sla_version": "v2.0",`, wantStatus: 400, wantText: []string{"invalid JSON"}},
		{name: "sla wrong type", method: "POST", path: "/api/application/", as: "alice",
			body:       string(slaDoc(t, "shop2", svc("web", 1, func(m map[string]any) { m["memory"] = "lots" }))),
			wantStatus: 400, wantText: []string{"must be a number"}, wantProblem: "applications[0].microservices[0].memory"},
		{name: "sla unknown field", method: "POST", path: "/api/application/", as: "alice",
			body:       string(slaDoc(t, "shop2", svc("web", 1, func(m map[string]any) { m["memroy"] = 5 }))),
			wantStatus: 400, wantText: []string{`did you mean "memory"`}, wantProblem: "applications[0].microservices[0].memroy"},
		{name: "sla unknown constraint field", method: "POST", path: "/api/application/", as: "alice",
			body:       string(slaDoc(t, "shop2", svc("web", 1, constraints(map[string]any{"type": "direct", "cluster": "edge", "zone": "eu"})))),
			wantStatus: 400, wantText: []string{"unknown field"}, wantProblem: "applications[0].microservices[0].constraints[0].zone"},
		{name: "sla not an object", method: "POST", path: "/api/application/", as: "alice",
			body: `[1, 2]`, wantStatus: 400, wantText: []string{"must be an object"}},
		{name: "sla oversized body", method: "POST", path: "/api/application/", as: "alice",
			body: big, wantStatus: 413, wantText: []string{"too large"}},
		{name: "add services without applicationID", method: "POST", path: "/api/service/", as: "alice",
			body:       `{"microservices":[` + string(mustJSON(t, svc("cache", 10))) + `]}`,
			wantStatus: 400, wantText: []string{"required"}, wantProblem: "applicationID"},
		{name: "add services to unknown application", method: "POST", path: "/api/service/", as: "alice",
			body:       `{"applicationID":"nope","microservices":[` + string(mustJSON(t, svc("cache", 10))) + `]}`,
			wantStatus: 404, wantText: []string{"application nope"}},

		{name: "missing bearer token", method: "GET", path: "/api/applications/", as: "none",
			wantStatus: 401, wantText: []string{"missing bearer token"}},
		{name: "missing bearer token on submit", method: "POST", path: "/api/application/", as: "none",
			body: string(slaDoc(t, "shop2", svc("web", 1))), wantStatus: 401, wantText: []string{"missing bearer token"}},
		{name: "invalid bearer token", method: "DELETE", path: svcPath, as: "garbage",
			wantStatus: 401, wantText: []string{"invalid or expired token"}},
		{name: "expired bearer token", method: "DELETE", path: svcPath, as: "expired",
			wantStatus: 401, wantText: []string{"invalid or expired token"}},
		{name: "refresh token as access token", method: "DELETE", path: svcPath, as: "refresh",
			wantStatus: 401, wantText: []string{"invalid or expired token"}},
		{name: "cluster credential as access token", method: "GET", path: "/api/clusters/", as: "cluster",
			wantStatus: 401, wantText: []string{"invalid or expired token"}},
		{name: "access token as refresh token", method: "POST", path: "/api/auth/refresh", as: "none",
			body: `{"refresh_token":"` + aliceTP.Token + `"}`, wantStatus: 401, wantText: []string{"invalid or expired refresh token"}},
		{name: "login without password", method: "POST", path: "/api/auth/login", as: "none",
			body: `{"username":"alice"}`, wantStatus: 422, wantText: []string{"password"}, wantProblem: "body"},

		{name: "provider creates a user", method: "POST", path: "/api/user/", as: "alice",
			body: `{"username":"mallory","password":"password-123"}`, wantStatus: 403, wantText: []string{"Admin role"}},
		{name: "provider lists users", method: "GET", path: "/api/users/", as: "alice",
			wantStatus: 403, wantText: []string{"Admin role"}},
		{name: "provider deletes a user", method: "DELETE", path: "/api/user/bob", as: "alice",
			wantStatus: 403, wantText: []string{"Admin role"}},
		{name: "provider creates a cluster join token", method: "POST", path: "/api/tokens/", as: "alice",
			body: `{"kind":"cluster"}`, wantStatus: 403, wantText: []string{"Admin role"}},
		{name: "provider creates a worker join token", method: "POST", path: "/api/tokens/", as: "alice",
			body: `{"kind":"worker"}`, wantStatus: 403, wantText: []string{"Admin role"}},
		{name: "join token of unknown kind", method: "POST", path: "/api/tokens/", as: "admin",
			body: `{"kind":"nodes"}`, wantStatus: 422, wantText: []string{"cluster, worker"}, wantProblem: "body.kind"},
		{name: "join token with a negative ttl", method: "POST", path: "/api/tokens/", as: "admin",
			body: `{"kind":"worker","ttl_seconds":-1}`, wantStatus: 400, wantText: []string{"ttl_seconds"}},
		{name: "join token for longer than 30 days", method: "POST", path: "/api/tokens/", as: "admin",
			body: `{"kind":"worker","ttl_seconds":2592001}`, wantStatus: 400, wantText: []string{"ttl_seconds", "2592000"}},
		{name: "join token with negative uses", method: "POST", path: "/api/tokens/", as: "admin",
			body: `{"kind":"worker","max_uses":-1}`, wantStatus: 400, wantText: []string{"max_uses"}},
		{name: "join token with too many uses", method: "POST", path: "/api/tokens/", as: "admin",
			body: `{"kind":"cluster","max_uses":10001}`, wantStatus: 400, wantText: []string{"max_uses", "10000"}},
		{name: "join token uses as a string", method: "POST", path: "/api/tokens/", as: "admin",
			body: `{"kind":"worker","max_uses":"one"}`, wantStatus: 422, wantProblem: "body.max_uses"},
		{name: "cluster join token scoped to a cluster", method: "POST", path: "/api/tokens/", as: "admin",
			body: `{"kind":"cluster","cluster":"edge"}`, wantStatus: 400, wantText: []string{"cluster: only worker tokens"}},
		{name: "worker join token scoped to a name with spaces", method: "POST", path: "/api/tokens/", as: "admin",
			body: `{"kind":"worker","cluster":"edge one"}`, wantStatus: 400, wantText: []string{"cluster"}},
		{name: "provider lists join tokens", method: "GET", path: "/api/tokens/", as: "alice",
			wantStatus: 403, wantText: []string{"Admin role"}},
		{name: "provider revokes a join token", method: "DELETE", path: "/api/tokens/0123456789abcdef", as: "alice",
			wantStatus: 403, wantText: []string{"Admin role"}},
		{name: "revoke a join token by a malformed id", method: "DELETE", path: "/api/tokens/xyz", as: "admin",
			wantStatus: 400, wantText: []string{"id", "16"}},
		{name: "revoke an unknown join token", method: "DELETE", path: "/api/tokens/0123456789abcdef", as: "admin",
			wantStatus: 404, wantText: []string{"0123456789abcdef"}},
		{name: "provider deletes a node", method: "DELETE", path: "/api/nodes/w1", as: "alice",
			wantStatus: 403, wantText: []string{"Admin role"}},
		{name: "delete an unknown node", method: "DELETE", path: "/api/nodes/nope", as: "admin",
			wantStatus: 404, wantText: []string{"node nope"}},
		{name: "provider deletes a cluster", method: "DELETE", path: "/api/clusters/edge", as: "alice",
			wantStatus: 403, wantText: []string{"Admin role"}},
		{name: "delete an unknown cluster", method: "DELETE", path: "/api/clusters/nope", as: "admin",
			wantStatus: 404, wantText: []string{"cluster nope"}},
		{name: "user with short password", method: "POST", path: "/api/user/", as: "admin",
			body: `{"username":"mallory","password":"short"}`, wantStatus: 422, wantProblem: "body.password"},
		{name: "user that exists", method: "POST", path: "/api/user/", as: "admin",
			body: `{"username":"bob","password":"password-123"}`, wantStatus: 409, wantText: []string{"conflict"}},
		{name: "delete the admin user", method: "DELETE", path: "/api/user/admin", as: "admin",
			wantStatus: 400, wantText: []string{"admin user cannot be deleted"}},

		{name: "non-numeric instance number", method: "DELETE", path: svcPath + "/instance/abc", as: "alice",
			wantStatus: 422, wantText: []string{"invalid integer"}, wantProblem: "path.n"},
		{name: "non-numeric instance number in logs", method: "GET", path: svcPath + "/instance/first/logs", as: "alice",
			wantStatus: 422, wantText: []string{"invalid integer"}, wantProblem: "path.n"},
		{name: "negative instance number", method: "DELETE", path: svcPath + "/instance/-1", as: "alice",
			wantStatus: 422, wantText: []string{">= 0"}, wantProblem: "path.n"},
		{name: "negative log tail", method: "GET", path: svcPath + "/instance/0/logs?tail=-5", as: "alice",
			wantStatus: 422, wantProblem: "query.tail"},
		{name: "scale to -1", method: "PUT", path: svcPath + "/scale", as: "alice",
			body: `{"instances":-1}`, wantStatus: 422, wantText: []string{">= 0"}, wantProblem: "body.instances"},
		{name: "scale to 1001", method: "PUT", path: svcPath + "/scale", as: "alice",
			body: `{"instances":1001}`, wantStatus: 422, wantText: []string{"<= 1000"}, wantProblem: "body.instances"},
		{name: "scale with a string", method: "PUT", path: svcPath + "/scale", as: "alice",
			body: `{"instances":"3"}`, wantStatus: 422, wantText: []string{"expected integer"}, wantProblem: "body.instances"},
		{name: "scale with an unknown field", method: "PUT", path: svcPath + "/scale", as: "alice",
			body: `{"instances":1,"replicas":2}`, wantStatus: 422, wantText: []string{"unexpected property"}, wantProblem: "body.replicas"},
		{name: "scale with malformed json", method: "PUT", path: svcPath + "/scale", as: "alice",
			body: `{"instances":`, wantStatus: 400, wantProblem: "body"},

		{name: "get unknown service", method: "GET", path: "/api/service/nope", as: "alice",
			wantStatus: 404, wantText: []string{"service nope"}},
		{name: "scale unknown service", method: "PUT", path: "/api/service/nope/scale", as: "alice",
			body: `{"instances":2}`, wantStatus: 404, wantText: []string{"service nope"}},
		{name: "delete unknown service", method: "DELETE", path: "/api/service/nope", as: "alice",
			wantStatus: 404, wantText: []string{"service nope"}},
		{name: "add instance to unknown service", method: "POST", path: "/api/service/nope/instance", as: "alice",
			wantStatus: 404, wantText: []string{"service nope"}},
		{name: "delete unknown instance", method: "DELETE", path: svcPath + "/instance/7", as: "alice",
			wantStatus: 404, wantText: []string{"instance 7"}},
		{name: "logs of unknown service", method: "GET", path: "/api/service/nope/instance/0/logs", as: "alice",
			wantStatus: 404, wantText: []string{"service nope"}},
		{name: "get unknown application", method: "GET", path: "/api/application/nope", as: "alice",
			wantStatus: 404, wantText: []string{"application nope"}},
		{name: "delete unknown application", method: "DELETE", path: "/api/application/nope", as: "alice",
			wantStatus: 404, wantText: []string{"application nope"}},
	}
	before := h.state(admin)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			ct := ""
			if tt.body != "" {
				body, ct = []byte(tt.body), jsonCT
			}
			status, got := h.do(tt.method, tt.path, tokens[tt.as], ct, body)
			if status != tt.wantStatus {
				t.Fatalf("%s %s: status %d, want %d\n%s", tt.method, tt.path, status, tt.wantStatus, got)
			}
			e := decodeProblem(t, got)
			if e.Status != tt.wantStatus {
				t.Errorf("problem status %d, want %d", e.Status, tt.wantStatus)
			}
			text := e.Detail
			for _, p := range e.Problems {
				text += "\n" + p.Location + ": " + p.Message
			}
			for _, w := range tt.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("error does not say %q:\n%s", w, text)
				}
			}
			if tt.wantProblem != "" && !slices.Contains(locations(e), tt.wantProblem) {
				t.Errorf("problem locations %q, want one at %q", locations(e), tt.wantProblem)
			}
			after := h.state(admin)
			for _, part := range []struct {
				name          string
				before, after any
			}{
				{"applications", before.Apps, after.Apps},
				{"services", before.Services, after.Services},
				{"users", before.Users, after.Users},
				{"cluster join tokens", before.ClusterTokens, after.ClusterTokens},
				{"worker join tokens", before.WorkerTokens, after.WorkerTokens},
			} {
				if !reflect.DeepEqual(part.after, part.before) {
					t.Errorf("the rejected request changed the %s:\nbefore %+v\nafter  %+v", part.name, part.before, part.after)
				}
			}
		})
	}
}

func TestAPISubmitListsEveryProblemByFieldPath(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("alice")
	doc := map[string]any{
		"sla_version": "v2.0",
		"customerID":  "test",
		"applications": []any{map[string]any{
			"application_name":      "bad name!",
			"application_namespace": "test",
			"microservices": []any{
				svc("web", -5, func(m map[string]any) {
					m["cpus"] = 2
					m["virtualization"] = "vm"
				}),
				svc("db", 10, func(m map[string]any) { m["port"] = "99999" }),
			},
		}},
	}
	alice, tp := h.login("alice", userPassword)
	status, body := h.do(http.MethodPost, "/api/application/", tp.Token, "application/json", mustJSON(t, doc))
	if status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400\n%s", status, body)
	}
	e := decodeProblem(t, body)
	want := []string{
		"applications[0].application_name",
		"applications[0].microservices[0].cpus",
		"applications[0].microservices[0].memory",
		"applications[0].microservices[0].virtualization",
		"applications[0].microservices[1].port",
	}
	got := locations(e)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("no problem at %s; problems: %+v", w, e.Problems)
		}
	}
	for _, p := range e.Problems {
		if p.Message == "" {
			t.Errorf("problem at %s has no message", p.Location)
		}
	}
	if !strings.Contains(e.Detail, "problem") {
		t.Errorf("detail %q does not count the problems", e.Detail)
	}
	if apps, err := alice.ListApplications(h.ctx); err != nil || len(apps) != 0 {
		t.Errorf("an invalid SLA left applications %+v (err %v)", apps, err)
	}
}

func TestAPIOwnership(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	h.addUser("alice")
	h.addUser("bob")
	admin, _ := h.login(auth.AdminUser, adminPassword)
	alice, _ := h.login("alice", userPassword)
	bob, _ := h.login("bob", userPassword)
	a := h.submit(alice, slaDoc(t, "shop", svc("web", 100)))
	b := h.submit(bob, slaDoc(t, "blog", svc("db", 100, instances(2))))
	aApp, aSvc := a.Applications[0].ID, a.Services[0].ID
	bApp, bSvc := b.Applications[0].ID, b.Services[0].ID
	h.waitService(bob, bSvc, "UNSCHEDULABLE", allInState(2, api.StateUnschedulable))
	bobBefore, err := bob.GetService(h.ctx, bSvc)
	if err != nil {
		t.Fatal(err)
	}

	apps, err := alice.ListApplications(h.ctx)
	if err != nil || len(apps) != 1 || apps[0].ID != aApp {
		t.Errorf("alice lists applications %+v (err %v), want only %s", apps, err, aApp)
	}
	svcs, err := alice.ListServices(h.ctx)
	if err != nil || len(svcs) != 1 || svcs[0].ID != aSvc {
		t.Errorf("alice lists services %+v (err %v), want only %s", svcs, err, aSvc)
	}

	denied := []struct {
		name string
		call func() error
	}{
		{"get application", func() error { _, err := alice.GetApplication(h.ctx, bApp); return err }},
		{"list its services", func() error { _, err := alice.ListAppServices(h.ctx, bApp); return err }},
		{"add services", func() error {
			_, err := alice.AddServices(h.ctx, bApp, []api.ServiceSpec{{Name: "evil", Namespace: "test", Virtualization: "container", Code: "docker.io/library/nginx:latest", MemoryMB: 1, VCPUs: 1}})
			return err
		}},
		{"get service", func() error { _, err := alice.GetService(h.ctx, bSvc); return err }},
		{"scale", func() error { _, err := alice.Scale(h.ctx, bSvc, 5); return err }},
		{"scale to zero", func() error { _, err := alice.Scale(h.ctx, bSvc, 0); return err }},
		{"add instance", func() error { _, err := alice.AddInstance(h.ctx, bSvc); return err }},
		{"delete instance", func() error { return alice.DeleteInstance(h.ctx, bSvc, 0) }},
		{"read logs", func() error { _, err := alice.Logs(h.ctx, bSvc, 0, 100); return err }},
		{"delete service", func() error { return alice.DeleteService(h.ctx, bSvc) }},
		{"delete application", func() error { return alice.DeleteApplication(h.ctx, bApp) }},
	}
	for _, d := range denied {
		t.Run(d.name, func(t *testing.T) {
			err := d.call()
			if got := apiStatus(err); got != http.StatusNotFound {
				t.Fatalf("alice could %s of bob's application: status %d, err %v; want 404", d.name, got, err)
			}
		})
	}

	bobAfter, err := bob.GetService(h.ctx, bSvc)
	if err != nil {
		t.Fatalf("bob's service after alice's attempts: %v", err)
	}
	if !reflect.DeepEqual(bobAfter, bobBefore) {
		t.Errorf("alice changed bob's service:\nbefore %+v\nafter  %+v", bobBefore, bobAfter)
	}
	if apps, err := bob.ListApplications(h.ctx); err != nil || len(apps) != 1 || apps[0].ID != bApp {
		t.Errorf("bob lists %+v (err %v), want only %s", apps, err, bApp)
	}

	all, err := admin.ListApplications(h.ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("admin lists %d applications (err %v), want 2", len(all), err)
	}
	allSvcs, err := admin.ListServices(h.ctx)
	if err != nil || len(allSvcs) != 2 {
		t.Fatalf("admin lists %d services (err %v), want 2", len(allSvcs), err)
	}
	for _, id := range []string{aSvc, bSvc} {
		if _, err := admin.GetService(h.ctx, id); err != nil {
			t.Errorf("admin cannot get service %s: %v", id, err)
		}
	}
	if _, err := admin.Scale(h.ctx, bSvc, 1); err != nil {
		t.Errorf("admin cannot scale bob's service: %v", err)
	}
	if err := admin.DeleteApplication(h.ctx, aApp); err != nil {
		t.Errorf("admin cannot delete alice's application: %v", err)
	}
	if apps, _ := alice.ListApplications(h.ctx); len(apps) != 0 {
		t.Errorf("alice still lists %+v after the admin deleted it", apps)
	}
}

func TestAPILoginAndRefresh(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("alice")
	alice, tp := h.login("alice", userPassword)
	if tp.Token == "" || tp.RefreshToken == "" || tp.ExpiresIn != int((15*time.Minute).Seconds()) {
		t.Fatalf("login answered %+v", tp)
	}
	if _, err := alice.ListApplications(h.ctx); err != nil {
		t.Fatalf("the access token does not work: %v", err)
	}

	// Refresh with the token in the body.
	h.clock.Advance(time.Minute)
	fresh := api.NewClient(h.srv.URL, api.WithHTTPClient(h.hc))
	tp2, err := fresh.Refresh(h.ctx, tp.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tp2.Token == "" || tp2.Token == tp.Token {
		t.Fatalf("refresh gave access token %q, want a new one", tp2.Token)
	}
	if _, err := fresh.ListApplications(h.ctx); err != nil {
		t.Fatalf("the refreshed access token does not work: %v", err)
	}

	// Refresh with the token as the bearer and no body.
	status, body := h.do(http.MethodPost, "/api/auth/refresh", tp2.RefreshToken, "", nil)
	if status != http.StatusOK {
		t.Fatalf("refresh with a bearer refresh token: %d %s", status, body)
	}
	var tp3 api.TokenPair
	if err := json.Unmarshal(body, &tp3); err != nil || tp3.Token == "" {
		t.Fatalf("refresh answer %s (err %v)", body, err)
	}

	// Refresh with neither.
	status, body = h.do(http.MethodPost, "/api/auth/refresh", "", "", nil)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "refresh_token") {
		t.Errorf("refresh without a token: %d %s, want 400 naming refresh_token", status, body)
	}

	// Access tokens expire; the refresh token outlives them.
	h.clock.Advance(16 * time.Minute)
	// (A raw request: api.Client would refresh by itself.)
	if status, body := h.do(http.MethodGet, "/api/applications/", tp2.Token, "", nil); status != http.StatusUnauthorized {
		t.Errorf("an expired access token: %d %s, want 401", status, body)
	}
	// (Refresh tokens rotate: tp3's is the current one.)
	tp4, err := fresh.Refresh(h.ctx, tp3.RefreshToken)
	if err != nil {
		t.Errorf("refresh after the access token expired: %v", err)
	}
	// After the refresh token's own lifetime it is refused too.
	h.clock.Advance(8 * 24 * time.Hour)
	if _, err := fresh.Refresh(h.ctx, tp4.RefreshToken); apiStatus(err) != http.StatusUnauthorized {
		t.Errorf("an expired refresh token: %v, want 401", err)
	}
}

func TestAPILoginIsRateLimited(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("carol")
	h.addUser("dave")
	login := func(user, pw string) (int, []byte) {
		return h.do(http.MethodPost, "/api/auth/login", "", "application/json",
			mustJSON(t, map[string]string{"username": user, "password": pw}))
	}
	for i := range 5 {
		if status, body := login("carol", "wrong-password"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password #%d: %d %s, want 401", i+1, status, body)
		}
	}
	status, body := login("carol", "wrong-password")
	if status != http.StatusTooManyRequests {
		t.Fatalf("sixth wrong password: %d %s, want 429", status, body)
	}
	if e := decodeProblem(t, body); !strings.Contains(e.Detail, "too many failed logins") {
		t.Errorf("429 detail %q does not say why", e.Detail)
	}
	if status, _ := login("carol", userPassword); status != http.StatusTooManyRequests {
		t.Errorf("right password while blocked: %d, want 429", status)
	}
	if status, body := login("dave", userPassword); status != http.StatusOK {
		t.Errorf("another user from the same address: %d %s, want 200", status, body)
	}
	h.clock.Advance(61 * time.Second)
	if status, body := login("carol", userPassword); status != http.StatusOK {
		t.Errorf("right password after the window: %d %s, want 200", status, body)
	}
}

func TestAPIOpenAPIDocument(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	status, body := h.do(http.MethodGet, "/api/openapi.json", "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /api/openapi.json: %d", status)
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			SecuritySchemes map[string]map[string]any `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	ops := []struct {
		method, path string
		secured      bool
	}{
		{"post", "/api/auth/login", false},
		{"post", "/api/auth/refresh", false},
		{"get", "/api/health", false},
		{"post", "/api/application/", true},
		{"get", "/api/applications/", true},
		{"get", "/api/application/{appid}", true},
		{"delete", "/api/application/{appid}", true},
		{"post", "/api/service/", true},
		{"get", "/api/services/", true},
		{"get", "/api/services/{appid}", true},
		{"get", "/api/service/{id}", true},
		{"delete", "/api/service/{id}", true},
		{"post", "/api/service/{id}/instance", true},
		{"delete", "/api/service/{id}/instance/{n}", true},
		{"get", "/api/service/{id}/instance/{n}/logs", true},
		{"put", "/api/service/{id}/scale", true},
		{"post", "/api/user/", true},
		{"get", "/api/users/", true},
		{"delete", "/api/user/{username}", true},
		{"post", "/api/tokens/", true},
		{"get", "/api/clusters/", true},
		{"get", "/api/clusters/active", true},
		{"get", "/api/nodes/", true},
	}
	for _, op := range ops {
		o, ok := doc.Paths[op.path][op.method]
		if !ok {
			t.Errorf("no %s %s in the OpenAPI document", strings.ToUpper(op.method), op.path)
			continue
		}
		_, hasSecurity := o["security"]
		if hasSecurity != op.secured {
			t.Errorf("%s %s: security declared %v, want %v", strings.ToUpper(op.method), op.path, hasSecurity, op.secured)
		}
	}
	if s := doc.Components.SecuritySchemes[bearer]; s["scheme"] != "bearer" {
		t.Errorf("security scheme %q is %+v, want http bearer", bearer, s)
	}
	// The docs and health answer without a token.
	if status, _ := h.do(http.MethodGet, "/api/docs", "", "", nil); status != http.StatusOK {
		t.Errorf("GET /api/docs: %d", status)
	}
	if status, body := h.do(http.MethodGet, "/api/health", "", "", nil); status != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("GET /api/health: %d %s", status, body)
	}
}

func TestAPIRefreshTokensRotateAndLogOut(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("alice")
	_, tp := h.login("alice", userPassword)
	fresh := api.NewClient(h.srv.URL, api.WithHTTPClient(h.hc))
	tp2, err := fresh.Refresh(h.ctx, tp.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tp2.RefreshToken == tp.RefreshToken {
		t.Fatal("refresh returned the same refresh token")
	}
	// The old token is spent; its reuse revokes the session.
	if _, err := fresh.Refresh(h.ctx, tp.RefreshToken); apiStatus(err) != http.StatusUnauthorized {
		t.Errorf("reused refresh token: %v, want 401", err)
	}
	if _, err := fresh.Refresh(h.ctx, tp2.RefreshToken); apiStatus(err) != http.StatusUnauthorized {
		t.Errorf("refresh token of a revoked session: %v, want 401", err)
	}

	_, tp = h.login("alice", userPassword)
	if status, body := h.do(http.MethodPost, "/api/auth/logout", "", "application/json", []byte(`{}`)); status != http.StatusBadRequest || !strings.Contains(string(body), "refresh_token") {
		t.Errorf("logout without a token: %d %s, want 400 naming refresh_token", status, body)
	}
	b, _ := json.Marshal(api.RefreshRequest{RefreshToken: tp.RefreshToken})
	if status, body := h.do(http.MethodPost, "/api/auth/logout", "", "application/json", b); status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", status, body)
	}
	if _, err := fresh.Refresh(h.ctx, tp.RefreshToken); apiStatus(err) != http.StatusUnauthorized {
		t.Errorf("refresh after logout: %v, want 401", err)
	}
}
