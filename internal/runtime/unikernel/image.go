package unikernel

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// maxImageFile bounds each file unpacked from an image.
const maxImageFile = 1 << 30

// progressEvery is how often a download's progress is passed on at most.
const progressEvery = 500 * time.Millisecond

// image is an unpacked unikernel image.
type image struct {
	kernel string
	initrd string // "" when the image has none
}

// imageCache fetches images given as URLs once into its directory; starts
// that want the same URL at the same time share one download.
type imageCache struct {
	dir    string
	client *http.Client

	mu       sync.Mutex
	inflight map[string]*download
}

type download struct {
	done chan struct{}
	err  error
}

func newImageCache(dir string, client *http.Client) *imageCache {
	return &imageCache{dir: dir, client: client, inflight: make(map[string]*download)}
}

// unpack fetches code (an http(s) URL or an absolute path of a tar.gz) and
// extracts its kernel and initrd into dir.
func (c *imageCache) unpack(ctx context.Context, code, dir string, progress func(string)) (image, error) {
	archive, err := c.resolve(ctx, code, progress)
	if err != nil {
		return image{}, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return image{}, fmt.Errorf("code %s: %w", code, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return image{}, fmt.Errorf("code %s: %w", code, err)
	}
	img, err := extract(archive, dir)
	if err != nil {
		return image{}, fmt.Errorf("code %s: %w", code, err)
	}
	return img, nil
}

// resolve returns the local path of the archive code names.
func (c *imageCache) resolve(ctx context.Context, code string, progress func(string)) (string, error) {
	if u, err := url.Parse(code); err == nil && (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")) {
		return c.fetch(ctx, code, progress)
	}
	if !filepath.IsAbs(code) {
		return "", fmt.Errorf("code %q: want an http(s) URL or an absolute path of a tar.gz holding a kernel", code)
	}
	if _, err := os.Stat(code); err != nil {
		return "", fmt.Errorf("code %s: %w", code, err)
	}
	return code, nil
}

// fetch returns the cached copy of rawURL, downloading it if no other start
// is doing so already.
func (c *imageCache) fetch(ctx context.Context, rawURL string, progress func(string)) (string, error) {
	sum := sha256.Sum256([]byte(rawURL))
	file := filepath.Join(c.dir, hex.EncodeToString(sum[:])+".tar.gz")
	for {
		if _, err := os.Stat(file); err == nil {
			return file, nil
		}
		c.mu.Lock()
		d, busy := c.inflight[file]
		if !busy {
			d = &download{done: make(chan struct{})}
			c.inflight[file] = d
		}
		c.mu.Unlock()
		if !busy {
			d.err = c.download(ctx, rawURL, file, progress)
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
// download is never taken for the image.
func (c *imageCache) download(ctx context.Context, rawURL, file string, progress func(string)) error {
	progress("downloading " + rawURL)
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
	pr := &progressReader{r: resp.Body, total: resp.ContentLength, report: func(done, total int64) {
		msg := fmt.Sprintf("downloading %s: %.1f MB", rawURL, float64(done)/1e6)
		if total > 0 {
			msg = fmt.Sprintf("downloading %s: %.1f/%.1f MB", rawURL, float64(done)/1e6, float64(total)/1e6)
		}
		progress(msg)
	}}
	_, err = io.Copy(tmp, pr)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("code %s: download: %w", rawURL, err)
	}
	return nil
}

// progressReader reports how much was read, at most every progressEvery.
type progressReader struct {
	r      io.Reader
	done   int64
	total  int64
	last   time.Time
	report func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		p.report(p.done, p.total)
	}
	return n, err
}

// extract unpacks the files named kernel and initrd (at the archive's top
// level) into dir. Everything else in the archive is ignored.
func extract(archive, dir string) (image, error) {
	f, err := os.Open(archive)
	if err != nil {
		return image{}, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return image{}, fmt.Errorf("not a tar.gz: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	var img image
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return image{}, fmt.Errorf("not a tar.gz holding a kernel: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name != "kernel" && name != "initrd" {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return image{}, fmt.Errorf("%s in the archive is not a regular file", name)
		}
		if h.Size > maxImageFile {
			return image{}, fmt.Errorf("%s in the archive is %d bytes, more than the %d allowed", name, h.Size, maxImageFile)
		}
		dst := filepath.Join(dir, name)
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return image{}, err
		}
		_, err = io.Copy(out, io.LimitReader(tr, maxImageFile))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return image{}, fmt.Errorf("unpack %s: %w", name, err)
		}
		if name == "kernel" {
			img.kernel = dst
		} else {
			img.initrd = dst
		}
	}
	if img.kernel == "" {
		return image{}, errors.New("the archive has no file named kernel at its top level")
	}
	return img, nil
}
