package fetch

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bigServer serves 4 KiB at /announced (with Content-Length) and at
// /chunked (streamed without one, as a hostile server would).
func bigServer(t *testing.T) *httptest.Server {
	t.Helper()
	body := bytes.Repeat([]byte("x"), 4<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/chunked") {
			for i := 0; i < len(body); i += 512 {
				_, _ = w.Write(body[i : i+512])
				w.(http.Flusher).Flush()
			}
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestDownloadOverLimitIsRefused: a download or added file over the limit
// fails with ErrTooLarge, the message names the limit, and no file (nor a
// temporary one) is left behind.
func TestDownloadOverLimitIsRefused(t *testing.T) {
	srv := bigServer(t)
	const limit = 1 << 10
	host := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(host, bytes.Repeat([]byte("y"), 4<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		get  func(dir string) error
	}{
		{"cache, announced length", func(dir string) error {
			_, err := NewCache(dir, srv.Client(), WithMaxSize(limit)).Get(t.Context(), srv.URL+"/announced", nil)
			return err
		}},
		{"cache, streamed without length", func(dir string) error {
			_, err := NewCache(dir, srv.Client(), WithMaxSize(limit)).Get(t.Context(), srv.URL+"/chunked", nil)
			return err
		}},
		{"added file URL", func(dir string) error {
			_, err := AddFileMax(t.Context(), srv.Client(), dir, srv.URL+"/chunked", limit)
			return err
		}},
		{"added host file", func(dir string) error {
			_, err := AddFileMax(t.Context(), srv.Client(), dir, host, limit)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := tt.get(dir)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit of 1 KiB") {
				t.Fatalf("err = %v, want ErrTooLarge naming the limit of 1 KiB", err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("left behind %v", left)
			}
		})
	}

	// At the limit is fine.
	dir := t.TempDir()
	file, err := NewCache(dir, srv.Client(), WithMaxSize(4<<10)).Get(t.Context(), srv.URL+"/chunked", nil)
	if err != nil {
		t.Fatalf("a file exactly at the limit: %v", err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != 4<<10 {
		t.Fatalf("stat %s: %v, %v", file, fi, err)
	}
}
