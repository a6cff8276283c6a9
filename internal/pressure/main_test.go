package pressure

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// contains reports whether err's message contains s.
func contains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}
