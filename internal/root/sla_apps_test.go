package root

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// visionSLA: a detector fed by camera cam1 (Povo) within 5 ms, sending 1
// Mbit/s to an archive pinned to the cloud. By hand, on the example
// topology: the detector can only be in Povo (Trento is 10 ms from cam1),
// the archive is in the cloud, and the flow takes link1 (100 ms) rather
// than Trento (110 ms): link1 carries 1M, the others nothing.
func visionSLA(t *testing.T, pin string) []byte {
	return slaDoc(t, "vision",
		svc("detector", 256, func(m map[string]any) {
			m["vcpus"] = 0.5
			m["environment"] = []string{"MODE=fast"}
			m["port"] = "8080"
			m["connectivity"] = []any{
				map[string]any{"source_endpoint": "cam1", "con_constraints": []any{
					map[string]any{"type": "latency", "threshold": 5}, map[string]any{"type": "bandwidth", "threshold": "5M"}}},
				map[string]any{"target_microservice": "archive", "con_constraints": []any{
					map[string]any{"type": "bandwidth", "threshold": "1M"}}},
			}
			if pin != "" {
				m["node_selector"] = map[string]string{"region": pin}
			}
		}),
		svc("archive", 512, func(m map[string]any) {
			m["node_selector"] = map[string]string{"region": "001-001"}
		}))
}

func TestSLAWithDataflowsPlacesOverRegions(t *testing.T) {
	th := newTopoHarness(t)
	admin, _ := th.login("admin", adminPassword)
	res := th.submit(admin, visionSLA(t, ""))
	if len(res.Applications) != 1 || len(res.Services) != 2 {
		t.Fatalf("submit: %+v", res)
	}
	var names []string
	for _, s := range res.Services {
		names = append(names, s.Spec.Name)
		if s.Spec.Name == "detector.reg.003-003" {
			if !slices.Equal(s.Spec.Environment, []string{"MODE=fast"}) || s.Spec.Port != "8080" || s.Spec.NodeSelector["region"] != "003-003" || len(s.Spec.Connectivity) != 0 {
				t.Errorf("detector spec %+v: want the SLA's environment and port, pinned to Povo", s.Spec)
			}
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"archive.reg.001-001", "detector.reg.003-003"}) {
		t.Fatalf("services %v, want the detector in Povo and the archive in the cloud", names)
	}
	links := th.links()
	if links["link1"].BWAllocated != 1_000_000 || links["link2"].BWAllocated != 0 || links["link3"].BWAllocated != 0 {
		t.Errorf("link occupancy %d/%d/%d, want 1M on link1 only", links["link1"].BWAllocated, links["link2"].BWAllocated, links["link3"].BWAllocated)
	}
	var fs []FADeplView
	th.get("/api/fadepl", &fs)
	if len(fs) != 1 || fs[0].Name != "vision" || fs[0].ApplicationID != res.Applications[0].ID {
		t.Errorf("fadepls %+v, want vision", fs)
	}

	// The same application again: a conflict.
	if code, b := th.do(http.MethodPost, "/api/application/", th.token, "application/json", visionSLA(t, "")); code != http.StatusConflict {
		t.Errorf("second submit: %d %s, want 409", code, b)
	}
	// Deleting the application releases the links and forgets the placement.
	if err := admin.DeleteApplication(th.ctx, res.Applications[0].ID); err != nil {
		t.Fatal(err)
	}
	if l := th.links()["link1"]; l.BWAllocated != 0 {
		t.Errorf("link1 keeps %d bit/s after the delete", l.BWAllocated)
	}
	th.get("/api/fadepl", &fs)
	if len(fs) != 0 {
		t.Errorf("fadepls after the delete: %+v", fs)
	}
}

func TestSLAWithDataflowsThatCannotBePlaced(t *testing.T) {
	th := newTopoHarness(t)
	// The detector pinned to the cloud cannot be within 5 ms of cam1.
	code, b := th.do(http.MethodPost, "/api/application/", th.token, "application/json", visionSLA(t, "001-001"))
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(b), "vision") || !strings.Contains(string(b), "cam1") {
		t.Fatalf("submit: %d %s, want 422 naming the application and the dataflow", code, b)
	}
	var fs []FADeplView
	th.get("/api/fadepl", &fs)
	admin, _ := th.login("admin", adminPassword)
	apps, err := admin.ListApplications(th.ctx)
	if len(fs) != 0 || err != nil || len(apps) != 0 {
		t.Errorf("left behind: fadepls %+v, applications %+v (%v)", fs, apps, err)
	}
}

// An SLA is taken whole or not at all: when its second application cannot
// be placed, the first one, already placed, goes again.
func TestSLAWithDataflowsAllOrNothing(t *testing.T) {
	th := newTopoHarness(t)
	var first, second map[string]any
	if err := json.Unmarshal(visionSLA(t, ""), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(visionSLA(t, "001-001"), &second); err != nil {
		t.Fatal(err)
	}
	app2 := second["applications"].([]any)[0].(map[string]any)
	app2["application_name"] = "vision2"
	first["applications"] = append(first["applications"].([]any), app2)
	code, b := th.do(http.MethodPost, "/api/application/", th.token, "application/json", mustJSON(t, first))
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(b), "vision2") {
		t.Fatalf("submit: %d %s, want 422 for vision2", code, b)
	}
	var fs []FADeplView
	th.get("/api/fadepl", &fs)
	admin, _ := th.login("admin", adminPassword)
	apps, _ := admin.ListApplications(th.ctx)
	if len(fs) != 0 || len(apps) != 0 || th.links()["link1"].BWAllocated != 0 {
		t.Errorf("left behind: fadepls %+v, applications %+v, link1 %d bit/s", fs, apps, th.links()["link1"].BWAllocated)
	}
}
