package process

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
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

func TestTrimLog(t *testing.T) {
	tests := []struct {
		name string
		trim func(path string, limit int64) error
	}{
		{name: "in place or copy", trim: func(path string, limit int64) error {
			_, err := trimLog(path, limit, nil)
			return err
		}},
		{name: "copy", trim: func(path string, limit int64) error {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			_, err = trimByCopy(f, fi.Size(), limit/2, nil)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "output.log")
			var content bytes.Buffer
			for i := range 10000 {
				fmt.Fprintf(&content, "line %05d\n", i) // 11 bytes a line
			}
			if err := os.WriteFile(path, content.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			const limit = 32 << 10
			if err := tt.trim(path, limit); err != nil {
				t.Fatalf("trim: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > limit || len(got) < limit/2-11 {
				t.Errorf("trimmed size = %d, want about half of %d", len(got), limit)
			}
			if !bytes.HasSuffix(content.Bytes(), got) {
				t.Errorf("trimmed log is not the tail of the original")
			}
			if !bytes.HasSuffix(got, []byte("line 09999\n")) {
				t.Errorf("trimmed log lost the latest line")
			}
		})
	}
}

func TestTrimLogUnderLimitUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output.log")
	if err := os.WriteFile(path, []byte("short\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := trimLog(path, 1024, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "short\n" {
		t.Errorf("log under the limit changed to %q", got)
	}
}

func TestTailFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		n    int
		want string
	}{
		{name: "all", n: 0, want: "one\ntwo\nthree\n"},
		{name: "more than the file", n: 100, want: "one\ntwo\nthree\n"},
		{name: "exactly the last line", n: 6, want: "three\n"},
		{name: "mid-line starts at the next line", n: 8, want: "three\n"},
		{name: "from a line start", n: 10, want: "two\nthree\n"},
		{name: "inside the last line", n: 3, want: "ee\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tailFile(path, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("tailFile(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}
