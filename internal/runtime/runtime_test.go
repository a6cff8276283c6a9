package runtime

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{name: "root's 24 hex digits", id: "0f3c9d8e7a6b5c4d3e2f1a0b", ok: true},
		{name: "one letter", id: "a", ok: true},
		{name: "service and number", id: "a1b2c3-0", ok: true},
		{name: "dots and underscores", id: "web.svc_1", ok: true},
		{name: "mixed separators", id: "svc_2.x", ok: true},
		{name: "longest", id: strings.Repeat("a", maxIDLength), ok: true},
		{name: "too long", id: strings.Repeat("a", maxIDLength+1)},
		{name: "empty", id: ""},
		{name: "dot", id: "."},
		{name: "dot dot", id: ".."},
		{name: "slash", id: "a/b"},
		{name: "path", id: "../etc"},
		{name: "leading dash", id: "-a"},
		{name: "trailing dot", id: "a."},
		{name: "double separator", id: "a--b"},
		{name: "space", id: "a b"},
		{name: "not ascii", id: "é"},
		{name: "nul", id: "a\x00b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckID(tt.id)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
			}
			if err != nil && (!errors.Is(err, ErrInvalidID) || !strings.Contains(err.Error(), "letters or digits")) {
				t.Errorf("CheckID(%q) = %v, want ErrInvalidID saying what is wanted", tt.id, err)
			}
		})
	}
}
