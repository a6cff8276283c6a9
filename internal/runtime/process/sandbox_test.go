package process

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireRoot skips a test that needs the sandbox's namespaces and mounts
// when the test does not run as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the process sandbox needs root (namespaces, mounts, setuid)")
	}
}

// TestSandboxRoot runs a tenant's instance that probes its confinement, as
// an attacker would: who it runs as, which processes it sees, whether it
// can read the worker's data directory or write outside its working
// directory.
func TestSandboxRoot(t *testing.T) {
	requireRoot(t)
	tier := t.TempDir() // the worker tier's data directory
	secret := filepath.Join(tier, "identity.json")
	if err := os.WriteFile(secret, []byte("worker-credential-s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	procDir := filepath.Join(tier, "process")
	d, _ := newTestDriver(t, Options{DataDir: procDir, Sandbox: Sandbox{Protect: []string{tier}}})
	script := `
echo "uid=$(id -u) gid=$(id -g)"
grep '^Uid:' /proc/self/status
echo "pid1-arg1=$(tr '\0' '\n' </proc/1/cmdline | sed -n 2p)"
echo "procs=$(ls /proc | grep -c '^[0-9]')"
kill -0 ` + strconv.Itoa(os.Getpid()) + ` 2>/dev/null && echo "see-worker=yes" || echo "see-worker=no"
cat ` + secret + ` >/dev/null 2>&1 && echo "read-secret=yes" || echo "read-secret=no"
echo "tier-listing=$(ls -a ` + tier + ` ` + procDir + ` 2>&1 | tr '\n' ' ')"
cat ` + d.logPath("probe") + ` >/dev/null 2>&1 && echo "read-log=yes" || echo "read-log=no"
echo hello >"$HOME/note" && echo "write-work=$(cat "$HOME/note")"
echo x >/tmp/x && echo "write-tmp=yes"
(echo x >/usr/hedge-escape) 2>/dev/null && echo "write-usr=yes" || echo "write-usr=no"
(echo x >/escape) 2>/dev/null && echo "write-root=yes" || echo "write-root=no"
echo done
`
	if _, err := d.Start(context.Background(), shSpec("probe", script)); err != nil {
		t.Fatal(err)
	}
	out := waitLogs(t, d, "probe", "done")
	uid := regexp.MustCompile(`uid=(\d+) gid=(\d+)`).FindStringSubmatch(out)
	if uid == nil {
		t.Fatalf("no uid in the output:\n%s", out)
	}
	n, _ := strconv.ParseUint(uid[1], 10, 32)
	if n == 0 || !DefaultUIDs.contains(uint32(n)) || uid[2] != uid[1] {
		t.Errorf("instance runs as uid %s gid %s, want one of %s (not root), gid = uid", uid[1], uid[2], DefaultUIDs)
	}
	if !strings.Contains(out, "Uid:\t"+uid[1]+"\t"+uid[1]+"\t"+uid[1]+"\t"+uid[1]) {
		t.Errorf("/proc/self/status does not show uid %s in every field:\n%s", uid[1], out)
	}
	for _, want := range []string{
		"pid1-arg1=" + InitArg + "\n", // its own PID namespace, whose first process is the sandbox's init
		"see-worker=no", "read-secret=no", "read-log=no",
		"write-work=hello", "write-tmp=yes", "write-usr=no", "write-root=no",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`procs=(\d+)`).FindStringSubmatch(out); m == nil || m[1] == "0" || len(m[1]) > 1 {
		t.Errorf("instance sees %v processes, want the few of its own namespace:\n%s", m, out)
	}
	// Of the data directories it sees at most the path down to its working
	// directory: no file of the tier's, none of the driver's.
	listing := regexp.MustCompile(`tier-listing=(.*)`).FindStringSubmatch(out)
	if listing == nil || strings.Contains(listing[1], "identity.json") || strings.Contains(listing[1], "cache") || !strings.Contains(listing[1], "instances") {
		t.Errorf("instance lists %q in the data directories, want only the way to its working directory", listing)
	}
	if _, err := os.Stat("/usr/hedge-escape"); err == nil {
		t.Error("the instance wrote /usr/hedge-escape on the host")
		_ = os.Remove("/usr/hedge-escape")
	}
	if b, err := os.ReadFile(filepath.Join(d.instanceDir("probe"), "work", "note")); err != nil || string(b) != "hello\n" {
		t.Errorf("working directory file on the host = %q, %v; want hello", b, err)
	}
}

// TestSandboxUIDsPerInstanceRoot checks that two instances get two user ids
// and that an id comes back to the pool on Remove.
func TestSandboxUIDsPerInstanceRoot(t *testing.T) {
	requireRoot(t)
	d, _ := newTestDriver(t, Options{Sandbox: Sandbox{UIDs: UIDRange{First: 3_000_000_000, Count: 2}}})
	ctx := context.Background()
	owner := func(id string) uint32 {
		fi, err := os.Stat(filepath.Join(d.instanceDir(id), "work"))
		if err != nil {
			t.Fatal(err)
		}
		return statUID(fi)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := d.Start(ctx, sleepSpec(id)); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := owner("a"), owner("b"); a == b || a < 3_000_000_000 || b < 3_000_000_000 {
		t.Errorf("work dirs owned by %d and %d, want two ids of the range", a, b)
	}
	if _, err := d.Start(ctx, sleepSpec("c")); err == nil {
		t.Error("a third instance started with a range of two ids")
	}
	if err := d.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Start(ctx, sleepSpec("c")); err != nil {
		t.Fatalf("start after a removal freed an id: %v", err)
	}
}

// TestSandboxExitRoot checks that the init reports the program's end as
// the program's own: its exit code, or the signal that killed it.
func TestSandboxExitRoot(t *testing.T) {
	requireRoot(t)
	d, exits := newTestDriver(t, Options{})
	ctx := context.Background()
	if _, err := d.Start(ctx, shSpec("code", "exit 7")); err != nil {
		t.Fatal(err)
	}
	if e := exits.Wait(t, "code"); e.Code != 7 || e.Signal != "" {
		t.Errorf("exit = %+v, want code 7", e)
	}
	if _, err := d.Start(ctx, shSpec("term", "kill -TERM $$; sleep 5")); err != nil {
		t.Fatal(err)
	}
	if e := exits.Wait(t, "term"); e.Signal != "SIGTERM" || e.Code != 143 {
		t.Errorf("exit = %+v, want killed by SIGTERM", e)
	}
}

// TestSandboxPrivateNetworkRoot checks the private network mode: only a
// loopback interface, up.
func TestSandboxPrivateNetworkRoot(t *testing.T) {
	requireRoot(t)
	d, _ := newTestDriver(t, Options{Sandbox: Sandbox{Network: NetworkPrivate}})
	if _, err := d.Start(context.Background(), shSpec("net", "cat /proc/net/dev; echo done")); err != nil {
		t.Fatal(err)
	}
	out := waitLogs(t, d, "net", "done")
	ifaces := 0
	for _, line := range strings.Split(out, "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			ifaces++
			if name != "lo" {
				t.Errorf("interface %q in a private network namespace", name)
			}
		}
	}
	if ifaces != 1 {
		t.Errorf("%d interfaces, want lo only:\n%s", ifaces, out)
	}
}

// TestSandboxRawRoot checks that a Raw service runs as the worker's user,
// outside the sandbox.
func TestSandboxRawRoot(t *testing.T) {
	requireRoot(t)
	d, _ := newTestDriver(t, Options{})
	spec := shSpec("raw", "echo uid=$(id -u) pid=$$; echo done")
	spec.Service.Raw = true
	if _, err := d.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	out := waitLogs(t, d, "raw", "done")
	if !strings.Contains(out, "uid=0 ") || strings.Contains(out, "pid=2\n") {
		t.Errorf("raw instance: %q, want uid 0 on the host's PID namespace", out)
	}
}

func TestParseUIDRange(t *testing.T) {
	tests := []struct {
		name, in string
		want     UIDRange
		wantErr  bool
	}{
		{name: "default", in: "2000000000-2000065535", want: DefaultUIDs},
		{name: "one", in: "100000-100000", want: UIDRange{First: 100000, Count: 1}},
		{name: "reversed", in: "200-100", wantErr: true},
		{name: "system users", in: "0-65535", wantErr: true},
		{name: "no dash", in: "100000", wantErr: true},
		{name: "past uid_t", in: "100000-4294967295", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUIDRange(tt.in)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Errorf("ParseUIDRange(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// programPID is the host PID of the instance's program: the one child of
// the sandbox's init whose PID the task holds.
func programPID(t testing.TB, initPID int) int {
	t.Helper()
	kids, err := childrenOf(initPID)
	if err != nil || len(kids) != 1 {
		t.Fatalf("the sandbox's init %d has children %v (%v), want the program alone", initPID, kids, err)
	}
	return kids[0]
}

// TestSandboxCodeInPrivateDirRoot: code in a directory the instance's user
// cannot enter (root's 0700) still runs, shown alone; code the instance's
// user cannot execute is refused at Start with the reason.
func TestSandboxCodeInPrivateDirRoot(t *testing.T) {
	requireRoot(t)
	d, _ := newTestDriver(t, Options{})
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "app")
	if err := os.WriteFile(filepath.Join(dir, "private"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\nls \"$(dirname \"$0\")\" | tr '\\n' ' '; echo; echo ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := shSpec("private", "")
	spec.Service.Code, spec.Service.Cmd = script, nil
	if _, err := d.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if out := waitLogs(t, d, "private", "ran\n"); strings.Contains(out, "private") {
		t.Errorf("the instance sees the code's private neighbour: %q", out)
	}
	if err := os.Chmod(script, 0o750); err != nil {
		t.Fatal(err)
	}
	spec.InstanceID = "closed"
	if _, err := d.Start(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "not executable by the instance's user") {
		t.Errorf("Start of code not executable by others = %v, want the reason", err)
	}
}

// BenchmarkStartRaw is BenchmarkStart outside the sandbox, to show what
// the sandbox adds to a start.
func BenchmarkStartRaw(b *testing.B) {
	d, _ := newTestDriver(b, Options{})
	ctx := context.Background()
	i := 0
	for b.Loop() {
		spec := sleepSpec("bench-raw-" + strconv.Itoa(i))
		spec.Service.Raw = true
		i++
		if _, err := d.Start(ctx, spec); err != nil {
			b.Fatal(err)
		}
		if err := d.Stop(ctx, spec.InstanceID, time.Second); err != nil {
			b.Fatal(err)
		}
		if err := d.Remove(ctx, spec.InstanceID); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSandboxUIDsAfterRestartRoot: a restarted worker's driver knows which
// user ids its running instances hold, and gives a new instance another.
func TestSandboxUIDsAfterRestartRoot(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	dataDir := t.TempDir()
	owner := func(d *testDriver, id string) uint32 {
		fi, err := os.Stat(filepath.Join(d.instanceDir(id), "work"))
		if err != nil {
			t.Fatal(err)
		}
		return statUID(fi)
	}
	first, _ := newTestDriver(t, Options{DataDir: dataDir})
	if _, err := first.Start(ctx, sleepSpec("old")); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil { // the worker "crashes"
		t.Fatal(err)
	}
	second, _ := newTestDriver(t, Options{DataDir: dataDir})
	if _, err := second.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if _, err := second.Start(ctx, sleepSpec("new")); err != nil {
		t.Fatal(err)
	}
	if a, b := owner(second, "old"), owner(second, "new"); a == b || a == 0 || b == 0 {
		t.Errorf("after a restart the old instance has uid %d and the new one %d, want two non-root ids", a, b)
	}
}
