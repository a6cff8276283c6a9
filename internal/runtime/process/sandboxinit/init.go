// Package sandboxinit is the init of a process instance's sandbox (ADR
// 012): it enters the namespaces' view, drops to the instance's user, runs
// the program and records how it ended. It imports only the standard
// library and x/sys, so that cmd/hedge-init, the small program the worker
// starts for every instance, starts in a millisecond instead of the tens of
// milliseconds the whole hedge binary's initialisation takes.
package sandboxinit

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// InitArg is the hidden first argument on which the hedge program runs as a
// sandbox's init (RunInit) instead of its usual commands.
const InitArg = "sandbox-init"

// statusFD is the descriptor on which the init receives the file it
// records the program's end in; startFD the pipe on which it tells the
// worker that the program runs ("ok") or why it could not start.
const (
	statusFD = 3
	startFD  = 4
	// CgroupFD is the instance's cgroup (v2), into which the init starts
	// the program, when the init runs in a cgroup of its own.
	CgroupFD = 5
)

// Network modes of the sandbox: the host's, or a namespace of its own
// with only a loopback interface.
const (
	NetworkHost    = "host"
	NetworkPrivate = "private"
)

// hostDirs are the host's directories every instance sees, read-only, as
// in Nomad's exec chroot: what programs need to run.
var hostDirs = []string{"/bin", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/sbin", "/usr"}

// devices are the host's devices bound into the sandbox's /dev.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// initConfig is the init's command line.
type initConfig struct {
	uid      uint32
	root     string // an empty directory to build the new root on
	work     string
	codeDir  string
	codeFile string
	network  string
	CgroupFD int
	exe      string
	argv     []string
}

// RunInit is the sandbox's init: the first process of the instance's new
// mount and PID namespaces, root inside them. It builds the instance's file
// system view, turns it into the root, then runs the program as the
// instance's user and waits for it, reaping what else ends in the
// namespace. It returns the program's exit code (128 + the signal that
// killed it) and writes how it ended to descriptor 3; 127 when the sandbox
// cannot be set up (the reason is on stderr, so in the instance's log).
func RunInit(args []string) int {
	unix.CloseOnExec(statusFD)
	unix.CloseOnExec(startFD)
	c, err := parseInit(args)
	if err == nil {
		err = c.enter()
	}
	if err != nil {
		return failStart(fmt.Errorf("sandbox: %w", err))
	}
	return c.run()
}

// failStart tells the worker (and the instance's log) why the program
// could not start, and returns the init's exit code for it.
func failStart(err error) int {
	fmt.Fprintf(os.Stderr, "hedge %v\n", err)
	start := os.NewFile(startFD, "start")
	fmt.Fprintf(start, "%v\n", err)
	start.Close()
	return 127
}

func parseInit(args []string) (*initConfig, error) {
	fl := flag.NewFlagSet(InitArg, flag.ContinueOnError)
	var c initConfig
	var uid uint64
	fl.Uint64Var(&uid, "uid", 0, "")
	fl.StringVar(&c.root, "root", "", "")
	fl.StringVar(&c.work, "work", "", "")
	fl.StringVar(&c.codeDir, "code-dir", "", "")
	fl.StringVar(&c.codeFile, "code-file", "", "")
	fl.StringVar(&c.network, "net", NetworkHost, "")
	fl.IntVar(&c.CgroupFD, "cgroup-fd", -1, "")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	rest := fl.Args()
	if uid == 0 || uid >= 1<<32-1 || c.root == "" || c.work == "" || len(rest) < 2 {
		return nil, errors.New("usage: sandbox-init -uid N -root DIR -work DIR [-code-dir DIR|-code-file FILE] [-net host|private] -- EXE ARGV0 [ARG...]")
	}
	c.uid, c.exe, c.argv = uint32(uid), rest[0], rest[1:]
	return &c, nil
}

// enter builds the new root and moves into it.
func (c *initConfig) enter() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	r := c.root
	if err := unix.Mount("tmpfs", r, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755,size=256k"); err != nil {
		return fmt.Errorf("mount the new root: %w", err)
	}
	for _, dir := range hostDirs {
		if err := hostEntry(r, dir); err != nil {
			return err
		}
	}
	if err := resolvConf(r); err != nil {
		return err
	}
	if err := mkdirMount("proc", r+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := c.dev(r); err != nil {
		return err
	}
	if err := mkdirMount("tmpfs", r+"/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return err
	}
	ro := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
	switch {
	case c.codeFile != "":
		if err := bind(c.codeFile, r+c.codeFile, ro, true); err != nil {
			return err
		}
	case c.codeDir != "" && !underHostDir(c.codeDir):
		if err := bind(c.codeDir, r+c.codeDir, ro, false); err != nil {
			return err
		}
	}
	if err := bind(c.work, r+c.work, unix.MS_NOSUID|unix.MS_NODEV, false); err != nil {
		return err
	}
	if c.network == NetworkPrivate {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if err := pivot(r); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("make the new root read-only: %w", err)
	}
	return os.Chdir(c.work)
}

// hostEntry shows the host's dir under r: bound read-only, or the same
// symbolic link (/bin -> usr/bin on merged-/usr systems).
func hostEntry(r, dir string) error {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(dir)
		if err != nil {
			return err
		}
		return os.Symlink(target, r+dir)
	case !fi.IsDir():
		return nil
	}
	return bind(dir, r+dir, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, false)
}

// resolvConf shows the file /etc/resolv.conf links to when that lies
// outside /etc (systemd-resolved's /run/systemd/resolve/...).
func resolvConf(r string) error {
	target, err := filepath.EvalSymlinks("/etc/resolv.conf")
	if err != nil || underHostDir(target) {
		return nil
	}
	return bind(target, r+target, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, true)
}

// underHostDir is whether path lies in one of hostDirs (already shown).
func underHostDir(path string) bool {
	for _, d := range hostDirs {
		if Within(path, d) {
			return true
		}
	}
	return false
}

// dev makes a minimal /dev: a few devices, the usual links, a private shm.
func (c *initConfig) dev(r string) error {
	if err := mkdirMount("tmpfs", r+"/dev", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=64k"); err != nil {
		return err
	}
	for _, name := range devices {
		if err := bind("/dev/"+name, r+"/dev/"+name, unix.MS_NOSUID|unix.MS_NOEXEC, true); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, r+"/dev/"+name); err != nil {
			return err
		}
	}
	return mkdirMount("tmpfs", r+"/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777")
}

// mkdirMount creates dst and mounts there.
func mkdirMount(src, dst, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, dst, err)
	}
	return nil
}

// bind mounts src (a file when file is set) on dst, creating dst, then
// applies flags (MS_RDONLY, MS_NOSUID, ...) to the new mount.
func bind(src, dst string, flags uintptr, file bool) error {
	mkdir := dst
	if file {
		mkdir = filepath.Dir(dst)
	}
	if err := os.MkdirAll(mkdir, 0o755); err != nil {
		return err
	}
	if file {
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	return nil
}

// pivot makes r the root and detaches the old one (as runc does, without
// a directory for the old root).
func pivot(r string) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldRoot)
	if err := unix.Chdir(r); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(oldRoot); err != nil {
		return err
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the old root: %w", err)
	}
	return unix.Chdir("/")
}

// loopbackUp brings up lo in the instance's own network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	return nil
}

// run starts the program as the instance's user and waits for it. The
// worker signals the whole process group, program and init alike, so the
// init only has to survive the signals (it handles them all, so none ends
// it) and report. When the init returns, the kernel kills whatever is left
// in the namespace.
func (c *initConfig) run() int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	go func() {
		for range sigs { //nolint:revive // the signals only need to be caught
		}
	}()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return failStart(fmt.Errorf("sandbox: no_new_privs: %w", err))
	}
	sys := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.uid, Gid: c.uid, Groups: []uint32{}}}
	if c.CgroupFD >= 0 {
		unix.CloseOnExec(c.CgroupFD)
		sys.UseCgroupFD, sys.CgroupFD = true, c.CgroupFD
	}
	attr := &syscall.ProcAttr{Dir: c.work, Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: sys}
	pid, err := syscall.ForkExec(c.exe, c.argv, attr)
	if err != nil && sys.UseCgroupFD {
		// As the driver does: without the cgroup rather than not at all.
		sys.UseCgroupFD = false
		if pid, err = syscall.ForkExec(c.exe, c.argv, attr); err == nil {
			fmt.Fprintln(os.Stderr, "hedge sandbox: start inside the instance cgroup refused: the instance runs without limits")
		}
	}
	if err != nil {
		return failStart(err)
	}
	start := os.NewFile(startFD, "start")
	fmt.Fprintln(start, "ok")
	start.Close()
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "hedge sandbox: wait: %v\n", err)
			return 127
		}
		if got != pid {
			continue
		}
		status := os.NewFile(statusFD, "status")
		if ws.Signaled() {
			fmt.Fprintf(status, "signal %d\n", int(ws.Signal()))
			return 128 + int(ws.Signal())
		}
		fmt.Fprintf(status, "exit %s\n", strconv.Itoa(ws.ExitStatus()))
		return ws.ExitStatus()
	}
}

// RunInitIfAsked runs RunInit and exits when this program was started as a
// sandbox's init (its first argument is InitArg); otherwise it returns at
// once. A program whose process driver runs sandboxed instances with the
// default Sandbox.Init calls it first thing in main.
func RunInitIfAsked() {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		os.Exit(RunInit(os.Args[2:]))
	}
}

// Within reports whether path is dir or lies under it.
func Within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
