package placement

import "testing"

func TestArch(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		have    []string
		want    string
	}{
		{name: "any arch allowed", allowed: nil, have: []string{"riscv64"}, want: ""},
		{name: "same arch", allowed: []string{"amd64"}, have: []string{"amd64"}, want: ""},
		{name: "one of several allowed", allowed: []string{"arm64", "amd64"}, have: []string{"amd64"}, want: ""},
		{name: "cluster with mixed nodes", allowed: []string{"arm64"}, have: []string{"amd64", "arm64"}, want: ""},
		{name: "alias x86_64 is amd64", allowed: []string{"x86_64"}, have: []string{"amd64"}, want: ""},
		{name: "alias aarch64 is arm64", allowed: []string{"arm64"}, have: []string{"aarch64"}, want: ""},
		{name: "wrong arch", allowed: []string{"arm64"}, have: []string{"amd64"}, want: "arch arm64 not available"},
		{name: "none of several", allowed: []string{"arm64", "riscv64"}, have: []string{"amd64"}, want: "arch arm64/riscv64 not available"},
		{name: "candidate reports no arch", allowed: []string{"amd64"}, have: nil, want: "arch amd64 not available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mismatch := runFilter(Arch{}, req(withReqArch(tt.allowed...)), cand("a", withArch(tt.have...)))
			if got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
			if mismatch != "" {
				t.Error(mismatch)
			}
		})
	}
}
