package cli

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hedgeorch/hedge/api"
)

func TestGetTable(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "apps", args: []string{"get", "apps"},
			want: "" +
				"NAME         NAMESPACE   ID   SERVICES   OWNER   AGE\n" +
				"clientsrvr   test        a1   2          admin   5m\n" +
				"demo         prod        a2   1          bob     2d\n",
		},
		{
			name: "one app by name", args: []string{"get", "application", "demo"},
			want: "" +
				"NAME   NAMESPACE   ID   SERVICES   OWNER   AGE\n" +
				"demo   prod        a2   1          bob     2d\n",
		},
		{
			name: "services", args: []string{"get", "svc"},
			want: "" +
				"NAME               ID   VIRTUALIZATION   READY   CODE                               AGE\n" +
				"clientsrvr/curl    s1   container        0/1     docker.io/curlimages/curl:7.82.0   5m\n" +
				"clientsrvr/nginx   s2   container        1/2     docker.io/library/nginx:latest     5m\n" +
				"demo/nginx         s3   process          0/0     /usr/sbin/nginx                    2d\n",
		},
		{
			name: "instances", args: []string{"get", "instances"},
			want: "" +
				"SERVICE            #   STATUS          CLUSTER   NODE   RESTARTS   AGE   REASON\n" +
				"clientsrvr/curl    0   FAILED          edge1     pi4    3          3m    exit code 1\n" +
				"clientsrvr/nginx   0   RUNNING         edge1     pi4    0          3m    -\n" +
				"clientsrvr/nginx   1   UNSCHEDULABLE   -         -      0          -     0/2 clusters fit: 2 memory\n",
		},
		{
			name: "instances of one service by unique name", args: []string{"get", "inst", "curl"},
			want: "" +
				"SERVICE           #   STATUS   CLUSTER   NODE   RESTARTS   AGE   REASON\n" +
				"clientsrvr/curl   0   FAILED   edge1     pi4    3          3m    exit code 1\n",
		},
		{
			name: "clusters", args: []string{"get", "clusters"},
			want: "" +
				"NAME    ID   STATE   NODES   VCPUS (RES/CAP)   MEMORY (RES/CAP)   CPU     MEM     INSTANCES   LAST SEEN\n" +
				"edge1   c1   READY   2       1.5/8             512M/16G           12.3%   40.0%   3           4s\n",
		},
		{
			name: "active clusters", args: []string{"get", "clusters", "--active"},
			want: "No clusters found.\n",
		},
		{
			name: "nodes", args: []string{"get", "nodes"},
			want: "" +
				"NAME   CLUSTER   STATE            ARCH    RUNTIMES            VCPUS (RES/CAP)   MEMORY (RES/CAP)   CPU    MEM     INSTANCES   LAST SEEN\n" +
				"pi4    edge1     READY,CORDONED   arm64   process,container   1/4               200M/8G            5.0%   33.3%   2           2s\n",
		},
		{
			name: "users", args: []string{"get", "users"},
			want: "" +
				"USERNAME   ROLES                  AGE\n" +
				"admin      Admin                  4d\n" +
				"bob        Application_Provider   3d\n",
		},
		{
			name: "user list is the same", args: []string{"user", "list"},
			want: "" +
				"USERNAME   ROLES                  AGE\n" +
				"admin      Admin                  4d\n" +
				"bob        Application_Provider   3d\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t).loggedIn()
			r := h.run("", tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if r.stdout != tt.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, tt.want)
			}
		})
	}
	t.Run("active clusters use their own endpoint", func(t *testing.T) {
		h := newHarness(t).loggedIn()
		h.run("", "get", "clusters", "--active")
		if !h.fake.saw("GET /api/clusters/active") {
			t.Errorf("requests = %v", h.fake.requests)
		}
	})
}

func TestGetStructuredOutput(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		decode func(t *testing.T, out []byte, unmarshal func([]byte, any) error)
	}{
		{
			name: "apps",
			args: []string{"get", "apps"},
			decode: func(t *testing.T, out []byte, unmarshal func([]byte, any) error) {
				var apps []api.Application
				if err := unmarshal(out, &apps); err != nil {
					t.Fatal(err)
				}
				if len(apps) != 2 || apps[0].Name != "clientsrvr" || apps[1].ServiceIDs[0] != "s3" {
					t.Errorf("apps = %+v", apps)
				}
			},
		},
		{
			name: "one service",
			args: []string{"get", "service", "clientsrvr/nginx"},
			decode: func(t *testing.T, out []byte, unmarshal func([]byte, any) error) {
				var svc api.Service
				if err := unmarshal(out, &svc); err != nil {
					t.Fatal(err)
				}
				if svc.ID != "s2" || len(svc.Instances) != 2 || svc.Spec.Addresses.RRIP != "10.30.55.55" {
					t.Errorf("service = %+v", svc)
				}
			},
		},
		{
			name: "instances carry their service",
			args: []string{"get", "instances", "s2"},
			decode: func(t *testing.T, out []byte, unmarshal func([]byte, any) error) {
				var rows []instanceRow
				if err := unmarshal(out, &rows); err != nil {
					t.Fatal(err)
				}
				if len(rows) != 2 || rows[1].Service != "clientsrvr/nginx" || rows[1].ServiceID != "s2" ||
					rows[1].Status != api.StateUnschedulable || rows[1].Reason != "0/2 clusters fit: 2 memory" {
					t.Errorf("rows = %+v", rows)
				}
			},
		},
		{
			name: "empty list is a list",
			args: []string{"get", "clusters", "--active"},
			decode: func(t *testing.T, out []byte, unmarshal func([]byte, any) error) {
				var cs []api.Cluster
				if err := unmarshal(out, &cs); err != nil {
					t.Fatal(err)
				}
				if cs == nil || len(cs) != 0 {
					t.Errorf("clusters = %#v, want an empty list", cs)
				}
			},
		},
	}
	formats := []struct {
		name      string
		unmarshal func([]byte, any) error
	}{
		{"json", json.Unmarshal},
		// YAML is the JSON form: decoding YAML into a generic value and
		// re-encoding it as JSON must give back the API's field names.
		{"yaml", func(b []byte, v any) error {
			var generic any
			if err := yaml.Unmarshal(b, &generic); err != nil {
				return err
			}
			j, err := json.Marshal(generic)
			if err != nil {
				return err
			}
			return json.Unmarshal(j, v)
		}},
	}
	for _, tt := range tests {
		for _, f := range formats {
			t.Run(tt.name+"/"+f.name, func(t *testing.T) {
				h := newHarness(t).loggedIn()
				r := h.run("", append(tt.args, "-o", f.name)...)
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				if f.name == "yaml" && strings.HasPrefix(strings.TrimSpace(r.stdout), "{") {
					t.Errorf("yaml output is flow style: %s", r.stdout)
				}
				tt.decode(t, []byte(r.stdout), f.unmarshal)
			})
		}
	}
}

func TestYAMLKeepsTypes(t *testing.T) {
	out, err := toYAML(map[string]any{"port": "8080", "flag": "true", "n": 3, "list": []string{}})
	if err != nil {
		t.Fatal(err)
	}
	want := "flag: \"true\"\nlist: []\nn: 3\nport: \"8080\"\n"
	if string(out) != want {
		t.Errorf("yaml = %q, want %q", out, want)
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown resource type", []string{"get", "pods"}, "error: unknown resource type \"pods\": want apps, services, instances, clusters, nodes, events, users or audit\n"},
		{"no resource type", []string{"get"}, "error: name a resource type: apps, services, instances, clusters, nodes, events, users or audit\n"},
		{"bad output format", []string{"get", "apps", "-o", "xml"}, "error: invalid output format \"xml\": want table, json or yaml\n"},
		{"unknown app", []string{"get", "apps", "nope"}, "error: application \"nope\" not found\n"},
		{"unknown service", []string{"describe", "service", "web/nope"}, "error: service \"web/nope\" not found\n"},
		{
			"ambiguous service",
			[]string{"describe", "service", "nginx"},
			"error: service \"nginx\" is ambiguous, it matches clientsrvr/nginx (ID s2, owner admin), demo/nginx (ID s3, owner bob); " +
				"name it as application/service or by ID\n",
		},
		{"wrong argument count", []string{"scale", "clientsrvr/nginx"}, "error: accepts 2 arg(s), received 1\n"},
		{"bad count", []string{"scale", "clientsrvr/nginx", "x"}, "error: invalid number \"x\": want a whole number >= 0\n"},
		{"404 from the root", []string{"logs", "clientsrvr/curl"}, "error: logs of clientsrvr/curl instance 0: 404 Not Found: no such instance\n"},
		{"apply needs a file", []string{"apply"}, "error: required flag(s) \"filename\" not set\n"},
		{"token kind", []string{"token", "create", "--kind", "root"}, "error: invalid --kind \"root\": want cluster or worker\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t).loggedIn()
			r := h.run("", tt.args...)
			if r.code != 1 {
				t.Errorf("exit code = %d, want 1", r.code)
			}
			if r.stderr != tt.want {
				t.Errorf("stderr = %q\nwant     %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestFindService(t *testing.T) {
	svcs := newFakeRoot().services
	tests := []struct {
		ref     string
		wantID  string
		wantErr string
	}{
		{ref: "s3", wantID: "s3"},
		{ref: "clientsrvr/nginx", wantID: "s2"},
		{ref: "demo/nginx", wantID: "s3"},
		{ref: "curl", wantID: "s1"},
		{ref: "nginx", wantErr: `service "nginx" is ambiguous, it matches clientsrvr/nginx (ID s2, owner admin), demo/nginx (ID s3, owner bob); name it as application/service or by ID`},
		{ref: "demo/curl", wantErr: `service "demo/curl" not found`},
		{ref: "clientsrvr", wantErr: `service "clientsrvr" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := findService(svcs, tt.ref)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.ID != tt.wantID {
				t.Errorf("got %q, %v; want %q", got.ID, err, tt.wantID)
			}
		})
	}
	t.Run("not found is api.ErrNotFound", func(t *testing.T) {
		if _, err := findService(svcs, "x"); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("the same app/service twice asks for an ID", func(t *testing.T) {
		dup := append(svcs, api.Service{ID: "s9", AppName: "demo", Owner: "carol", Spec: api.ServiceSpec{Name: "nginx"}})
		_, err := findService(dup, "demo/nginx")
		var amb *ambiguousError
		if !errors.As(err, &amb) || len(amb.candidates) != 2 || !strings.HasSuffix(err.Error(), "name it by ID") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestFindApp(t *testing.T) {
	apps := append(newFakeRoot().apps, api.Application{ID: "a3", Name: "demo", Namespace: "test", Owner: "carol"})
	tests := []struct {
		ref     string
		wantID  string
		wantErr string
	}{
		{ref: "a2", wantID: "a2"},
		{ref: "clientsrvr", wantID: "a1"},
		{ref: "demo", wantErr: `application "demo" is ambiguous, it matches demo (ID a2, namespace prod, owner bob), demo (ID a3, namespace test, owner carol); name it by ID`},
		{ref: "nope", wantErr: `application "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := findApp(apps, tt.ref)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.ID != tt.wantID {
				t.Errorf("got %q, %v; want %q", got.ID, err, tt.wantID)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	h := newHarness(t).loggedIn()
	r := h.run("", "describe", "service", "clientsrvr/nginx")
	if r.code != 0 {
		t.Fatalf("describe service: %s", r.stderr)
	}
	for _, want := range []string{
		"Name:           clientsrvr/nginx\n",
		"Application:    clientsrvr (ID a1)\n",
		"Resources:      1 vCPU, 100 MB memory\n",
		"Addresses:      rr_ip=10.30.55.55\n",
		"Constraints:    direct cluster=edge1\n",
		"Instances (1/2 ready):\n",
		"  0   RUNNING         edge1     pi4    0          -      4242   3m    3m ago    -\n",
		"  1   UNSCHEDULABLE   -         -      0          -      -      -     60s ago   0/2 clusters fit: 2 memory\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("describe service lacks %q:\n%s", want, r.stdout)
		}
	}
	if !h.fake.saw("GET /api/service/s2") {
		t.Error("describe service did not fetch the service itself")
	}

	r = h.run("", "describe", "app", "clientsrvr")
	if r.code != 0 {
		t.Fatalf("describe app: %s", r.stderr)
	}
	for _, want := range []string{
		"Name:      clientsrvr\n",
		"  clientsrvr/curl (ID s1): container docker.io/curlimages/curl:7.82.0, 0/1 ready\n",
		"    0   FAILED   edge1     pi4    3          1      -     3m    10s ago   exit code 1\n",
		"  clientsrvr/nginx (ID s2): container docker.io/library/nginx:latest, 1/2 ready\n",
		"0/2 clusters fit: 2 memory\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("describe app lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "demo/nginx") {
		t.Errorf("describe app shows another app's service:\n%s", r.stdout)
	}

	r = h.run("", "describe", "app", "a1", "-o", "json")
	var detail appDetail
	if err := json.Unmarshal([]byte(r.stdout), &detail); err != nil || detail.ID != "a1" || len(detail.Services) != 2 {
		t.Errorf("describe app -o json = %s (%v)", r.stdout, err)
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {45 * time.Second, "45s"}, {119 * time.Second, "119s"}, {2 * time.Minute, "2m"},
		{119 * time.Minute, "119m"}, {2 * time.Hour, "2h"}, {47 * time.Hour, "47h"}, {48 * time.Hour, "2d"},
	}
	for _, tt := range tests {
		if got := age(t0, t0.Add(-tt.d)); got != tt.want {
			t.Errorf("age(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := age(t0, time.Time{}); got != "-" {
		t.Errorf("age(zero) = %q", got)
	}
}
