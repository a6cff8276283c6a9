package glances

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestFirstSampleCoversTheTimeSinceStart: the cpu figures of the first
// sample cover the time since the source was made, not the machine's whole
// uptime, so a worker asked once while busy does not answer "idle".
func TestFirstSampleCoversTheTimeSinceStart(t *testing.T) {
	dir := t.TempDir()
	stat := filepath.Join(dir, "stat")
	write := func(user, idle int) {
		t.Helper()
		line := func(name string) string {
			return name + " " + strconv.Itoa(user) + " 0 100 " + strconv.Itoa(idle) + " 0 0 0 0 0 0\n"
		}
		if err := os.WriteFile(stat, []byte(line("cpu ")+line("cpu0")+"ctxt 1\nintr 1\nsoftirq 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(100, 100000) // a long, mostly idle uptime
	t.Setenv("HOST_PROC", dir)
	h := NewHostSource(WithoutProcesses())
	write(1000, 100100) // then 900 ticks busy, 100 idle
	var s Sample
	if err := h.sampleCPU(context.Background(), &s, 1, true); err != nil {
		t.Fatal(err)
	}
	if s.CPU.Total < 85 || s.CPU.Total > 95 {
		t.Errorf("first sample's cpu total = %.1f %%, want about 90 (the time since start, not since boot)", s.CPU.Total)
	}
}
