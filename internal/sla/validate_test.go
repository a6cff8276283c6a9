package sla

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

func validSpec() api.ServiceSpec {
	return api.ServiceSpec{
		Name: "web", Namespace: "prod", Virtualization: api.VirtContainer,
		Code: "nginx:1.25", MemoryMB: 128, VCPUs: 0.5, Instances: 2, Port: "80",
	}
}

// TestValidateService covers specs that reach ValidateService without a
// descriptor (built in code or decoded by another API), including values the
// descriptor walker would have normalised or rejected earlier.
func TestValidateService(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		modify func(s *api.ServiceSpec)
		want   []Problem // messages are matched by substring
	}{
		{name: "valid", modify: func(*api.ServiceSpec) {}},
		{name: "valid process", modify: func(s *api.ServiceSpec) {
			s.Virtualization, s.Code = api.VirtProcess, "/usr/bin/env"
		}},
		{name: "raw process", modify: func(s *api.ServiceSpec) {
			s.Virtualization, s.Code, s.Raw = api.VirtProcess, "/usr/bin/env", true
		}},
		{name: "raw container", modify: func(s *api.ServiceSpec) { s.Raw = true },
			want: []Problem{{Field: "raw", Message: "only for virtualization process"}}},
		{name: "no path prefix", modify: func(s *api.ServiceSpec) { s.MemoryMB = -1 },
			want: []Problem{{Field: "memory", Message: "must be >= 0, got -1"}}},
		{name: "path prefix", path: "svc", modify: func(s *api.ServiceSpec) { s.MemoryMB = -1 },
			want: []Problem{{Field: "svc.memory", Message: "must be >= 0"}}},
		{name: "arch alias not normalised", modify: func(s *api.ServiceSpec) { s.Arch = []string{"x86_64"} },
			want: []Problem{{Field: "arch[0]", Message: `write "amd64" instead of "x86_64"`}}},
		{name: "vcpus NaN", modify: func(s *api.ServiceSpec) { s.VCPUs = math.NaN() },
			want: []Problem{{Field: "vcpus", Message: "must be a finite number"}}},
		{name: "instances too many", modify: func(s *api.ServiceSpec) { s.Instances = 5000 },
			want: []Problem{{Field: "instances", Message: "must be <= 1000"}}},
		{name: "constraint fields of another type", modify: func(s *api.ServiceSpec) {
			s.Constraints = []api.Constraint{{Type: "direct", Cluster: "c", Allowed: []string{"x"}, Threshold: 3}}
		}, want: []Problem{
			{Field: "constraints[0].allowed", Message: "not used by a direct constraint"},
			{Field: "constraints[0].threshold", Message: "not used by a direct constraint"},
		}},
		{name: "geo threshold infinite", modify: func(s *api.ServiceSpec) {
			s.Constraints = []api.Constraint{{Type: "geo", Location: "0,0", Threshold: math.Inf(1)}}
		}, want: []Problem{{Field: "constraints[0].threshold", Message: "must be a number > 0"}}},
		{name: "everything missing", modify: func(s *api.ServiceSpec) { *s = api.ServiceSpec{} }, want: []Problem{
			{Field: "microservice_name", Message: "required"},
			{Field: "microservice_namespace", Message: "required"},
			{Field: "virtualization", Message: "required"},
			{Field: "code", Message: "required"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.modify(&s)
			got := ValidateService(tt.path, &s)
			if len(got) != len(tt.want) {
				t.Fatalf("ValidateService = %v, want %v", got, tt.want)
			}
			for i, w := range tt.want {
				if got[i].Field != w.Field || !strings.Contains(got[i].Message, w.Message) {
					t.Errorf("problem %d = %v, want %q containing %q", i, got[i], w.Field, w.Message)
				}
			}
		})
	}
}

func TestValidateServiceNil(t *testing.T) {
	got := ValidateService("microservices[0]", nil)
	want := []Problem{{Field: "microservices[0]", Message: "required"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ValidateService(nil) = %v, want %v", got, want)
	}
}

func TestCheckImageRef(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		ref     string
		wantErr string
	}{
		{ref: "nginx"},
		{ref: "nginx:1.25-alpine"},
		{ref: "docker.io/library/nginx:latest"},
		{ref: "docker.io/curlimages/curl:7.82.0"},
		{ref: "localhost:5000/team/app_x/web-ui:v1.2"},
		{ref: "registry.example.com:443/a/b"},
		{ref: "ghcr.io/org/img@" + digest},
		{ref: "ghcr.io/org/img:v1@" + digest},
		{ref: "[::1]:5000/img"},
		{ref: "Registry.Example.com/img"},

		{ref: "Nginx", wantErr: `path component "Nginx"`},
		{ref: "nginx latest", wantErr: "path component"},
		{ref: "nginx:", wantErr: `tag "" is malformed`},
		{ref: "nginx:-x", wantErr: `tag "-x" is malformed`},
		{ref: ":latest", wantErr: "repository name is missing"},
		{ref: "foo//bar", wantErr: `path component ""`},
		{ref: "nginx@sha256:abc", wantErr: "digest"},
		{ref: "https://docker.io/nginx", wantErr: `registry "https:" is malformed`},
		{ref: "bad_domain.com:x/img", wantErr: "registry"},
		{ref: strings.Repeat("a", 256), wantErr: "longer than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			err := checkImageRef(tt.ref)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("checkImageRef(%q) = %v, want nil", tt.ref, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("checkImageRef(%q) = %v, want an error containing %q", tt.ref, err, tt.wantErr)
			}
		})
	}
}

func TestNormalizeArch(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"amd64", "amd64", true},
		{"x86_64", "amd64", true},
		{"AARCH64", "arm64", true},
		{"armv7l", "arm", true},
		{"i686", "386", true},
		{"riscv64", "riscv64", true},
		{"sparc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := NormalizeArch(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("NormalizeArch(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
