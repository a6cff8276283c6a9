//go:build linux

package footprint

import (
	"os"
	"strings"
	"testing"
)

const smapsSample = `00400000-00fcb000 r-xp 00000000 fe:00 10028093                           /usr/bin/hedge
Size:              12076 kB
Rss:                9836 kB
Anonymous:             0 kB
00fcb000-01cbb000 r--p 00bcb000 fe:00 10028093                           /usr/bin/hedge
Rss:               10112 kB
Anonymous:             0 kB
01cbb000-01d4d000 rw-p 018bb000 fe:00 10028093                           /usr/bin/hedge
Rss:                 520 kB
Anonymous:           300 kB
01d50000-01d51000 r--p 00000000 fe:00 10028093                           /usr/bin/hedge
Rss:                   4 kB
Anonymous:             4 kB
7f8586f9d000-7f85870f3000 r-xp 00026000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 972 kB
Anonymous:             0 kB
d2f22000000-d2f22800000 rw-p 00000000 00:00 0 
Rss:                4024 kB
Anonymous:          4024 kB
`

func TestTrimmableMappings(t *testing.T) {
	ms, err := parseSmaps(strings.NewReader(smapsSample))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 6 {
		t.Fatalf("parsed %d mappings, want 6", len(ms))
	}
	var got []string
	for _, m := range ms {
		if m.trimmable("/usr/bin/hedge") {
			got = append(got, m.perms)
		}
	}
	// Code and read-only data only: not the writable data, not a read-only
	// mapping holding private pages, not libc, not the heap.
	if strings.Join(got, ",") != "r-xp,r--p" {
		t.Errorf("trimmable mappings: %v, want the r-xp and r--p of the executable", got)
	}
	if ms[0].start != 0x400000 || ms[0].end != 0xfcb000 || ms[0].rssKB != 9836 {
		t.Errorf("first mapping parsed as %+v", ms[0])
	}
}

// TestTrimKeepsTheProcessWorking trims this test binary's own mappings and
// then runs code and reads data it had not touched since: the pages come back
// from the page cache.
func TestTrimKeepsTheProcessWorking(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps"); err != nil {
		t.Skip("no /proc/self/smaps: ", err)
	}
	kb, err := Trim()
	if err != nil {
		t.Fatal(err)
	}
	if kb <= 0 {
		t.Errorf("Trim dropped %d KB of the executable's mappings, want some", kb)
	}
	// Code and read-only data used after the trim still work.
	if got := strings.ToUpper(strings.Repeat("hedge", 3)); got != "HEDGEHEDGEHEDGE" {
		t.Errorf("after Trim: %q", got)
	}
	if _, err := parseSmaps(strings.NewReader(smapsSample)); err != nil {
		t.Errorf("after Trim: %v", err)
	}
}
