package role

import (
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/hedgeorch/hedge/internal/runtime"
)

func TestProbeSocket(t *testing.T) {
	dir := t.TempDir()
	listening := filepath.Join(dir, "up.sock")
	ln, err := net.Listen("unix", listening)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A socket file left by a daemon that is gone: nobody accepts.
	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = sl.Close()

	tests := []struct {
		name string
		path string
		ok   bool
	}{
		{name: "a daemon listens", path: listening, ok: true},
		{name: "socket of a daemon that is gone", path: stale},
		{name: "no socket", path: filepath.Join(dir, "none.sock")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := probeSocket(tt.path)
			if tt.ok && err != nil {
				t.Errorf("probeSocket: %v", err)
			}
			if !tt.ok && !errors.Is(err, runtime.ErrUnavailable) {
				t.Errorf("probeSocket: %v, want ErrUnavailable", err)
			}
		})
	}
}
