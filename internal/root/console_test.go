package root

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/audit"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

func TestConsoleServedAtRootAndNotOverTheAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, tc := range []struct {
		name, path string
		status     int
		ctype      string
	}{
		{"page", "/", 200, "text/html"},
		{"script", "/assets/app.js", 200, "text/javascript"},
		{"style", "/assets/app.css", 200, "text/css"},
		{"unknown asset", "/assets/nope.js", 404, ""},
		{"unknown page", "/nope", 404, ""},
		{"unknown API path stays the API's", "/api/nope", 404, ""},
		{"health unchanged", "/api/health", 200, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _ := h.do(http.MethodGet, tc.path, "", "", nil)
			if code != tc.status {
				t.Fatalf("GET %s: %d, want %d", tc.path, code, tc.status)
			}
			if tc.ctype == "" {
				return
			}
			resp, err := h.hc.Get(h.srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.ctype)
			}
			if tc.path != "/api/health" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("GET %s: no strict Content-Security-Policy: %q", tc.path, resp.Header.Get("Content-Security-Policy"))
			}
		})
	}
}

func TestValidateNamesEveryProblemAndStoresNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("alice")
	_, tp := h.login("alice", userPassword)
	bad := slaDoc(t, "shop", svc("web", -5), svc("", 64))
	for _, tc := range []struct {
		name, ctype string
		body        []byte
		status      int
		want        []string // problem locations
		kind        string
	}{
		{"bad SLA", "application/json", bad, 400, []string{"applications[0].microservices[0].memory", "applications[0].microservices[1].microservice_name"}, ""},
		{"empty body", "application/json", []byte("  "), 400, nil, ""},
		{"good SLA as YAML", "application/yaml", []byte("sla_version: v2.0\ncustomerID: x\napplications:\n- application_name: a\n  application_namespace: n\n  microservices:\n  - microservice_name: m\n    microservice_namespace: n\n    virtualization: process\n    code: /bin/true\n    memory: 8\n    vcpus: 0.1\n"), 200, nil, "sla"},
		{"FogAtlas region without id", "application/yaml", []byte("apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Region\nmetadata:\n  name: r1\nspec:\n  tier: 0\n"), 400, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.do(http.MethodPost, "/api/validate", tp.Token, tc.ctype, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			if code == 400 {
				e := decodeProblem(t, body)
				if e.Detail == "" {
					t.Errorf("400 without a detail: %s", body)
				}
				for _, loc := range tc.want {
					if !slices.Contains(locations(e), loc) {
						t.Errorf("problem locations %v lack %s", locations(e), loc)
					}
				}
				return
			}
			var v Validation
			if err := json.Unmarshal(body, &v); err != nil || v.Kind != tc.kind {
				t.Errorf("answer %s, want kind %s (%v)", body, tc.kind, err)
			}
		})
	}
	if code, _ := h.do(http.MethodPost, "/api/validate", "", "application/json", bad); code != 401 {
		t.Errorf("validate without a token: %d, want 401", code)
	}
	if apps := h.root.Applications(Caller{User: "alice"}); len(apps) != 0 {
		t.Errorf("validate stored applications: %+v", apps)
	}
	// Checking changes nothing, so it is not audited (the console checks as
	// the user types); a submit still is.
	h.submit(api.NewClient(h.srv.URL, api.WithHTTPClient(h.hc), api.WithToken(tp.Token)), slaDoc(t, "shop", svc("web", 64)))
	page, err := audit.New(h.st, 0).List(audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Entries {
		if e.Path == "/api/validate" {
			t.Errorf("validate was audited: %+v", e)
		}
	}
	if len(page.Entries) != 1 || page.Entries[0].Path != "/api/application/" {
		t.Errorf("audit log %+v, want the one submit", page.Entries)
	}
}

// readChange reads the next change event of a /api/changes stream.
func readChange(t *testing.T, sc *bufio.Scanner) ChangeEvent {
	t.Helper()
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev ChangeEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("change event %q: %v", data, err)
		}
		return ev
	}
	t.Fatalf("change stream ended: %v", sc.Err())
	return ChangeEvent{}
}

func TestChangesStreamFollowsWhatTheCallerSees(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addUser("alice")
	h.addUser("bob")
	alice, tp := h.login("alice", userPassword)

	if code, _ := h.do(http.MethodGet, "/api/changes", "", "", nil); code != 401 {
		t.Fatalf("changes without a token: %d, want 401", code)
	}
	req, _ := http.NewRequestWithContext(h.ctx, http.MethodGet, h.srv.URL+"/api/changes", nil)
	req.Header.Set("Authorization", "Bearer "+tp.Token)
	resp, err := h.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	first := readChange(t, sc)

	bobBefore := h.root.changeMark(Caller{User: "bob"})
	start := time.Now()
	res := h.submit(alice, slaDoc(t, "shop", svc("web", 64, instances(1))))
	next := readChange(t, sc)
	t.Logf("change notice %s after the submit", time.Since(start).Round(time.Millisecond))
	if next.Mark == first.Mark {
		t.Fatalf("the event after a submit has the same mark %s", next.Mark)
	}
	// Another tenant's view does not change with alice's application.
	if got := h.root.changeMark(Caller{User: "bob"}); got != bobBefore {
		t.Errorf("bob's mark changed with alice's application")
	}
	if err := alice.DeleteApplication(h.ctx, res.Applications[0].ID); err != nil {
		t.Fatal(err)
	}
	if after := readChange(t, sc); after.Mark == next.Mark {
		t.Errorf("no change event after the delete")
	}
}

// BenchmarkChangeMark is what one open console costs the root on each of
// its four polls a second, with 100,000 instances in 100 services.
func BenchmarkChangeMark(b *testing.B) {
	st := store.NewMemory()
	a, err := auth.NewService(st, auth.Options{})
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(Config{Store: st, Auth: a})
	if err != nil {
		b.Fatal(err)
	}
	r.mu.Lock()
	for i := range 100 {
		id := fmt.Sprintf("svc-%d", i)
		r.svcs[id] = &service{Service: api.Service{ID: id, OwnerID: "alice", Spec: api.ServiceSpec{Instances: 1000}}}
		for j := range 1000 {
			iid := fmt.Sprintf("%s-%d", id, j)
			r.insts[iid] = &instance{ID: iid, ServiceID: id, Number: j, ClusterID: "c1",
				Status: link.InstanceStatus{InstanceID: iid, State: api.StateRunning, NodeID: "n1"}}
		}
	}
	r.mu.Unlock()
	b.ResetTimer()
	for b.Loop() {
		r.changeMark(Caller{User: "alice", UserID: "alice"})
	}
}
