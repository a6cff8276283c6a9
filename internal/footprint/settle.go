package footprint

import (
	"context"
	"errors"
	"log/slog"
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
