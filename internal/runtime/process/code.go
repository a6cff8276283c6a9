package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hedgeorch/hedge/internal/runtime/fetch"
)

// resolveCode turns a service's `code` into the path of an executable: an
// absolute path is used as it is, an http(s) URL is downloaded once into the
// cache and reused by every later start, including concurrent ones.
func resolveCode(ctx context.Context, cache *fetch.Cache, code string) (string, error) {
	if fetch.IsURL(code) {
		path, err := cache.Get(ctx, code, nil)
		if err != nil {
			return "", fmt.Errorf("code %s: %w", code, err)
		}
		return path, nil
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
