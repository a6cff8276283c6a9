package placement

import (
	"testing"

	"go.uber.org/goleak"
)

// Place starts goroutines to scan long candidate lists; none may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
