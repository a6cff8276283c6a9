package role

import (
	"errors"
	"testing"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

func TestOverlayOneWorkerPerNetworkNamespace(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockNetNS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockNetNS(dir); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("a second worker in the namespace: %v, want a conflict", err)
	}
	unlock()
	again, err := lockNetNS(dir)
	if err != nil {
		t.Fatalf("after the first worker ended: %v", err)
	}
	again()
}

func TestOverlayModeNamesTheFlag(t *testing.T) {
	_, err := newOverlay(OverlayConfig{Mode: "maybe"}, t.TempDir(), "https://127.0.0.1:1", nil)
	if !errors.Is(err, errdefs.ErrInvalid) || err.Error() != `--overlay "maybe": want on or off: invalid` {
		t.Fatalf("error %v", err)
	}
}
