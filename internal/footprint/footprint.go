//go:build linux

package footprint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrUnsupported is returned where the mappings cannot be read or trimmed.
var ErrUnsupported = errors.New("footprint: not supported here")

// mapping is one line of /proc/self/smaps with the figures Trim needs.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
	rssKB      int64
	anonKB     int64
}

// trimmable reports whether dropping m's pages cannot change what the process
// reads: a mapping of exe that is not writable and holds no private
// (copy-on-write) page, so every page is the file's, and a later access maps
// the same bytes again from the page cache.
func (m mapping) trimmable(exe string) bool {
	return m.path == exe && !strings.Contains(m.perms, "w") && m.anonKB == 0 && m.rssKB > 0
}

// Trim drops the process's mappings of its own executable's read-only
// segments (code, read-only data, the function tables) and returns how many
// KB were resident in them. The pages stay in the page cache; the ones the
// process uses afterwards are mapped again on first access. Writable
// segments and anything holding private pages are left alone.
func Trim() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	ms, err := parseSmaps(f)
	f.Close()
	if err != nil {
		return 0, err
	}
	var kb int64
	for _, m := range ms {
		if !m.trimmable(exe) {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno != 0 {
			return kb, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno)
		}
		kb += m.rssKB
	}
	return kb, nil
}

// parseSmaps reads the mappings of an smaps file.
func parseSmaps(r io.Reader) ([]mapping, error) {
	var ms []mapping
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Bytes()
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && !bytes.Contains(k, []byte(" ")) {
			if len(ms) == 0 {
				continue
			}
			switch string(k) {
			case "Rss":
				ms[len(ms)-1].rssKB = kbField(v)
			case "Anonymous":
				ms[len(ms)-1].anonKB = kbField(v)
			}
			continue
		}
		fields := strings.Fields(string(line))
		if len(fields) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("smaps: bad range %q", fields[0])
		}
		m := mapping{start: uintptr(start), end: uintptr(end), perms: fields[1]}
		if len(fields) >= 6 {
			m.path = strings.Join(fields[5:], " ")
		}
		ms = append(ms, m)
	}
	return ms, sc.Err()
}

// kbField parses " 1234 kB".
func kbField(v []byte) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 10, 64)
	return n
}
