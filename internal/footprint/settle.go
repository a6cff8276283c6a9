package footprint

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// StartupSettle is how long after start a server process is left to finish
// its start-up (join, first reports, first reconcile) before TrimAfter trims.
const StartupSettle = 3 * time.Second

// TrimAfter waits d (or until ctx ends), then returns start-up's garbage to
// the system (a GC and debug.FreeOSMemory, once) and calls Trim. It is for a
// server's main goroutine to start once: `go footprint.TrimAfter(ctx, ...)`.
// It logs what it freed at debug level; failing to trim only costs memory,
// so it is logged at debug level too.
func TrimAfter(ctx context.Context, d time.Duration, log *slog.Logger) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	runtime.GC()
	debug.FreeOSMemory()
	kb, err := Trim()
	switch {
	case errors.Is(err, ErrUnsupported):
	case err != nil:
		log.Debug("trim start-up mappings", "err", err)
	default:
		log.Debug("start-up mappings of the executable dropped", "resident_kb", kb)
	}
}

// LeanGCPercent is the GC percent of a process whose heap is small and
// allocates little when idle, such as a worker (see LeanGC).
const LeanGCPercent = 50

// LeanGC sets the garbage collector's percent to percent, unless the GOGC
// environment variable chose one: the heap then grows to 1.5 times what is
// live between collections instead of 2 times (and the runtime's minimum
// heap goal, 4 MB at 100, halves). It costs more frequent collections when
// the process allocates a lot, which a worker does only while it starts
// many instances at once.
func LeanGC(percent int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
}
