package root

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the root's Run
// loop, the link's long-polls and the HTTP servers the tests start must all
// stop when their test ends.
func TestMain(m *testing.M) {
	if os.Getenv(fakeKubeEnv) != "" { // started by a root under test as hedge-kube
		os.Exit(fakeKube())
	}
	goleak.VerifyTestMain(m)
}
