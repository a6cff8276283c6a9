package root

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
)

// TestAPIPrivilegedSettingsNeedAdmin: a tenant's microservice with a
// setting that reaches past the instance sandbox is refused with 403 naming
// the field, and nothing is stored; Admin may; the tenant may once Admin
// put it on the allow list of the cluster the microservice is pinned to.
func TestAPIPrivilegedSettingsNeedAdmin(t *testing.T) {
	h := newHarness(t, harnessOptions{admin: true})
	h.addUser("alice")
	admin, adminTok := h.login(auth.AdminUser, adminPassword)
	alice, aliceTok := h.login("alice", userPassword)
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	process := func(m map[string]any) { m["virtualization"], m["code"] = "process", "/bin/sleep" }
	pinned := constraints(map[string]any{"type": "direct", "cluster": "edge-1"})

	tests := []struct {
		name, field string
		edits       []func(map[string]any)
	}{
		{"raw process", "applications[0].microservices[0].raw", []func(map[string]any){process, set("raw", true)}},
		{"privileged container", "applications[0].microservices[0].privileged", []func(map[string]any){set("privileged", true)}},
		{"host-path added file", "applications[0].microservices[0].added_files[1]", []func(map[string]any){set("added_files", []string{"https://example.com/a.conf", "/var/lib/hedge/root/jwt.key"})}},
		{"pressure exempt", "applications[0].microservices[0].pressure_exempt", []func(map[string]any){set("pressure_exempt", true)}},
		{"priority above the default", "applications[0].microservices[0].priority", []func(map[string]any){set("priority", 10)}},
	}
	before := dumpState(t, h.st)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := alice.SubmitSLA(h.ctx, slaDoc(t, "a", svc("s", 10, tt.edits...)), "application/json")
			if apiStatus(err) != http.StatusForbidden || !strings.Contains(err.Error(), tt.field+": needs the Admin role") {
				t.Fatalf("tenant submits: %v, want 403 naming %s", err, tt.field)
			}
			_, err = alice.SubmitSLA(h.ctx, slaDoc(t, "a", svc("s", 10, append(tt.edits, pinned)...)), "application/json")
			if apiStatus(err) != http.StatusForbidden || !strings.Contains(err.Error(), tt.field+": needs the Admin role or an allow list entry for cluster edge-1") {
				t.Fatalf("tenant submits pinned to edge-1: %v, want 403 naming %s and the cluster", err, tt.field)
			}
		})
	}
	if after := dumpState(t, h.st); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused submissions changed the store:\nbefore %v\nafter  %v", before, after)
	}
	// A tenant may rank its own services lower.
	low := h.submit(alice, slaDoc(t, "low", svc("s", 10, set("priority", -5))))
	// Adding or updating a service is checked as a submission is. The
	// placement loop first settles the new instance (here UNSCHEDULABLE:
	// there is no cluster), so that what changes after is the refusals' doing.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		before = dumpState(t, h.st)
		if !strings.Contains(fmt.Sprint(before), `"state":"REQUESTED"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the placement loop left an instance REQUESTED: %v", before)
		}
	}
	_, err := alice.AddServices(h.ctx, low.Applications[0].ID, []api.ServiceSpec{
		{Name: "x", Namespace: "test", Virtualization: "container", Code: "docker.io/library/nginx:latest", MemoryMB: 1, VCPUs: 1, PressureExempt: true},
	})
	if apiStatus(err) != http.StatusForbidden || !strings.Contains(err.Error(), "microservices[0].pressure_exempt: needs the Admin role") {
		t.Fatalf("tenant adds a pressure-exempt service: %v, want 403 naming microservices[0].pressure_exempt", err)
	}
	if status, body := h.do(http.MethodPut, "/api/service/"+low.Services[0].ID, aliceTok.Token, "application/json",
		mustJSON(t, svc("s", 10, set("privileged", true)))); status != http.StatusForbidden || !strings.Contains(string(body), "privileged: needs the Admin role") {
		t.Fatalf("tenant updates her service to privileged: %d %s, want 403 naming privileged", status, body)
	}
	if after := dumpState(t, h.st); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused add and update changed the store:\nbefore %v\nafter  %v", before, after)
	}

	raw := []func(map[string]any){process, set("raw", true), pinned}
	h.submit(admin, slaDoc(t, "admins", svc("s", 10, raw...)))

	if status, body := h.do(http.MethodPut, "/api/allow/edge-1/alice", aliceTok.Token, "", nil); status != http.StatusForbidden {
		t.Fatalf("alice allows herself: %d %s, want 403", status, body)
	}
	if status, body := h.do(http.MethodPut, "/api/allow/edge-1/alice", adminTok.Token, "", nil); status != http.StatusOK {
		t.Fatalf("admin allows alice on edge-1: %d %s", status, body)
	}
	if status, body := h.do(http.MethodGet, "/api/allow", adminTok.Token, "", nil); status != http.StatusOK || !strings.Contains(string(body), `"cluster":"edge-1","user":"alice"`) {
		t.Fatalf("allow list: %d %s, want alice on edge-1", status, body)
	}
	h.submit(alice, slaDoc(t, "allowed", svc("s", 10, raw...)))
	// The entry is for edge-1 only: unpinned or elsewhere is still refused.
	_, err = alice.SubmitSLA(h.ctx, slaDoc(t, "elsewhere", svc("s", 10, process, set("raw", true),
		constraints(map[string]any{"type": "clusters", "allowed": []string{"edge-1", "edge-2"}}))), "application/json")
	if apiStatus(err) != http.StatusForbidden || !strings.Contains(err.Error(), "allow list entry for cluster edge-2") {
		t.Fatalf("raw on edge-1 or edge-2: %v, want 403 naming edge-2", err)
	}

	if status, body := h.do(http.MethodDelete, "/api/allow/edge-1/alice", adminTok.Token, "", nil); status != http.StatusOK {
		t.Fatalf("admin takes alice off: %d %s", status, body)
	}
	if _, err := alice.SubmitSLA(h.ctx, slaDoc(t, "again", svc("s", 10, raw...)), "application/json"); apiStatus(err) != http.StatusForbidden {
		t.Fatalf("after removal from the allow list: %v, want 403", err)
	}
}
