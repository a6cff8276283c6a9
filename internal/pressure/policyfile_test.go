package pressure

import (
	"errors"
	"strings"
	"testing"
)

func TestApplyPolicyFile(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, p Policy)
	}{
		{name: "default and one node", yaml: "default: {cpu: 70, memory: 75}\nnodes:\n  w1: {cpu: 50}\n",
			check: func(t *testing.T, p Policy) {
				if p.For("w2").CPUPercent != 70 || p.For("w2").MemoryPercent != 75 {
					t.Errorf("default = %+v", p.For("w2"))
				}
				if got := p.For("w1"); got.CPUPercent != 50 || got.MemoryPercent != 0 {
					t.Errorf("w1 = %+v; want cpu 50 and memory unwatched", got)
				}
			}},
		{name: "empty keeps the base", yaml: "",
			check: func(t *testing.T, p Policy) {
				if p.Default != DefaultPolicy().Default {
					t.Errorf("default = %+v", p.Default)
				}
			}},
		{name: "unknown field", yaml: "default: {cpus: 70}\n", wantErr: "cpus"},
		{name: "negative threshold", yaml: "default: {cpu: -1}\n", wantErr: "CPUPercent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ApplyPolicyFile(DefaultPolicy(), []byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalid naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}
