package logfile

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// writeLines writes count numbered lines of 11 bytes each to a new file.
func writeLines(t *testing.T, count int) (path string, content []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "output.log")
	var b bytes.Buffer
	for i := range count {
		fmt.Fprintf(&b, "line %05d\n", i)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b.Bytes()
}

func TestTrim(t *testing.T) {
	tests := []struct {
		name string
		trim func(path string, limit int64) error
	}{
		{name: "in place or copy", trim: func(path string, limit int64) error {
			_, err := Trim(path, limit, nil)
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
			path, content := writeLines(t, 10000)
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
			if !bytes.HasSuffix(content, got) {
				t.Errorf("trimmed log is not the tail of the original")
			}
			if !bytes.HasSuffix(got, []byte("line 09999\n")) {
				t.Errorf("trimmed log lost the latest line")
			}
		})
	}
}

func TestTrimUnderLimitUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output.log")
	if err := os.WriteFile(path, []byte("short\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Trim(path, 1024, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "short\n" {
		t.Errorf("log under the limit changed to %q", got)
	}
}

func TestTail(t *testing.T) {
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
			got, err := Tail(path, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Tail(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}

func TestTailAfterTrimStartsAtALine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output.log")
	var b strings.Builder
	for i := range 2000 {
		b.WriteString("line of output number ")
		b.WriteString(strings.Repeat("x", i%50))
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Trim(path, 8192, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if len(after) > 8192 || !strings.HasSuffix(b.String(), string(after)) {
		t.Errorf("after trim: %d bytes, want at most 8192 and the newest output kept", len(after))
	}
	tail, err := Tail(path, 100)
	if err != nil || len(tail) > 100 || !strings.HasPrefix(string(tail), "line of output") || !strings.HasSuffix(b.String(), string(tail)) {
		t.Errorf("Tail = %q, %v; want whole last lines within 100 bytes", tail, err)
	}
}

func TestKeeperTrimsListedLogsUntilDone(t *testing.T) {
	big, _ := writeLines(t, 10000)
	small := filepath.Join(t.TempDir(), "small.log")
	if err := os.WriteFile(small, []byte("short\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{"big": big, "small": small, "gone": filepath.Join(t.TempDir(), "missing.log")}
	const limit = 8 << 10
	k := Keeper{
		Limit: limit,
		Every: 5 * time.Millisecond,
		IDs:   func() []string { return []string{"big", "small", "gone"} },
		Path:  func(id string) string { return paths[id] },
		Log:   slog.New(slog.DiscardHandler),
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		k.Run(done)
		close(stopped)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(big)
		if err == nil && fi.Size() <= limit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log over the limit was not trimmed: %v, %v", fi, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(done)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after done was closed")
	}
	if got, _ := os.ReadFile(small); string(got) != "short\n" {
		t.Errorf("log under the limit changed to %q", got)
	}
}
