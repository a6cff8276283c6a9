package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// codeCache turns a service's `code` into the path of an executable: an
// absolute path is used as it is, an http(s) URL is downloaded once into the
// cache and reused by every later start, including concurrent ones.
type codeCache struct {
	dir    string
	client *http.Client

	mu       sync.Mutex
	inflight map[string]*download
}

// download is one fetch in progress; the starts that want the same URL wait
// for it instead of fetching again.
type download struct {
	done chan struct{}
	err  error
}

func newCodeCache(dir string, client *http.Client) *codeCache {
	return &codeCache{dir: dir, client: client, inflight: make(map[string]*download)}
}

// resolve returns the executable to run for code.
func (c *codeCache) resolve(ctx context.Context, code string) (string, error) {
	if u, err := url.Parse(code); err == nil && (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")) {
		return c.fetch(ctx, code)
	}
	if !filepath.IsAbs(code) {
		return "", fmt.Errorf("code %q: want an absolute path of an executable or an http(s) URL", code)
	}
	return code, checkExecutable(code)
}

// checkExecutable turns the usual reasons an exec would fail into an error
// that names the code, before anything is forked.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("code %s: no such file", path)
	case err != nil:
		return fmt.Errorf("code %s: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("code %s: is a directory, want an executable file", path)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("code %s: not executable (mode %v)", path, fi.Mode().Perm())
	}
	return nil
}

// fetch returns the cached copy of rawURL, downloading it if no other start
// is doing so already.
func (c *codeCache) fetch(ctx context.Context, rawURL string) (string, error) {
	sum := sha256.Sum256([]byte(rawURL))
	path := filepath.Join(c.dir, hex.EncodeToString(sum[:]))
	for {
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		c.mu.Lock()
		d, busy := c.inflight[path]
		if !busy {
			d = &download{done: make(chan struct{})}
			c.inflight[path] = d
		}
		c.mu.Unlock()

		if !busy {
			d.err = c.download(ctx, rawURL, path)
			c.mu.Lock()
			delete(c.inflight, path)
			c.mu.Unlock()
			close(d.done)
			if d.err != nil {
				return "", d.err
			}
			return path, nil
		}

		select {
		case <-d.done:
		case <-ctx.Done():
			return "", fmt.Errorf("code %s: %w", rawURL, ctx.Err())
		}
		// A download abandoned because its own caller gave up is retried by
		// a caller that still wants it; any other failure is shared.
		if d.err != nil && !errors.Is(d.err, context.Canceled) && !errors.Is(d.err, context.DeadlineExceeded) {
			return "", d.err
		}
	}
}

// download writes rawURL to path through a temporary file, so that a partial
// download is never taken for the executable.
func (c *codeCache) download(ctx context.Context, rawURL, path string) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("code %s: %w", rawURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("code %s: %w", rawURL, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("code %s: download: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("code %s: download: HTTP %s", rawURL, resp.Status)
	}
	tmp, err := os.CreateTemp(c.dir, ".download-*")
	if err != nil {
		return fmt.Errorf("code %s: %w", rawURL, err)
	}
	_, err = io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("code %s: download: %w", rawURL, err)
	}
	return nil
}
