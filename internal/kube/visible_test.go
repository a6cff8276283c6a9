package kube

import (
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

func TestRedactURLUnit(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no credentials", "https://charts.example/stable", "https://charts.example/stable"},
		{"user and password", "https://alice:s3cret@charts.example/x", "https://alice:xxxxx@charts.example/x"},
		{"token as user", "https://ghp_token@charts.example", "https://xxxxx@charts.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := publicRepo(api.ChartRepo{URL: tt.in}).URL
			if got != tt.want || strings.Contains(got, "s3cret") || strings.Contains(got, "ghp_token") {
				t.Errorf("publicRepo(%q).URL = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEnablerValuesOnlyForAdminsUnit(t *testing.T) {
	es := func() []api.Enabler {
		return []api.Enabler{{Name: "db", Values: map[string]any{"auth": map[string]any{"rootPassword": "hunter2"}}}}
	}
	if got := visibleEnablers(es(), false); got[0].Values != nil {
		t.Errorf("a non-admin sees the values: %v", got[0].Values)
	}
	if got := visibleEnablers(es(), true); got[0].Values == nil {
		t.Error("an admin does not see the values")
	}
}
