package sla

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func bigDoc(t *testing.T, apps, servicesPerApp, instances int) []byte {
	t.Helper()
	var as []any
	for a := range apps {
		var ms []any
		for s := range servicesPerApp {
			ms = append(ms, map[string]any{
				"microservice_name": fmt.Sprintf("s%d", s), "microservice_namespace": "test",
				"virtualization": "container", "code": "docker.io/library/nginx:latest",
				"memory": 10, "vcpus": 1, "instances": instances,
			})
		}
		as = append(as, map[string]any{
			"application_name": fmt.Sprintf("a%d", a), "application_namespace": "test",
			"application_desc": "", "microservices": ms,
		})
	}
	b, err := json.Marshal(map[string]any{"sla_version": "v2.0", "customerID": "x", "applications": as})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnitSLAWholeDocumentLimits: one SLA cannot ask for thousands of
// microservices or instances, even when each one is within its own bounds.
func TestUnitSLAWholeDocumentLimits(t *testing.T) {
	tests := []struct {
		name    string
		doc     []byte
		wantMsg string // "" for accepted
	}{
		{"at the limits", bigDoc(t, 10, 10, 10), ""},
		{"too many applications", bigDoc(t, MaxApplications+1, 0, 0), "at most 100 applications per SLA, got 101"},
		{"too many microservices", bigDoc(t, 3, 34, 1), "at most 100 microservices per SLA, got 102"},
		{"too many instances in total", bigDoc(t, 2, 2, 300), "at most 1000 instances in total per SLA, got 1200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.doc)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse: err = %v, want a ValidationError", err)
			}
			for _, p := range ve.Problems {
				if p.Field == "applications" && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Fatalf("problems %+v, want applications: %s", ve.Problems, tt.wantMsg)
		})
	}

	list := func(n int) []byte {
		var doc map[string]any
		if err := json.Unmarshal(bigDoc(t, 1, n, 1), &doc); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"microservices": doc["applications"].([]any)[0].(map[string]any)["microservices"]})
		return b
	}
	if _, _, err := ParseServices(list(MaxMicroservices)); err != nil {
		t.Fatalf("ParseServices at the limit: %v", err)
	}
	_, _, err := ParseServices(list(MaxMicroservices + 1))
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(ve.Error(), "at most 100 microservices per SLA") {
		t.Fatalf("ParseServices over the limit: err = %v", err)
	}
}
