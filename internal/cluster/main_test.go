package cluster

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (Run loops, link
// long-polls, HTTP servers).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
