package link

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine of Run or of the server
// behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
