package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// AddFile is AddFileMax with DefaultMaxSize.
func AddFile(ctx context.Context, client *http.Client, dir, src string) (string, error) {
	return AddFileMax(ctx, client, dir, src, DefaultMaxSize)
}

// AddFileMax makes src, an absolute host path or an http(s) URL, available
// as a file in dir and returns its name there. Both container engines use it
// for an SLA's added_files: a URL is downloaded (not cached, so a changed
// file is picked up on the next start), a host file is copied with its mode.
// Either larger than maxSize bytes (DefaultMaxSize when <= 0) fails with
// ErrTooLarge naming the limit.
func AddFileMax(ctx context.Context, client *http.Client, dir, src string, maxSize int64) (string, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if u, err := url.Parse(src); err == nil && (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")) {
		name := path.Base(u.Path)
		if name == "/" || name == "." || name == "" {
			return "", errors.New("the URL's path has no file name")
		}
		return name, DownloadMax(ctx, client, src, filepath.Join(dir, name), 0o644, maxSize, nil)
	}
	if !filepath.IsAbs(src) {
		return "", errors.New("want an absolute host path or an http(s) URL")
	}
	name := filepath.Base(src)
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	if fi.Size() > maxSize {
		return "", tooLarge(maxSize)
	}
	return name, writeFile(filepath.Join(dir, name), in, fi.Mode().Perm(), maxSize)
}

// writeFile copies r into a new file dst with mode perm, at most maxSize
// bytes; a larger one is removed again.
func writeFile(dst string, r io.Reader, perm fs.FileMode, maxSize int64) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	err = copyMax(out, r, maxSize)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, ErrTooLarge) {
		_ = os.Remove(dst)
	}
	return err
}
