package placement

import (
	"testing"

	"github.com/hedgeorch/hedge/api"
)

func TestRuntime(t *testing.T) {
	tests := []struct {
		name string
		virt string
		have []string
		want string
	}{
		{name: "container available", virt: api.VirtContainer, have: []string{api.VirtProcess, api.VirtContainer}, want: ""},
		{name: "process missing", virt: api.VirtProcess, have: []string{api.VirtContainer}, want: "runtime process not available"},
		{name: "unikernel missing", virt: api.VirtUnikernel, have: []string{api.VirtProcess, api.VirtContainer}, want: "runtime unikernel not available"},
		{name: "candidate reports no runtime", virt: api.VirtContainer, have: nil, want: "runtime container not available"},
		{name: "request names no runtime", virt: "", have: nil, want: ""},
		{name: "names are exact", virt: "Container", have: []string{api.VirtContainer}, want: "runtime Container not available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mismatch := runFilter(Runtime{}, req(withVirt(tt.virt)), cand("a", withRuntimes(tt.have...)))
			if got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
			if mismatch != "" {
				t.Error(mismatch)
			}
		})
	}
}
