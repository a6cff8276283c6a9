package sla

import (
	"strings"
	"testing"
)

// TestHedgeExtensions covers the fields Hedge adds to Oakestra's SLA:
// restart_policy, node_selector and placement_policy.
func TestHedgeExtensions(t *testing.T) {
	base := `{"sla_version":"v2.0","customerID":"c","applications":[{"application_name":"a","application_namespace":"n",
"microservices":[{"microservice_name":"m","microservice_namespace":"n","virtualization":"process","code":"/bin/true",%s}]}]}`
	tests := []struct {
		name    string
		fields  string
		wantErr string // "" = accepted
		check   func(t *testing.T, d *Document)
	}{
		{name: "all set", fields: `"restart_policy":"on-failure","placement_policy":"traffic-most","node_selector":{"accelerator":"t4","region":"r1"}`,
			check: func(t *testing.T, d *Document) {
				s := d.Applications[0].Services[0]
				if s.RestartPolicy != "on-failure" || s.PlacementPolicy != "traffic-most" || s.NodeSelector["accelerator"] != "t4" || len(s.NodeSelector) != 2 {
					t.Errorf("parsed %+v", s)
				}
			}},
		{name: "bad restart policy", fields: `"restart_policy":"sometimes"`, wantErr: "applications[0].microservices[0].restart_policy: must be one of always, on-failure, never"},
		{name: "bad placement policy", fields: `"placement_policy":"fastest"`, wantErr: "applications[0].microservices[0].placement_policy: must be one of best-fit"},
		{name: "selector value not a string", fields: `"node_selector":{"gpu":1}`, wantErr: "applications[0].microservices[0].node_selector.gpu: must be a string"},
		{name: "selector not an object", fields: `"node_selector":["gpu"]`, wantErr: "applications[0].microservices[0].node_selector: must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(strings.Replace(base, "%s", tt.fields, 1)))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				tt.check(t, d)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
