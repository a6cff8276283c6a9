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
	if got := (Viewer{UserID: "u-other"}).view(es()[0]); got.Values != nil {
		t.Errorf("a non-admin sees the values: %v", got.Values)
	}
	if got := (Viewer{Admin: true}).view(es()[0]); got.Values == nil {
		t.Error("an admin does not see the values")
	}
}

func TestEnablerValuesForTheOwnerUnit(t *testing.T) {
	e := api.Enabler{Name: "db", OwnerID: "u-1", Values: map[string]any{"password": "hunter2"}}
	tests := []struct {
		name string
		v    Viewer
		sees bool
	}{
		{"owner", Viewer{UserID: "u-1"}, true},
		{"another user", Viewer{UserID: "u-2"}, false},
		{"no user id", Viewer{}, false},
		{"admin", Viewer{UserID: "u-2", Admin: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.view(e); (got.Values != nil) != tt.sees {
				t.Errorf("%+v sees values %v, want seen = %v", tt.v, got.Values, tt.sees)
			}
		})
	}
	// An enabler of no recorded owner (installed before owners were
	// recorded) shows its values to Admins only.
	if got := (Viewer{}).view(api.Enabler{Values: map[string]any{"a": 1}}); got.Values != nil {
		t.Error("an enabler without owner shows its values to a caller without user id")
	}
}
