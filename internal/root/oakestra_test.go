package root

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

// These are the contract tests of Oakestra's own clients, its CLI and its
// dashboard (docs/oakestra.md): every call they make is sent as they send
// it, over raw HTTP, and every field they read is checked in the JSON type
// they read it as.

// jsonKind names JSON types as the clients expect them.
const (
	kString = "string"
	kNumber = "number"
	kBool   = "bool"
	kArray  = "array"
	kObject = "object"
)

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return kString
	case float64:
		return kNumber
	case bool:
		return kBool
	case []any:
		return kArray
	case map[string]any:
		return kObject
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// at walks a decoded JSON value along a path such as "instance_list.0._id.$oid".
func at(v any, path string) (any, bool) {
	for _, p := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[p]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// shape asserts that each "path:kind" is present in v with that JSON type.
func shape(t *testing.T, what string, v any, fields ...string) {
	t.Helper()
	for _, f := range fields {
		path, kind, _ := strings.Cut(f, ":")
		got, ok := at(v, path)
		if !ok {
			t.Errorf("%s: no field %s", what, path)
			continue
		}
		if k := kindOf(got); k != kind {
			t.Errorf("%s: %s is %s (%v), want %s", what, path, k, got, kind)
		}
	}
}

// call sends a raw request as Oakestra's clients do and decodes the JSON
// answer, failing unless the status is want.
func (h *harness) call(method, path, token string, body any, want int) any {
	h.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		raw = mustJSON(h.t, b)
	}
	ct := ""
	if raw != nil {
		ct = "application/json"
	}
	status, out := h.do(method, path, token, ct, raw)
	if status != want {
		h.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, status, want, out)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		h.t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, out)
	}
	return v
}

var (
	appFields = []string{"_id.$oid:string", "applicationID:string", "application_name:string",
		"application_namespace:string", "application_desc:string", "microservices:array", "userId:string"}
	serviceFields = []string{"_id.$oid:string", "microserviceID:string", "microservice_name:string",
		"microservice_namespace:string", "applicationID:string", "app_name:string", "app_ns:string",
		"code:string", "virtualization:string", "port:string", "memory:number", "vcpus:number",
		"environment:array", "RR_ip:string", "status:string", "instance_list:array"}
	instanceFields = []string{"instance_number:number", "status:string", "status_detail:string",
		"publicip:string", "host_ip:string", "cluster_id:string", "cluster_location:string",
		"worker_id:string", "cpu:number", "memory:number", "cpu_history:array", "memory_history:array",
		"disk:number", "logs:string"}
	clusterFields = []string{"_id.$oid:string", "cluster_name:string", "candidate_name:string", "ip:string",
		"port:string", "active:bool", "active_nodes:number", "cluster_location:string", "cpu_percent:number",
		"memory_percent:number", "aggregated_cpu_percent:number", "memory_in_mb:number",
		"total_cpu_cores:number", "total_gpu_cores:number", "vcpus:number", "vgpus:number",
		"virtualization:array", "last_modified_timestamp:number"}
	userFields = []string{"_id.$oid:string", "name:string", "email:string", "roles:array", "created_at:string"}
)

// jwtClaims decodes a token's payload without checking it, as the dashboard
// does.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return c
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/oakestra/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOakestraClientContract(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})

	// Login and refresh as the dashboard does: the refresh token as the
	// bearer and an empty body.
	login := h.call("POST", "/api/auth/login", "", map[string]any{"username": "admin", "password": adminPassword}, 200)
	shape(t, "login", login, "token:string", "refresh_token:string")
	tok := login.(map[string]any)["token"].(string)
	shape(t, "JWT", jwtClaims(t, tok), "sub:string", "roles:array", "exp:number")
	ref := h.call("POST", "/api/auth/refresh", login.(map[string]any)["refresh_token"].(string), []byte("{}"), 200)
	shape(t, "refresh", ref, "token:string")

	fc := h.joinCluster("edge-a")
	agg := aggregate(api.Resources{VCPUs: 8, MemoryMB: 8192})
	fc.report(agg)

	// oak app create: the answer is the caller's applications.
	apps := h.call("POST", "/api/application/", tok, readTestdata(t, "clientsrvr.json"), 200)
	shape(t, "POST /api/application/", apps, "0:object")
	shape(t, "POST /api/application/ [0]", apps.([]any)[0], appFields...)
	app := apps.([]any)[0].(map[string]any)
	appID := app["applicationID"].(string)
	if app["_id"].(map[string]any)["$oid"] != appID {
		t.Errorf("_id.$oid %v, want the applicationID %s", app["_id"], appID)
	}
	if n := len(app["microservices"].([]any)); n != 2 {
		t.Fatalf("application has %d microservices, want 2", n)
	}
	for _, p := range []string{"/api/applications/", "/api/applications/admin"} {
		list := h.call("GET", p, tok, nil, 200)
		if l := list.([]any); len(l) != 1 {
			t.Fatalf("GET %s: %d applications, want 1", p, len(l))
		}
		shape(t, "GET "+p, list.([]any)[0], appFields...)
	}

	// Registered, not deployed: no instance, nothing on the cluster.
	svcs := h.call("GET", "/api/services/"+appID, tok, nil, 200).([]any)
	if len(svcs) != 2 {
		t.Fatalf("%d services, want 2", len(svcs))
	}
	var nginx string
	for _, s := range svcs {
		shape(t, "service", s, serviceFields...)
		m := s.(map[string]any)
		if n := len(m["instance_list"].([]any)); n != 0 {
			t.Errorf("service %s has %d instances after the SLA alone, want 0", m["microservice_name"], n)
		}
		if m["microservice_name"] == "nginx" {
			nginx = m["microserviceID"].(string)
			if m["RR_ip"] != "10.30.55.55" || m["port"] != "80:80/tcp" || m["app_ns"] != "test" || m["app_name"] != "clientsrvr" {
				t.Errorf("nginx as Oakestra stores it: RR_ip %v port %v app %v/%v", m["RR_ip"], m["port"], m["app_ns"], m["app_name"])
			}
		}
	}
	if a := fc.assignments(); len(a.Items) != 0 {
		t.Fatalf("cluster got %d instances from an SLA without deploy, want 0", len(a.Items))
	}

	// oak cl list, and the dashboard's cluster pages.
	for _, p := range []string{"/api/clusters/", "/api/clusters/active"} {
		cl := h.call("GET", p, tok, nil, 200).([]any)
		if len(cl) != 1 {
			t.Fatalf("GET %s: %d clusters, want 1", p, len(cl))
		}
		shape(t, "GET "+p, cl[0], clusterFields...)
		m := cl[0].(map[string]any)
		if m["active"] != true || m["_id"].(map[string]any)["$oid"] != fc.id || m["memory_in_mb"] != 8192.0 {
			t.Errorf("GET %s: active %v _id %v memory_in_mb %v", p, m["active"], m["_id"], m["memory_in_mb"])
		}
	}

	// The deploy step, once per instance.
	inst := h.call("POST", "/api/service/"+nginx+"/instance", tok, nil, 200)
	shape(t, "POST instance", inst, "instance_number:number", "status:string")
	fc.waitAssignments("one nginx instance", hasInstances(nginx+"-0"))
	st := running(nginx+"-0", 1, "node-1")
	st.CPU, st.MemoryMB = 0.25, 42
	fc.report(agg, st)
	st.CPU, st.MemoryMB = 0.5, 43
	fc.report(agg, st)

	svc := h.call("GET", "/api/service/"+nginx, tok, nil, 200)
	shape(t, "GET /api/service/{id}", svc, serviceFields...)
	shape(t, "instance_list[0]", svc, "instance_list.0:object")
	il := svc.(map[string]any)["instance_list"].([]any)
	if len(il) != 1 {
		t.Fatalf("%d instances after one deploy, want 1", len(il))
	}
	shape(t, "instance_list[0]", il[0], instanceFields...)
	i0 := il[0].(map[string]any)
	if i0["status"] != "RUNNING" || i0["cluster_id"] != fc.id || i0["worker_id"] != "node-1-id" || i0["cpu"] != 50.0 || i0["memory"] != 43.0 {
		t.Errorf("instance: status %v cluster %v worker %v cpu %v memory %v", i0["status"], i0["cluster_id"], i0["worker_id"], i0["cpu"], i0["memory"])
	}
	if hist := i0["cpu_history"].([]any); len(hist) != 2 {
		t.Errorf("cpu_history has %d figures after 2 reports, want 2: %v", len(hist), hist)
	} else {
		shape(t, "cpu_history[1]", hist[1], "timestamp:number", "value:number")
		if hist[1].(map[string]any)["value"] != 50.0 {
			t.Errorf("cpu_history[1] %v, want value 50", hist[1])
		}
	}
	if svc.(map[string]any)["status"] != "RUNNING" {
		t.Errorf("service status %v, want RUNNING", svc.(map[string]any)["status"])
	}

	// Remove one instance: 200 with a message, as every DELETE.
	del := h.call("DELETE", "/api/service/"+nginx+"/instance/0", tok, nil, 200)
	shape(t, "DELETE instance", del, "message:string")
	fc.waitAssignments("no instance", hasInstances())

	// The dashboard adds services: the microservice-list form (the
	// application named by the query) and the whole SLA naming it.
	added := h.call("POST", "/api/service/?applicationID="+appID, tok, readTestdata(t, "dashboard-microservices.json"), http.StatusConflict)
	shape(t, "add nginx again", added, "detail:string")
	list := readTestdata(t, "dashboard-microservices.json")
	list = []byte(strings.Replace(string(list), `"microservice_name": "nginx"`, `"microservice_name": "web"`, 1))
	// Its own service address: nginx has 10.30.55.55 (a second service
	// asking for it is refused with 409, see TestUnitServiceAddresses).
	list = []byte(strings.Replace(string(list), `"10.30.55.55"`, `"10.30.55.56"`, 1))
	added = h.call("POST", "/api/service/?applicationID="+appID, tok, list, 200)
	shape(t, "POST /api/service/ (list)", added, "0:object")
	shape(t, "POST /api/service/ (list) [0]", added.([]any)[0], serviceFields...)
	whole := map[string]any{"sla_version": "v2.0", "customerID": "Admin", "applications": []any{map[string]any{
		"applicationID": appID, "application_name": "clientsrvr", "application_namespace": "test", "application_desc": "",
		"microservices": []any{svc0("db")},
	}}}
	added = h.call("POST", "/api/service/", tok, whole, 200)
	shape(t, "POST /api/service/ (whole SLA) [0]", added.([]any)[0], serviceFields...)
	if n := len(added.([]any)[0].(map[string]any)["instance_list"].([]any)); n != 0 {
		t.Errorf("a service added by the dashboard has %d instances, want 0 until deployed", n)
	}
	withoutApp := h.call("POST", "/api/service/", tok, readTestdata(t, "dashboard-microservices.json"), 400)
	if d, _ := at(withoutApp, "detail"); !strings.Contains(fmt.Sprint(d), "applicationID") {
		t.Errorf("list form without an application: %v, want a refusal naming applicationID", withoutApp)
	}

	// Updates.
	upd := h.call("PUT", "/api/application/"+appID, tok, map[string]any{"application_desc": "changed", "_id": map[string]any{"$oid": appID}}, 200)
	shape(t, "PUT application", upd, appFields...)
	if upd.(map[string]any)["application_desc"] != "changed" {
		t.Errorf("application_desc %v after PUT, want changed", upd.(map[string]any)["application_desc"])
	}
	rec := h.call("GET", "/api/service/"+nginx, tok, nil, 200).(map[string]any)
	rec["memory"] = 200
	updSvc := h.call("PUT", "/api/service/"+nginx, tok, rec, 200)
	shape(t, "PUT service", updSvc, serviceFields...)
	if updSvc.(map[string]any)["memory"] != 200.0 {
		t.Errorf("memory %v after PUT, want 200", updSvc.(map[string]any)["memory"])
	}

	shape(t, "DELETE service", h.call("DELETE", "/api/service/"+nginx, tok, nil, 200), "message:string")
	shape(t, "DELETE application", h.call("DELETE", "/api/application/"+appID, tok, nil, 200), "message:string")
	if l := h.call("GET", "/api/applications/", tok, nil, 200).([]any); len(l) != 0 {
		t.Errorf("%d applications after delete, want 0", len(l))
	}
}

// svc0 is a microservice as the dashboard writes one, without instances.
func svc0(name string) map[string]any {
	return svc(name, 100, func(m map[string]any) { m["microserviceID"] = ""; m["state"] = ""; m["port"] = "" })
}

func TestOakestraUsersAndOrganizations(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	admin := h.call("POST", "/api/auth/login", "", map[string]any{"username": "admin", "password": adminPassword}, 200).(map[string]any)["token"].(string)

	// Register (Admin), with roles as names or as Oakestra's objects.
	u := h.call("POST", "/api/auth/register", admin, map[string]any{
		"name": "carol", "password": userPassword, "email": "carol@example.org",
		"roles": []any{"Application_Provider", map[string]any{"name": "Organization_Admin"}},
	}, 200)
	shape(t, "register", u, userFields...)
	h.call("POST", "/api/auth/register", admin, map[string]any{"name": "dave", "password": userPassword, "email": "d@example.org"}, 200)
	h.call("POST", "/api/auth/register", admin, map[string]any{"name": "erin", "password": userPassword}, 200)

	got := h.call("GET", "/api/user/carol", admin, nil, 200)
	shape(t, "GET user", got, userFields...)
	if m := got.(map[string]any); m["name"] != "carol" || m["email"] != "carol@example.org" || len(m["roles"].([]any)) != 2 {
		t.Errorf("GET user: %v", m)
	}
	users := h.call("GET", "/api/users/", admin, nil, 200).([]any)
	if len(users) != 4 {
		t.Fatalf("%d users, want 4 (admin, carol, dave, erin)", len(users))
	}
	for _, u := range users {
		shape(t, "GET /api/users/", u, userFields...)
	}
	shape(t, "permission", h.call("GET", "/api/permission/carol", admin, nil, 200), "name:string", "roles:array", "admin:bool", "organizations:array")

	// Organizations: the dashboard lists them when an Admin logs in.
	org := h.call("POST", "/api/organization/", admin, map[string]any{"name": "acme", "members": []string{"carol", "dave"}}, 200)
	shape(t, "POST organization", org, "_id.$oid:string", "name:string", "members:array")
	orgID := org.(map[string]any)["id"].(string)
	orgs := h.call("GET", "/api/organization/", admin, nil, 200).([]any)
	if len(orgs) != 1 {
		t.Fatalf("%d organizations, want 1", len(orgs))
	}
	shape(t, "GET organization", orgs[0], "_id.$oid:string", "name:string")

	// Login into the organization: the token says which.
	carolLogin := h.call("POST", "/api/auth/login", "", map[string]any{"username": "carol", "password": userPassword, "organization_name": "acme"}, 200).(map[string]any)
	carol := carolLogin["token"].(string)
	if c := jwtClaims(t, carol); c["organization"] != "acme" || c["sub"] != "carol" {
		t.Errorf("JWT of an organization login: %v", c)
	}
	h.call("POST", "/api/auth/login", "", map[string]any{"username": "erin", "password": userPassword, "organization_name": "acme"}, 401)
	if c := jwtClaims(t, h.call("POST", "/api/auth/refresh", carolLogin["refresh_token"].(string), []byte("{}"), 200).(map[string]any)["token"].(string)); c["organization"] != "acme" {
		t.Errorf("refresh lost the organization: %v", c)
	}

	// The Organization_Admin manages its own organization and its members,
	// and nobody else.
	if l := h.call("GET", "/api/users/", carol, nil, 200).([]any); len(l) != 2 {
		t.Errorf("carol (Organization_Admin of acme) sees %d users, want 2 (carol, dave)", len(l))
	}
	h.call("GET", "/api/user/dave", carol, nil, 200)
	h.call("GET", "/api/user/erin", carol, nil, 403)
	h.call("PUT", "/api/organization/"+orgID, carol, map[string]any{"members": []string{"carol", "dave", "erin"}}, 200)
	h.call("GET", "/api/user/erin", carol, nil, 200)
	h.call("PUT", "/api/user/erin", carol, map[string]any{"roles": []string{"Admin"}}, 403)
	h.call("PUT", "/api/user/erin", carol, map[string]any{"_id": map[string]any{"$oid": "erin"}, "name": "erin", "roles": []string{"Infrastructure_Provider"}}, 200)
	h.call("POST", "/api/organization/", carol, map[string]any{"name": "other"}, 403)

	// A user changes its own e-mail and password.
	dave := h.call("POST", "/api/auth/login", "", map[string]any{"username": "dave", "password": userPassword}, 200).(map[string]any)["token"].(string)
	if m := h.call("PUT", "/api/user/dave", dave, map[string]any{"email": "dave@example.org"}, 200).(map[string]any); m["email"] != "dave@example.org" {
		t.Errorf("email after PUT: %v", m["email"])
	}
	h.call("PUT", "/api/user/dave", dave, map[string]any{"roles": []string{"Admin"}}, 403)
	h.call("POST", "/api/user/dave", dave, map[string]any{"oldPassword": "wrong-password", "newPassword": "new-secret-2"}, 401)
	shape(t, "change password", h.call("POST", "/api/user/dave", dave, map[string]any{"oldPassword": userPassword, "newPassword": "new-secret-2"}, 200), "message:string")
	h.call("POST", "/api/auth/login", "", map[string]any{"username": "dave", "password": "new-secret-2"}, 200)
	h.call("POST", "/api/auth/register", dave, map[string]any{"name": "mallory", "password": userPassword}, 403)
	h.call("GET", "/api/user/carol", dave, nil, 403)

	shape(t, "DELETE organization", h.call("DELETE", "/api/organization/"+orgID, admin, nil, 200), "message:string")
	shape(t, "DELETE user", h.call("DELETE", "/api/user/erin", admin, nil, 200), "message:string")
}

func TestCORS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	tests := []struct {
		name       string
		origins    []string
		method     string
		origin     string
		wantStatus int
		wantAllow  string
	}{
		{"none configured", nil, "GET", "http://dash.example", 200, ""},
		{"allowed origin", []string{"http://dash.example"}, "GET", "http://dash.example", 200, "http://dash.example"},
		{"other origin", []string{"http://dash.example"}, "GET", "http://evil.example", 200, ""},
		{"preflight", []string{"http://dash.example"}, "OPTIONS", "http://dash.example", 204, "http://dash.example"},
		{"any origin", []string{"*"}, "OPTIONS", "http://x.example", 204, "http://x.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/api/applications/", nil)
			req.Header.Set("Origin", tt.origin)
			if tt.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			}
			w := httptest.NewRecorder()
			WithCORS(ok, tt.origins).ServeHTTP(w, req)
			if w.Code != tt.wantStatus || w.Header().Get("Access-Control-Allow-Origin") != tt.wantAllow {
				t.Fatalf("status %d allow-origin %q, want %d %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"), tt.wantStatus, tt.wantAllow)
			}
			if tt.method == "OPTIONS" && !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Errorf("preflight allows headers %q, want Authorization", w.Header().Get("Access-Control-Allow-Headers"))
			}
		})
	}
}
