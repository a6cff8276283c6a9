package logfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Keeper keeps the logs of a driver's instances bounded. Between two checks a
// log may grow past Limit by whatever its instance writes meanwhile.
type Keeper struct {
	// Limit is about how many bytes a log may hold; a longer one is cut to
	// about half of it.
	Limit int64
	// Every is how often the logs are checked.
	Every time.Duration
	// IDs lists the instances whose logs are kept bounded; it is called
	// once per check.
	IDs func() []string
	// Path is where an instance's log is.
	Path func(id string) string
	// Log receives the failures to trim, at debug level: a failed trim is
	// tried again at the next check.
	Log *slog.Logger
}

// Run checks the logs every k.Every until done is closed. It is meant to be
// the one goroutine a driver spends on bounding its logs.
func (k Keeper) Run(done <-chan struct{}) {
	tick := time.NewTicker(k.Every)
	defer tick.Stop()
	var buf []byte
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		for _, id := range k.IDs() {
			var err error
			buf, err = Trim(k.Path(id), k.Limit, buf)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				k.Log.Debug("trim log", "instance", id, "error", err)
			}
		}
	}
}

// Trim keeps about the last half of the log at path once it is larger than
// limit. The writer must hold an O_APPEND descriptor, so that it goes on
// writing at the new end rather than at its old offset (which would leave a
// hole of zeros). Where the file system can drop the head of a file in place
// (FALLOC_FL_COLLAPSE_RANGE: ext4, xfs) that is done, atomically with respect
// to the writer; elsewhere the tail is copied to the start and the file
// truncated, which loses whatever is written during the copy. buf is scratch
// space, returned for reuse by the next call.
func Trim(path string, limit int64, buf []byte) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() <= limit {
		return buf, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	size, keep := fi.Size(), limit/2
	if collapseHead(f, fi, size-keep) {
		return buf, nil
	}
	return trimByCopy(f, size, keep, buf)
}

// collapseHead drops the first n bytes (rounded down to whole blocks) of f in
// place. It reports false where the file system cannot.
func collapseHead(f *os.File, fi os.FileInfo, n int64) bool {
	block := int64(4096)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blksize > 0 {
		block = int64(st.Blksize)
	}
	n = n / block * block
	if n <= 0 {
		return false
	}
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_COLLAPSE_RANGE, 0, n) == nil
}

// trimByCopy moves the last keep bytes of f (from the first whole line on) to
// its start and truncates it there.
func trimByCopy(f *os.File, size, keep int64, buf []byte) ([]byte, error) {
	if int64(cap(buf)) < keep {
		buf = make([]byte, keep)
	}
	tail := buf[:keep]
	n, err := f.ReadAt(tail, size-keep)
	if err != nil && !errors.Is(err, io.EOF) {
		return buf, err
	}
	tail = tail[:n]
	if i := bytes.IndexByte(tail, '\n'); i >= 0 && i < len(tail)-1 {
		tail = tail[i+1:]
	}
	if _, err := f.WriteAt(tail, 0); err != nil {
		return buf, err
	}
	return buf, f.Truncate(int64(len(tail)))
}

// Tail returns the last n bytes of the file at path (all of it when n <= 0),
// starting at a line boundary when there is one to start at.
func Tail(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if n <= 0 || int64(n) >= size {
		return io.ReadAll(f)
	}
	// Read one byte more to know whether the tail starts a line.
	buf := make([]byte, n+1)
	got, err := f.ReadAt(buf, size-int64(n)-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	buf = buf[:got]
	if i := bytes.IndexByte(buf, '\n'); i >= 0 && i < len(buf)-1 {
		return buf[i+1:], nil
	}
	return buf[1:], nil
}
