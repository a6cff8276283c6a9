package process

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLogBounded(t *testing.T) {
	const limit = 64 << 10
	d, _ := newTestDriver(t, Options{LogLimit: limit, LogCheckInterval: 20 * time.Millisecond})
	// About 400 KB of numbered lines, then silence.
	script := `i=0; while [ $i -lt 40000 ]; do echo "line $i"; i=$((i+1)); done; echo done; sleep 60`
	if _, err := d.Start(context.Background(), shSpec("chatty", script)); err != nil {
		t.Fatal(err)
	}
	waitLogs(t, d, "chatty", "done\n")
	// One more check once the child is quiet brings it under the limit.
	eventually(t, "the log is trimmed below the limit", func() bool {
		fi, err := os.Stat(d.logPath("chatty"))
		return err == nil && fi.Size() <= limit
	})
	tail, err := d.Logs(context.Background(), "chatty", 100)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(tail), "line 39999\ndone\n") {
		t.Errorf("Logs tail = %q, want it to end with the latest lines", tail)
	}
	all, err := d.Logs(context.Background(), "chatty", 0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(all, []byte("line 0\n")) {
		t.Errorf("the oldest line is still in the log after trimming")
	}
	// The child keeps writing at the end of the trimmed file (O_APPEND),
	// not at its old offset, which would leave a hole of zeros.
	if bytes.IndexByte(all, 0) >= 0 {
		t.Errorf("the trimmed log holds NUL bytes: the child wrote at a stale offset")
	}
}
