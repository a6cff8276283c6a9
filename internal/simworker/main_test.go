package simworker

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (link loops,
// simulated starts, HTTP servers).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
