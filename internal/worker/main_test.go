package worker

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the worker's start and stop goroutines and restart
// timers are all gone when the tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
