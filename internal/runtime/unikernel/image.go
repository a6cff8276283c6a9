package unikernel

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hedgeorch/hedge/internal/runtime/fetch"
)

// maxImageFile bounds each file unpacked from an image.
const maxImageFile = 1 << 30

// image is an unpacked unikernel image.
type image struct {
	kernel string
	initrd string // "" when the image has none
}

// imageCache fetches images given as URLs once into its directory; starts
// that want the same URL at the same time share one download.
type imageCache struct {
	files *fetch.Cache
}

func newImageCache(dir string, client *http.Client) *imageCache {
	return &imageCache{files: fetch.NewCache(dir, client, fetch.WithSuffix(".tar.gz"))}
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
	if fetch.IsURL(code) {
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
// is doing so already, and passes the download's progress on.
func (c *imageCache) fetch(ctx context.Context, rawURL string, progress func(string)) (string, error) {
	file, err := c.files.Get(ctx, rawURL, func(done, total int64) {
		switch {
		case done == 0 && total < 0:
			progress("downloading " + rawURL)
		case total > 0:
			progress(fmt.Sprintf("downloading %s: %.1f/%.1f MB", rawURL, float64(done)/1e6, float64(total)/1e6))
		default:
			progress(fmt.Sprintf("downloading %s: %.1f MB", rawURL, float64(done)/1e6))
		}
	})
	if err != nil {
		return "", fmt.Errorf("code %s: %w", rawURL, err)
	}
	return file, nil
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
