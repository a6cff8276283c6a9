package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

// webSubmit is what the fake answers to an SLA: one app with one service of
// two instances.
func webSubmit(string, []byte) (api.SubmitResult, *api.Error) {
	svc := api.Service{ID: "s9", ApplicationID: "a9", AppName: "web", Spec: api.ServiceSpec{Name: "nginx", Instances: 2},
		Instances: []api.Instance{{Number: 0, Status: api.StateRequested}, {Number: 1, Status: api.StateRequested}}}
	return api.SubmitResult{
		Applications: []api.Application{{ID: "a9", Name: "web", ServiceIDs: []string{"s9"}}},
		Services:     []api.Service{svc},
	}, nil
}

// states sets the instances' states in order.
func states(svc *api.Service, ss ...api.InstanceState) {
	for i, s := range ss {
		svc.Instances[i].Status = s
	}
}

func TestApply(t *testing.T) {
	const created = "application web created (ID a9)\nservice web/nginx created (ID s9)\n"
	tests := []struct {
		name      string
		file      string // name of the SLA file written in a temp dir; "-" = stdin
		content   string
		args      []string
		submit    func(string, []byte) (api.SubmitResult, *api.Error)
		advance   func(svc *api.Service, polls int)
		wantCode  int
		wantOut   string
		wantJSON  bool   // stdout is the SubmitResult as JSON
		wantErr   string // exact stderr; "BAD" stands for the file's path
		wantCType string
		wantPolls bool
	}{
		{
			name: "wait until running", file: "web.yaml", content: "sla_version: v2.0\n", submit: webSubmit,
			advance: func(svc *api.Service, polls int) {
				switch polls {
				case 0:
					states(svc, api.StateRequested, api.StateRequested)
				case 1:
					states(svc, api.StateScheduled, api.StateStarting)
				case 2:
					states(svc, api.StateRunning, api.StateStarting)
				case 3:
					states(svc, api.StateRunning, api.StateStarting) // no change, no line
				default:
					states(svc, api.StateRunning, api.StateRunning)
				}
			},
			wantOut: created,
			wantErr: "web/nginx: 0/2 REQUESTED\n" +
				"web/nginx: 0/2 1 SCHEDULED, 1 STARTING\n" +
				"web/nginx: 1/2 1 STARTING, 1 RUNNING\n" +
				"web/nginx: 2/2 RUNNING\n",
			wantCType: "application/yaml", wantPolls: true,
		},
		{
			name: "one-shot completed counts as done", file: "web.yml", content: "x: 1\n", submit: webSubmit,
			advance: func(svc *api.Service, polls int) { states(svc, api.StateCompleted, api.StateRunning) },
			wantOut: created, wantErr: "web/nginx: 2/2 1 RUNNING, 1 COMPLETED\n",
			wantCType: "application/yaml", wantPolls: true,
		},
		{
			name: "a short failure is tolerated", file: "web.json", content: "{}", submit: webSubmit,
			advance: func(svc *api.Service, polls int) {
				svc.Instances[1].Reason = ""
				if polls == 0 {
					svc.Instances[1].Reason = "exit code 2"
					states(svc, api.StateRunning, api.StateFailed)
					return
				}
				states(svc, api.StateRunning, api.StateRunning)
			},
			wantOut: created, wantErr: "web/nginx: 1/2 1 RUNNING, 1 FAILED (exit code 2)\nweb/nginx: 2/2 RUNNING\n",
			wantCType: "application/json", wantPolls: true,
		},
		{
			name: "unschedulable for too long fails with the reason", file: "web.json", content: "{}", submit: webSubmit,
			advance: func(svc *api.Service, polls int) {
				states(svc, api.StateRunning, api.StateUnschedulable)
				svc.Instances[1].Reason = "0/1 clusters fit: 1 arch"
			},
			wantCode: 1, wantOut: created,
			wantErr: "web/nginx: 1/2 1 UNSCHEDULABLE, 1 RUNNING (0/1 clusters fit: 1 arch)\n" +
				"error: web/nginx instance 1 is UNSCHEDULABLE: 0/1 clusters fit: 1 arch\n",
			wantCType: "application/json", wantPolls: true,
		},
		{
			name: "timeout", file: "web.json", content: "{}", submit: webSubmit, args: []string{"--timeout", "300ms"},
			advance:  func(svc *api.Service, polls int) { states(svc, api.StateStarting, api.StateStarting) },
			wantCode: 1, wantOut: created,
			wantErr:   "web/nginx: 0/2 STARTING\nerror: timed out after 300ms waiting for web/nginx: 0/2 STARTING\n",
			wantCType: "application/json", wantPolls: true,
		},
		{
			name: "no wait", file: "-", content: "  {\"sla_version\": \"v2.0\"}", submit: webSubmit, args: []string{"--wait=false"},
			wantOut: created, wantCType: "application/json",
		},
		{
			name: "yaml on stdin is recognised", file: "-", content: "sla_version: v2.0\n", submit: webSubmit, args: []string{"--wait=false"},
			wantOut: created, wantCType: "application/yaml",
		},
		{
			name: "json output", file: "-", content: "{}", submit: webSubmit, args: []string{"--wait=false", "-o", "json"},
			wantJSON: true, wantCType: "application/json",
		},
		{
			name: "validation problems", file: "bad.json", content: "{}",
			wantCode: 1,
			wantErr: "error: apply BAD: 400 Bad Request: validation failed; applications[0].microservices[0].memory: must be >= 0; " +
				"applications[0].application_name: must match ^[a-zA-Z0-9]{1,30}$\n",
			wantCType: "application/json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t).loggedIn()
			h.fake.submit, h.fake.advance = tt.submit, tt.advance
			path, stdin := tt.file, ""
			if tt.file == "-" {
				stdin = tt.content
			} else {
				path = filepath.Join(t.TempDir(), tt.file)
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := h.run(stdin, append([]string{"apply", "-f", path}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", r.code, tt.wantCode)
			}
			if tt.wantJSON {
				var res api.SubmitResult
				if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Services) != 1 || res.Services[0].ID != "s9" {
					t.Errorf("stdout = %q (%v), want the SubmitResult as JSON", r.stdout, err)
				}
			} else if r.stdout != tt.wantOut {
				t.Errorf("stdout = %q, want %q", r.stdout, tt.wantOut)
			}
			if want := strings.ReplaceAll(tt.wantErr, "BAD", path); r.stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
			}
			if len(h.fake.contentTypes) != 1 || h.fake.contentTypes[0] != tt.wantCType {
				t.Fatalf("content types = %v, want [%s]", h.fake.contentTypes, tt.wantCType)
			}
			if string(h.fake.bodies[0]) != tt.content {
				t.Errorf("body = %q, want the file as it is", h.fake.bodies[0])
			}
			if got := h.fake.polls["s9"] > 0; got != tt.wantPolls {
				t.Errorf("polled = %v, want %v", got, tt.wantPolls)
			}
		})
	}
}

func TestScale(t *testing.T) {
	h := newHarness(t).loggedIn()
	h.fake.advance = func(svc *api.Service, polls int) {
		if svc.Spec.Instances == 3 && len(svc.Instances) < 3 {
			svc.Instances = append(svc.Instances[:1], api.Instance{Number: 1, Status: api.StateStarting}, api.Instance{Number: 2, Status: api.StateStarting})
			return
		}
		states(svc, api.StateRunning, api.StateRunning, api.StateRunning)
	}
	r := h.run("", "scale", "clientsrvr/nginx", "3", "--wait")
	if r.code != 0 {
		t.Fatalf("scale: %s", r.stderr)
	}
	if r.stdout != "service clientsrvr/nginx scaled to 3\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	if want := "clientsrvr/nginx: 1/3 2 STARTING, 1 RUNNING\nclientsrvr/nginx: 3/3 RUNNING\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if h.fake.service("s2").Spec.Instances != 3 {
		t.Error("the root was not asked to scale")
	}
}

func TestSummarize(t *testing.T) {
	inst := func(s api.InstanceState, reason string) api.Instance { return api.Instance{Status: s, Reason: reason} }
	tests := []struct {
		name     string
		insts    []api.Instance
		want     int
		wantLine string
		wantDone bool
	}{
		{"no instances yet", nil, 1, "0/1 no instances", false},
		{"all running", []api.Instance{inst(api.StateRunning, ""), inst(api.StateRunning, "")}, 2, "2/2 RUNNING", true},
		{"scaled to zero", []api.Instance{inst(api.StateUndeployed, "")}, 0, "0/0 no instances", true},
		{"scaling down waits for the extra instance", []api.Instance{inst(api.StateRunning, ""), inst(api.StateRunning, "")}, 1, "2/1 RUNNING", false},
		{"undeployed are not counted", []api.Instance{inst(api.StateRunning, ""), inst(api.StateUndeployed, "")}, 1, "1/1 RUNNING", true},
		{
			"mixed, in lifecycle order, with the first reason",
			[]api.Instance{inst(api.StateFailed, "exit 1"), inst(api.StateRunning, ""), inst(api.StateRequested, "")}, 3,
			"1/3 1 REQUESTED, 1 RUNNING, 1 FAILED (exit 1)", false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := summarize(api.Service{Instances: tt.insts}, tt.want)
			if p.line != tt.wantLine || p.done != tt.wantDone {
				t.Errorf("summarize = %q done=%v, want %q done=%v", p.line, p.done, tt.wantLine, tt.wantDone)
			}
		})
	}
}
