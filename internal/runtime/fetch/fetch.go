package fetch

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
	"time"
)

// ProgressEvery is how often a download's progress is passed on at most.
const ProgressEvery = 500 * time.Millisecond

// Progress is told how a download goes: once with done 0 and total -1 when
// the download starts, before the server answers, then with the bytes done
// so far and the total the server announced (-1 when it announced none), at
// most every ProgressEvery.
type Progress func(done, total int64)

// IsURL reports whether s is an http(s) URL, the only kind this package
// downloads.
func IsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https"))
}

// DefaultMaxSize is the largest download (code URLs, added files) a Cache
// or AddFile accepts unless told otherwise.
const DefaultMaxSize int64 = 256 << 20

// ErrTooLarge: a download or added file is larger than the limit, which the
// message names.
var ErrTooLarge = errors.New("too large")

func tooLarge(limit int64) error {
	return fmt.Errorf("larger than the limit of %s (%d bytes): %w", sizeString(limit), limit, ErrTooLarge)
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// Download is DownloadMax with DefaultMaxSize.
func Download(ctx context.Context, client *http.Client, rawURL, dst string, perm fs.FileMode, progress Progress) error {
	return DownloadMax(ctx, client, rawURL, dst, perm, DefaultMaxSize, progress)
}

// DownloadMax writes rawURL to dst with mode perm through a temporary file
// in dst's directory, renamed to dst only once complete. progress may be
// nil. A body larger than maxSize bytes (announced, or as it arrives) fails
// with ErrTooLarge naming the limit and leaves nothing behind; maxSize <= 0
// means DefaultMaxSize. Failures of the transfer itself start with
// "download:"; none repeat the URL, which the caller names.
func DownloadMax(ctx context.Context, client *http.Client, rawURL, dst string, perm fs.FileMode, maxSize int64, progress Progress) error {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	progress(0, -1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download: HTTP %s", resp.Status)
	}
	if resp.ContentLength > maxSize {
		return fmt.Errorf("download: %w", tooLarge(maxSize))
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".download-*")
	if err != nil {
		return err
	}
	err = copyMax(tmp, &progressReader{r: resp.Body, total: resp.ContentLength, report: progress}, maxSize)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("download: %w", err)
	}
	return nil
}

// copyMax copies r to w, failing with ErrTooLarge once more than maxSize
// bytes arrive.
func copyMax(w io.Writer, r io.Reader, maxSize int64) error {
	n, err := io.Copy(w, io.LimitReader(r, maxSize+1))
	if err == nil && n > maxSize {
		return tooLarge(maxSize)
	}
	return err
}

// progressReader reports how much was read, at most every ProgressEvery.
type progressReader struct {
	r      io.Reader
	done   int64
	total  int64
	last   time.Time
	report Progress
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.last) >= ProgressEvery {
		p.last = now
		p.report(p.done, p.total)
	}
	return n, err
}

// Cache downloads each URL once into its directory, under the hex sha256 of
// the URL, and reuses that copy from then on. Callers that want the same URL
// at the same time share one download. It is safe for concurrent use.
type Cache struct {
	dir    string
	client *http.Client
	suffix string
	perm   fs.FileMode
	max    int64

	mu       sync.Mutex
	inflight map[string]*download
}

// download is one fetch in progress; the callers that want the same URL wait
// for it instead of fetching again.
type download struct {
	done chan struct{}
	err  error
}

// Option changes how a Cache stores its files.
type Option func(*Cache)

// WithSuffix ends the name of each cached file with suffix (".tar.gz"), for
// whoever looks into the directory.
func WithSuffix(suffix string) Option { return func(c *Cache) { c.suffix = suffix } }

// WithMode gives each cached file mode perm (0o755 for executables) instead
// of 0o600.
func WithMode(perm fs.FileMode) Option { return func(c *Cache) { c.perm = perm } }

// WithMaxSize refuses files larger than n bytes (DefaultMaxSize when n <=
// 0) with ErrTooLarge.
func WithMaxSize(n int64) Option { return func(c *Cache) { c.max = n } }

// NewCache returns a cache that keeps its files in dir, created when first
// needed, and downloads them with client.
func NewCache(dir string, client *http.Client, opts ...Option) *Cache {
	c := &Cache{dir: dir, client: client, perm: 0o600, inflight: make(map[string]*download)}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Path is where the cached copy of rawURL is (or will be).
func (c *Cache) Path(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:])+c.suffix)
}

// Get returns the path of the cached copy of rawURL, downloading it first
// unless it is there already or another caller is downloading it, in which
// case Get waits for that download. progress (which may be nil) hears only
// of a download this call makes itself. A download abandoned because its own
// caller's ctx ended is taken over by a caller still waiting; any other
// failure is returned to every caller that waited for it, and the next Get
// tries again.
func (c *Cache) Get(ctx context.Context, rawURL string, progress Progress) (string, error) {
	file := c.Path(rawURL)
	for {
		if _, err := os.Stat(file); err == nil {
			return file, nil
		}
		c.mu.Lock()
		d, busy := c.inflight[file]
		if !busy {
			// Look again under the lock: a download may have finished
			// (renamed its file into place, then left inflight) between
			// the Stat above and here.
			if _, err := os.Stat(file); err == nil {
				c.mu.Unlock()
				return file, nil
			}
			d = &download{done: make(chan struct{})}
			c.inflight[file] = d
		}
		c.mu.Unlock()
		if !busy {
			d.err = os.MkdirAll(c.dir, 0o755)
			if d.err == nil {
				d.err = DownloadMax(ctx, c.client, rawURL, file, c.perm, c.max, progress)
			}
			c.mu.Lock()
			delete(c.inflight, file)
			c.mu.Unlock()
			close(d.done)
			if d.err != nil {
				return "", d.err
			}
			return file, nil
		}
		select {
		case <-d.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if d.err != nil && !errors.Is(d.err, context.Canceled) && !errors.Is(d.err, context.DeadlineExceeded) {
			return "", d.err
		}
	}
}
