package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server serves body at /file, holding each answer until release is closed
// (nil: at once), and counts the requests for /file.
func server(t *testing.T, body string, release chan struct{}) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/file" {
			http.NotFound(w, r)
			return
		}
		requests.Add(1)
		if release != nil {
			<-release
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(func() {
		srv.Client().CloseIdleConnections()
		srv.Close()
	})
	return srv, &requests
}

// waitRequest waits until the server has had a request.
func waitRequest(t *testing.T, requests *atomic.Int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for requests.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no request reached the server")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestIsURL(t *testing.T) {
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{name: "http", s: "http://example.com/app", want: true},
		{name: "https upper case", s: "HTTPS://example.com/app", want: true},
		{name: "absolute path", s: "/usr/bin/app", want: false},
		{name: "other scheme", s: "ftp://example.com/app", want: false},
		{name: "relative", s: "app", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsURL(tt.s); got != tt.want {
				t.Errorf("IsURL(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

func TestDownload(t *testing.T) {
	srv, _ := server(t, "hello\n", nil)
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{name: "found", path: "/file"},
		{name: "not found", path: "/missing", wantErr: "download: HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "out")
			var calls []int64
			err := Download(context.Background(), srv.Client(), srv.URL+tt.path, dst, 0o640, func(done, total int64) {
				calls = append(calls, done, total)
			})
			if len(calls) < 2 || calls[0] != 0 || calls[1] != -1 {
				t.Errorf("progress calls = %v, want the start announced with 0, -1 first", calls)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Download = %v, want an error with %q", err, tt.wantErr)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("a failed download left files behind: %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil || string(got) != "hello\n" {
				t.Fatalf("downloaded file = %q, %v; want the body", got, err)
			}
			if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the temporary file was left behind: %v", entries)
			}
		})
	}
}

func TestCacheDownloadsOnceForConcurrentAndLaterCallers(t *testing.T) {
	release := make(chan struct{})
	srv, requests := server(t, "#!/bin/sh\n", release)
	dir := filepath.Join(t.TempDir(), "cache") // created by the cache
	c := NewCache(dir, srv.Client(), WithSuffix(".bin"), WithMode(0o755))
	url := srv.URL + "/file"

	const callers = 4
	var wg sync.WaitGroup
	paths := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { paths[i], errs[i] = c.Get(context.Background(), url, nil) })
	}
	// Let the first request arrive before answering, so the others find it
	// in flight rather than the finished file.
	waitRequest(t, requests)
	close(release)
	wg.Wait()
	later, err := c.Get(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(url))
	want := filepath.Join(dir, hex.EncodeToString(sum[:])+".bin")
	for i := range callers {
		if errs[i] != nil || paths[i] != want {
			t.Errorf("Get #%d = %q, %v; want %q", i, paths[i], errs[i], want)
		}
	}
	if later != want || c.Path(url) != want {
		t.Errorf("later Get = %q, Path = %q; want %q", later, c.Path(url), want)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the URL was downloaded %d times, want once", n)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("cached file = %v, %v; want mode 0755", fi, err)
	}
}

func TestCacheFailureLeavesNothingAndIsRetried(t *testing.T) {
	srv, _ := server(t, "x", nil)
	dir := t.TempDir()
	c := NewCache(dir, srv.Client())
	for range 2 { // a failure is not cached
		_, err := c.Get(context.Background(), srv.URL+"/missing", nil)
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("Get of a URL that answers 404 = %v, want an error naming the status", err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed download left files in the cache: %v", entries)
	}
}

func TestCacheWaiterGivesUpWithItsContext(t *testing.T) {
	release := make(chan struct{})
	srv, requests := server(t, "x", release)
	c := NewCache(t.TempDir(), srv.Client())
	url := srv.URL + "/file"
	first := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), url, nil)
		first <- err
	}()
	waitRequest(t, requests)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, url, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with an ended context = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("the download in flight failed: %v", err)
	}
}
