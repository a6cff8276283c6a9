package worker

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hedgeorch/hedge/internal/runtime/process"
)

// TestMain checks that the worker's start and stop goroutines and restart
// timers are all gone when the tests end.
func TestMain(m *testing.M) {
	process.RunInitIfAsked() // the process sandbox's init is this test binary
	goleak.VerifyTestMain(m)
}
