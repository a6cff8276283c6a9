package root

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the root's Run
// loop, the link's long-polls and the HTTP servers the tests start must all
// stop when their test ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
