package root

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/audit"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/store"
)

// postLogin sends a login and returns the answer's status, headers and body.
func postLogin(h *harness, user, password string) (int, http.Header, string) {
	h.t.Helper()
	body := strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, user, password))
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.srv.URL+"/api/auth/login", body)
	if err != nil {
		h.t.Error(err)
		return 0, nil, ""
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Error(err)
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestAPILoginFloodIsRefusedWith429 is the attacker of issue 12: 50
// parallel logins with distinct names against a root that checks one
// password at a time. Every answer is 401 (checked) or 429 (refused at
// once, with Retry-After), never a 5xx, and some are refused: the logins do
// not queue without bound.
func TestAPILoginFloodIsRefusedWith429(t *testing.T) {
	h := newHarness(t, harnessOptions{auth: auth.Options{LoginConcurrency: 1, AddressFailures: 10_000}})
	busy := 0
	for round := 0; round < 5 && busy == 0; round++ {
		const attackers = 50
		type answer struct {
			status     int
			retryAfter string
			body       string
		}
		answers := make([]answer, attackers)
		var wg sync.WaitGroup
		for i := range attackers {
			wg.Go(func() {
				status, hdr, body := postLogin(h, fmt.Sprintf("user%d-%d", round, i), "guess-password")
				answers[i] = answer{status, hdr.Get("Retry-After"), body}
			})
		}
		wg.Wait()
		for i, a := range answers {
			switch a.status {
			case http.StatusUnauthorized:
			case http.StatusTooManyRequests:
				busy++
				if a.retryAfter == "" || !strings.Contains(a.body, "too many logins at once") {
					t.Fatalf("login %d: 429 with Retry-After %q and body %s; want Retry-After and the reason", i, a.retryAfter, a.body)
				}
			default:
				t.Fatalf("login %d: status %d %s, want 401 or 429", i, a.status, a.body)
			}
		}
	}
	if busy == 0 {
		t.Fatal("5 rounds of 50 parallel logins with one hashing slot: no login was refused with 429")
	}
}

// TestAPIAuditRecordsChanges: a user created by the admin and an
// application created and deleted by a tenant are in the audit log, with
// who, from where and the outcome, and neither password nor token; the
// tenant cannot read the log.
func TestAPIAuditRecordsChanges(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	_, adminTok := h.login(auth.AdminUser, adminPassword)
	const newPassword = "carols-secret-password"
	if status, body := h.do(http.MethodPost, "/api/user/", adminTok.Token, "application/json",
		mustJSON(t, map[string]any{"username": "carol", "password": newPassword})); status != http.StatusOK {
		t.Fatalf("create user: %d %s", status, body)
	}
	carol, carolTok := h.login("carol", newPassword)
	res := h.submit(carol, slaDoc(t, "shop", svc("web", 100)))
	appID := res.Applications[0].ID
	if err := carol.DeleteApplication(h.ctx, appID); err != nil {
		t.Fatalf("delete application: %v", err)
	}

	status, raw := h.do(http.MethodGet, "/api/audit", adminTok.Token, "", nil)
	if status != http.StatusOK {
		t.Fatalf("admin reads the audit log: %d %s", status, raw)
	}
	for _, secret := range []string{newPassword, adminPassword, adminTok.Token, carolTok.Token, carolTok.RefreshToken} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the audit log holds a secret: %s", raw)
		}
	}
	var page audit.Page
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	find := func(user, method, pathPrefix string) audit.Entry {
		t.Helper()
		for _, e := range page.Entries {
			if e.User == user && e.Method == method && strings.HasPrefix(e.Path, pathPrefix) {
				return e
			}
		}
		t.Fatalf("no %s %s by %s in the audit log: %s", method, pathPrefix, user, raw)
		return audit.Entry{}
	}
	created := find(auth.AdminUser, http.MethodPost, "/api/user/")
	deleted := find("carol", http.MethodDelete, "/api/application/")
	for _, e := range []audit.Entry{created, deleted} {
		if e.Status != http.StatusOK || e.Remote != "127.0.0.1" || e.Time.IsZero() || e.Seq == 0 {
			t.Errorf("entry %+v: want status 200, remote 127.0.0.1, a time and a seq", e)
		}
	}
	if deleted.Object != appID {
		t.Errorf("delete entry names object %q, want the application %s", deleted.Object, appID)
	}
	if deleted.Seq <= created.Seq || page.Entries[0].Seq < deleted.Seq {
		t.Errorf("entries not newest first: %s", raw)
	}
	for _, e := range page.Entries {
		if e.Method == http.MethodGet {
			t.Errorf("a read was recorded: %+v", e)
		}
	}

	status, raw = h.do(http.MethodGet, "/api/audit?user=carol", adminTok.Token, "", nil)
	if err := json.Unmarshal(raw, &page); status != http.StatusOK || err != nil || len(page.Entries) == 0 {
		t.Fatalf("filtered by carol: %d %s", status, raw)
	}
	for _, e := range page.Entries {
		if e.User != "carol" {
			t.Fatalf("filter user=carol returned %+v", e)
		}
	}

	if status, body := h.do(http.MethodGet, "/api/audit", carolTok.Token, "", nil); status != http.StatusForbidden {
		t.Fatalf("a tenant reads the audit log: %d %s, want 403", status, body)
	}
}

// dumpState returns every record of the root's application buckets.
func dumpState(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := st.View(func(tx store.Tx) error {
		for _, b := range []string{bucketApps, bucketServices, bucketInstances, bucketFADepls} {
			if err := tx.List(b, func(k string, raw []byte) error { out[b+"/"+k] = string(raw); return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAPIQuotaRefusesAndStoresNothing: a tenant at its quota is refused
// with 403 naming the quota on submit, add services, scale and add
// instance, and the store holds exactly what it held before. Only Admin
// sets quotas.
func TestAPIQuotaRefusesAndStoresNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	h.addUser("alice")
	_, adminTok := h.login(auth.AdminUser, adminPassword)
	alice, aliceTok := h.login("alice", userPassword)
	quota := auth.Quota{Instances: 3, Services: 2, VCPUs: 100, MemoryMB: 1000}
	if status, body := h.do(http.MethodPut, "/api/user/alice/quota", adminTok.Token, "application/json", mustJSON(t, quota)); status != http.StatusOK {
		t.Fatalf("admin sets the quota: %d %s", status, body)
	}
	if status, body := h.do(http.MethodPut, "/api/user/alice/quota", aliceTok.Token, "application/json",
		mustJSON(t, auth.Quota{Instances: 1e6, Services: 1e5})); status != http.StatusForbidden {
		t.Fatalf("alice raises her own quota: %d %s, want 403", status, body)
	}
	res := h.submit(alice, slaDoc(t, "shop", svc("web", 100, instances(2))))
	appID, svcID := res.Applications[0].ID, res.Services[0].ID
	if _, err := alice.AddInstance(h.ctx, svcID); err != nil { // 3 of 3
		t.Fatalf("add the third instance: %v", err)
	}
	// Let placement settle (no cluster: all UNSCHEDULABLE), so that only the
	// refused requests could change the store from here.
	h.waitService(alice, svcID, "UNSCHEDULABLE", allInState(3, api.StateUnschedulable))

	before := dumpState(t, h.st)
	refused := []struct {
		name, quota string
		call        func() error
	}{
		{"submit", "instances", func() error {
			_, err := alice.SubmitSLA(h.ctx, slaDoc(t, "blog", svc("db", 100, instances(1))), "application/json")
			return err
		}},
		{"add services", "services", func() error {
			_, err := alice.AddServices(h.ctx, appID, []api.ServiceSpec{
				{Name: "a", Namespace: "test", Virtualization: "container", Code: "docker.io/library/nginx:latest", MemoryMB: 1, VCPUs: 1},
				{Name: "b", Namespace: "test", Virtualization: "container", Code: "docker.io/library/nginx:latest", MemoryMB: 1, VCPUs: 1},
			})
			return err
		}},
		{"scale", "instances", func() error { _, err := alice.Scale(h.ctx, svcID, 4); return err }},
		{"add instance", "instances", func() error { _, err := alice.AddInstance(h.ctx, svcID); return err }},
		{"update to more memory", "memory", func() error {
			// 3 instances × 400 MB > 1000 MB
			status, body := h.do(http.MethodPut, "/api/service/"+svcID, aliceTok.Token, "application/json", mustJSON(t, svc("web", 400)))
			if status == http.StatusOK {
				return nil
			}
			e := decodeProblem(t, body)
			return &e
		}},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if apiStatus(err) != http.StatusForbidden || !strings.Contains(err.Error(), c.quota+": user alice may ") {
				t.Fatalf("err = %v, want 403 naming the %s quota", err, c.quota)
			}
		})
	}
	if after := dumpState(t, h.st); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused requests changed the store:\nbefore %v\nafter  %v", before, after)
	}

	status, raw := h.do(http.MethodGet, "/api/user/alice/quota", aliceTok.Token, "", nil)
	var view quotaView
	if err := json.Unmarshal(raw, &view); status != http.StatusOK || err != nil {
		t.Fatalf("alice reads her quota: %d %s", status, raw)
	}
	if view.Quota != quota || view.Usage.Instances != 3 || view.Usage.Services != 1 || view.Usage.MemoryMB != 300 {
		t.Fatalf("quota view %+v, want the quota set and 3 instances of 1 service using 300 MB", view)
	}
	// Scaling down is always allowed.
	if _, err := alice.Scale(h.ctx, svcID, 1); err != nil {
		t.Fatalf("scale down: %v", err)
	}
}

// TestAPILoginPerAddressLockout: an attacker changing the user name on
// every guess is locked out by address: after 20 failures even a real
// user's right password from that address gets 429.
func TestAPILoginPerAddressLockout(t *testing.T) {
	h := newHarness(t, harnessOptions{auth: auth.Options{AddressFailures: 20}})
	h.addUser("dave")
	login := func(user, pw string) (int, []byte) {
		return h.do(http.MethodPost, "/api/auth/login", "", "application/json",
			mustJSON(t, map[string]string{"username": user, "password": pw}))
	}
	for i := range 20 {
		if status, body := login(fmt.Sprintf("guess%d", i), "wrong-password"); status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s, want 401", i, status, body)
		}
	}
	for _, user := range []string{"guess-new", "dave"} {
		pw := "wrong-password"
		if user == "dave" {
			pw = userPassword
		}
		status, hdr, body := postLogin(h, user, pw)
		if status != http.StatusTooManyRequests {
			t.Fatalf("%s after 20 failures from the address: %d %s, want 429", user, status, body)
		}
		if secs, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || secs < 1 || secs > 300 {
			t.Fatalf("%s: Retry-After %q, want 1 to 300 seconds (the address window is 5 minutes)", user, hdr.Get("Retry-After"))
		}
	}
}

// TestAPIDeletedUsersAppsDoNotPassToANewUserOfTheSameName: an attacker who
// gets an account created under a deleted user's name must not inherit
// that user's applications, services or quota usage.
func TestAPIDeletedUsersAppsDoNotPassToANewUserOfTheSameName(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	h.addUser("alice")
	alice, _ := h.login("alice", userPassword)
	res := h.submit(alice, slaDoc(t, "shop", svc("web", 100, instances(1))))
	appID, svcID := res.Applications[0].ID, res.Services[0].ID
	if err := h.auth.DeleteUser("alice"); err != nil {
		t.Fatal(err)
	}
	h.addUser("alice") // the same name, another person
	mallory, mTok := h.login("alice", userPassword)
	before := dumpState(t, h.st)

	if apps, err := mallory.ListApplications(h.ctx); err != nil || len(apps) != 0 {
		t.Errorf("new alice lists %d applications (%v), want none", len(apps), err)
	}
	if status, body := h.do(http.MethodGet, "/api/applications/alice", mTok.Token, "", nil); status != http.StatusOK || strings.Contains(string(body), appID) {
		t.Errorf("new alice's dashboard list: %d %s, want no application of the old alice", status, body)
	}
	if _, err := mallory.GetService(h.ctx, svcID); apiStatus(err) != http.StatusNotFound && apiStatus(err) != http.StatusForbidden {
		t.Errorf("new alice reads the old alice's service: %v, want 404 or 403", err)
	}
	if err := mallory.DeleteApplication(h.ctx, appID); apiStatus(err) != http.StatusNotFound && apiStatus(err) != http.StatusForbidden {
		t.Errorf("new alice deletes the old alice's application: %v, want 404 or 403", err)
	}
	if after := dumpState(t, h.st); !reflect.DeepEqual(before, after) {
		t.Error("the store changed under the new alice's requests")
	}
	// Admin still sees the application, under the old owner's name.
	admin, _ := h.login(auth.AdminUser, adminPassword)
	a, err := admin.GetApplication(h.ctx, appID)
	if err != nil || a.Owner != "alice" {
		t.Errorf("admin's view of the application: %+v, %v", a, err)
	}
}
