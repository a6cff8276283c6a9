package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oakClient calls the root over raw HTTP as Oakestra's CLI and dashboard
// do: JSON in, JSON out, a bearer token, an Origin header.
type oakClient struct {
	t     *testing.T
	url   string
	token string
}

func (o *oakClient) call(method, path string, body any, want int) any {
	o.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				o.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, o.url+path, rd)
	if err != nil {
		o.t.Fatal(err)
	}
	req.Header.Set("Origin", "http://dash.example")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := httpClient(o.t, o.url).Do(req)
	if err != nil {
		o.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		o.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, resp.StatusCode, want, out)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://dash.example" {
		o.t.Errorf("%s %s: Access-Control-Allow-Origin %q, want the dashboard's origin", method, path, got)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		o.t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, out)
	}
	return v
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func arr(v any) []any          { a, _ := v.([]any); return a }

// oakInstances returns the service's instance_list, read as Oakestra's CLI
// reads it.
func (o *oakClient) instances(id string) []map[string]any {
	o.t.Helper()
	var out []map[string]any
	for _, in := range arr(obj(o.call("GET", "/api/service/"+id, nil, 200))["instance_list"]) {
		out = append(out, obj(in))
	}
	return out
}

func (o *oakClient) waitRunning(id string, n int) []map[string]any {
	o.t.Helper()
	var ins []map[string]any
	eventually(o.t, 30*time.Second, fmt.Sprintf("%d RUNNING instances", n), func() (bool, string) {
		ins = o.instances(id)
		var st []string
		for _, in := range ins {
			st = append(st, fmt.Sprint(in["status"]))
		}
		ok := len(ins) == n
		for _, s := range st {
			ok = ok && s == "RUNNING"
		}
		return ok, strings.Join(st, ",")
	})
	return ins
}

// TestE2EOakestraWorkflow follows Oakestra's own workflow against real
// root, cluster and worker processes, over raw HTTP: register an SLA
// (nothing runs), deploy instance by instance, scale down by instance,
// delete. Each step counts the real OS processes.
func TestE2EOakestraWorkflow(t *testing.T) {
	dir := t.TempDir()
	pw := randomPassword()
	apiAddr := freeAddr(t)
	url := "https://" + apiAddr
	startProc(t, "root", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "root", "--data-dir", filepath.Join(dir, "root"),
		"--api-addr", apiAddr, "--cors-origin", "http://dash.example")
	waitHealthy(t, url, filepath.Join(dir, "root"))
	c := login(t, url, pw)
	ct, err := c.CreateToken(t.Context(), "cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clusterAddr := freeAddr(t)
	startProc(t, "cluster", nil, "cluster", "--data-dir", filepath.Join(dir, "cluster"), "--root", url,
		"--join-token", ct.Token, "--listen", clusterAddr, "--name", "site1")
	wt, err := c.CreateToken(t.Context(), "worker", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	startProc(t, "w1", nil, "worker", "--data-dir", filepath.Join(dir, "w1"), "--cluster", "https://"+clusterAddr,
		"--join-token", wt.Token, "--name", "w1", "--memory-mb", "500", "--heartbeat", "500ms")

	// The dashboard's preflight, then its login.
	req, _ := http.NewRequest(http.MethodOptions, url+"/api/auth/login", nil)
	req.Header.Set("Origin", "http://dash.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := httpClient(t, url).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "http://dash.example" {
		t.Fatalf("preflight: %s, allow-origin %q", resp.Status, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	o := &oakClient{t: t, url: url}
	o.token = obj(o.call("POST", "/api/auth/login", map[string]any{"username": "admin", "password": pw}, 200))["token"].(string)

	eventually(t, 30*time.Second, "an active cluster", func() (bool, string) {
		cl := arr(o.call("GET", "/api/clusters/active", nil, 200))
		return len(cl) == 1 && obj(cl[0])["active"] == true && obj(cl[0])["active_nodes"] == 1.0, fmt.Sprint(cl)
	})

	// oak app create -f sla.json: registered, nothing runs.
	apps := arr(o.call("POST", "/api/application/", echoSLA("oakapp", 100), 200))
	if len(apps) != 1 || obj(obj(apps[0])["_id"])["$oid"] == "" {
		t.Fatalf("POST /api/application/ answered %v, want the caller's one application with its _id", apps)
	}
	appID := obj(apps[0])["applicationID"].(string)
	svcs := arr(o.call("GET", "/api/services/"+appID, nil, 200))
	if len(svcs) != 1 || obj(svcs[0])["microservice_name"] != "echo" {
		t.Fatalf("services of the application: %v", svcs)
	}
	id := obj(svcs[0])["microserviceID"].(string)
	if n := len(o.instances(id)); n != 0 {
		t.Fatalf("%d instances after registering the SLA, want 0", n)
	}
	if p := echoProcesses(t); len(p) != 0 {
		t.Fatalf("%d echo processes after registering the SLA, want 0", len(p))
	}

	// Deploy one instance, then a second: one process each.
	o.call("POST", "/api/service/"+id+"/instance", nil, 200)
	ins := o.waitRunning(id, 1)
	if p := echoProcesses(t); len(p) != 1 {
		t.Fatalf("%d echo processes after one deploy, want 1", len(p))
	}
	if ins[0]["cluster_id"] == "" || ins[0]["worker_id"] == "" {
		t.Errorf("instance 0: cluster_id %v worker_id %v, want both", ins[0]["cluster_id"], ins[0]["worker_id"])
	}
	// oak s logs: the tail of the instance's output in the service view.
	eventually(t, 10*time.Second, "the instance's logs in instance_list[0].logs", func() (bool, string) {
		l := fmt.Sprint(o.instances(id)[0]["logs"])
		return strings.Contains(l, "listening on"), l
	})
	// Hedge's own client polls the view without the tails (?logs=false).
	for _, in := range arr(obj(o.call("GET", "/api/service/"+id+"?logs=false", nil, 200))["instance_list"]) {
		if l := fmt.Sprint(obj(in)["logs"]); strings.Contains(l, "listening on") {
			t.Errorf("?logs=false still carried the log tail %q", l)
		}
	}
	o.call("POST", "/api/service/"+id+"/instance", nil, 200)
	o.waitRunning(id, 2)
	eventually(t, 10*time.Second, "two echo processes", func() (bool, string) {
		return len(echoProcesses(t)) == 2, fmtInts(echoProcesses(t))
	})

	// Scale down by instance.
	del := obj(o.call("DELETE", "/api/service/"+id+"/instance/1", nil, 200))
	if del["message"] == "" {
		t.Errorf("DELETE instance answered %v, want a message", del)
	}
	o.waitRunning(id, 1)
	eventually(t, 20*time.Second, "one echo process", func() (bool, string) {
		return len(echoProcesses(t)) == 1, fmtInts(echoProcesses(t))
	})

	// Delete the application.
	if m := obj(o.call("DELETE", "/api/application/"+appID, nil, 200)); m["message"] == "" {
		t.Errorf("DELETE application answered %v, want a message", m)
	}
	eventually(t, 20*time.Second, "no echo process left", func() (bool, string) {
		return len(echoProcesses(t)) == 0, fmtInts(echoProcesses(t))
	})
	if l := arr(o.call("GET", "/api/applications/", nil, 200)); len(l) != 0 {
		t.Errorf("%d applications after delete, want 0", len(l))
	}
}
