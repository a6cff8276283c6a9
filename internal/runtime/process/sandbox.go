package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/runtime/process/sandboxinit"
)

// Network modes of the sandbox (Sandbox.Network).
const (
	// NetworkHost keeps instances on the host's network, as Nomad's exec
	// driver does by default: they listen on the node's ports and reach
	// service addresses.
	NetworkHost = sandboxinit.NetworkHost
	// NetworkPrivate gives each instance a network namespace of its own
	// with only a loopback interface.
	NetworkPrivate = sandboxinit.NetworkPrivate
)

// DefaultUIDs is the range of user ids given to instances when the worker
// names none: above the ranges of /etc/subuid (100000 + 65536 n) and of
// systemd's containers (524288-1879048191), below 2^31.
var DefaultUIDs = UIDRange{First: 2_000_000_000, Count: 65536}

// ErrSandbox wraps the reasons a sandboxed instance cannot start.
var ErrSandbox = errdefs.New(errdefs.ErrUnavailable, "process sandbox")

// Sandbox says how process instances are confined (ADR 012): each runs as a
// user id of its own from UIDs, in its own mount, PID, IPC and UTS
// namespaces, seeing the system's /usr, /lib, /bin, /sbin and /etc read-only,
// its code's directory read-only, a private /tmp, /proc and minimal /dev,
// and its working directory; nothing else of the host's files.
type Sandbox struct {
	// Off runs instances as the worker's user on the host's namespaces
	// (every instance then is as a "raw" one). For development without
	// root only.
	Off bool
	// UIDs is the range of user ids given to instances, one per instance
	// (default DefaultUIDs). Its group id is the same number.
	UIDs UIDRange
	// Network is NetworkHost (the default) or NetworkPrivate.
	Network string
	// Protect lists directories (a tier's data directory) of which an
	// instance never sees more than its own code file, even when the code
	// lies in or above them. The driver's own data directory always is.
	Protect []string
	// Init is the executable that sets the sandbox up and runs the
	// instance: it must call sandboxinit.RunInitIfAsked. The default is
	// hedge-init beside this program (cmd/hedge-init, which starts in a
	// millisecond), else this very program (/proc/self/exe, which runs
	// every package's initialisation first: tens of milliseconds and
	// ~20 MB per start).
	Init string
}

// UIDRange is a range of user ids: First, First+1, ... First+Count-1.
type UIDRange struct {
	First, Count uint32
}

// String is the range as "first-last", the form ParseUIDRange reads.
func (r UIDRange) String() string {
	return fmt.Sprintf("%d-%d", r.First, uint64(r.First)+uint64(r.Count)-1)
}

// ParseUIDRange reads "first-last" (both included). Ids below 1000 (system
// users) and 0 are refused.
func ParseUIDRange(s string) (UIDRange, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	last, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	if !ok || err1 != nil || err2 != nil || last < first {
		return UIDRange{}, fmt.Errorf("instance uids %q: want first-last, e.g. %s", s, DefaultUIDs)
	}
	if first < 1000 {
		return UIDRange{}, fmt.Errorf("instance uids %q: ids below 1000 belong to system users", s)
	}
	if last >= 1<<32-1 {
		return UIDRange{}, fmt.Errorf("instance uids %q: %d is not a valid user id", s, last)
	}
	return UIDRange{First: uint32(first), Count: uint32(last - first + 1)}, nil
}

func (r UIDRange) contains(uid uint32) bool {
	return uid >= r.First && uint64(uid) < uint64(r.First)+uint64(r.Count)
}

// uidPool hands out the user ids of instances, one per instance id; an
// instance started again keeps its id (it owns its working directory).
type uidPool struct {
	r    UIDRange
	mu   sync.Mutex
	byID map[string]uint32
	used map[uint32]bool
	next uint32 // offset in r where the search for a free id starts
}

func newUIDPool(r UIDRange) *uidPool {
	return &uidPool{r: r, byID: make(map[string]uint32), used: make(map[uint32]bool)}
}

// take returns id's user id, choosing a free one when id has none.
func (p *uidPool) take(id string) (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if uid, ok := p.byID[id]; ok {
		return uid, nil
	}
	for i := range p.r.Count {
		uid := p.r.First + (p.next+i)%p.r.Count
		if !p.used[uid] {
			p.used[uid], p.byID[id] = true, uid
			p.next = (p.next + i + 1) % p.r.Count
			return uid, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d instance user ids (%s) are in use", ErrSandbox, p.r.Count, p.r)
}

// adopt records that id has uid (found on its working directory).
func (p *uidPool) adopt(id string, uid uint32) {
	if !p.r.contains(uid) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used[uid], p.byID[id] = true, uid
}

// release frees id's user id.
func (p *uidPool) release(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if uid, ok := p.byID[id]; ok {
		delete(p.used, uid)
		delete(p.byID, id)
	}
}

// adoptUIDs rebuilds the pool from the owners of the instances' working
// directories, after a worker restart.
func (d *Driver) adoptUIDs() {
	entries, _ := os.ReadDir(filepath.Join(d.dataDir, "instances"))
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(d.instanceDir(e.Name()), "work"))
		if err != nil {
			continue
		}
		d.uids.adopt(e.Name(), statUID(fi))
	}
}

// statUID is the owner of a file (0 when unknown).
func statUID(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}

// sandboxed is whether spec's instance runs in the sandbox.
func (d *Driver) sandboxed(raw bool) bool { return !d.sandbox.Off && !raw }

// sandboxStart is what a start in the sandbox adds to a plain one.
type sandboxStart struct {
	path   string   // the init program
	argv   []string // its arguments, the instance's program's after "--"
	flags  uintptr  // clone flags
	status *os.File // where the init writes how the program ended
	// started is read by the worker, written by the init: "ok" once the
	// program runs, else why it could not start.
	started, startW *os.File
	// instanceCgroup (cgroup v2) is the instance's cgroup, into which the
	// init starts the program; initCgroup is the init's own, so that the
	// init's memory is not charged to the instance.
	instanceCgroup, initCgroup *os.File
	d                          *Driver
}

// files are the init's descriptors from 3 on.
func (s *sandboxStart) files() []uintptr {
	fds := []uintptr{s.status.Fd(), s.startW.Fd()}
	if s.initCgroup != nil {
		fds = append(fds, s.instanceCgroup.Fd())
	}
	return fds
}

// cgroup is the cgroup to start the process in: the init's own in the
// sandbox when it has one, else the instance's (nil when none).
func (s *sandboxStart) cgroup(instance *os.File) *os.File {
	if s != nil && s.initCgroup != nil {
		return s.initCgroup
	}
	return instance
}

// close releases the worker's ends of the init's descriptors.
func (s *sandboxStart) close() {
	s.status.Close()
	s.started.Close()
	if s.startW != nil {
		s.startW.Close()
	}
	if s.initCgroup != nil {
		s.initCgroup.Close()
	}
}

// joinFirst is the cgroup a process joins after its start (cgroup v1):
// the init's own in the sandbox, which then moves the program into the
// instance's (joinProgram); the instance's otherwise.
func (s *sandboxStart) joinFirst(id string) string {
	if s == nil {
		return id
	}
	if _, err := s.d.cg.create(initCgroup(id), limits{}); err != nil {
		return id
	}
	return initCgroup(id)
}

// joinProgram moves the program the sandbox's init (initPID) started into
// the instance's cgroup (cgroup v1, where processes join after their
// start). The program is the init's one child at this point.
func (d *Driver) joinProgram(id string, initPID int) {
	kids, err := childrenOf(initPID)
	if err != nil {
		d.cg.fail(id, err)
		return
	}
	for _, pid := range kids {
		if err := d.cg.join(id, pid); err != nil {
			d.cg.fail(id, err)
		}
	}
}

// childrenOf lists the children of process pid, forked by any of its
// threads.
func childrenOf(pid int) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	threads, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, th := range threads {
		b, err := os.ReadFile(filepath.Join(dir, th.Name(), "children"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if kid, err := strconv.Atoi(f); err == nil {
				out = append(out, kid)
			}
		}
	}
	return out, nil
}

// initCgroup names the cgroup of an instance's sandbox init.
func initCgroup(id string) string { return id + ".init" }

// removeCgroups removes the instance's cgroups after a failed start.
func (d *Driver) removeCgroups(id string) {
	_ = d.cg.remove(id)
	_ = d.cg.remove(initCgroup(id))
}

// wait returns nil once the init reports that the program runs, or the
// reason it does not.
func (s *sandboxStart) wait(ctx context.Context) error {
	s.startW.Close() // the init holds the write end now
	s.startW = nil
	stop := context.AfterFunc(ctx, func() { _ = s.started.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	line, err := bufio.NewReader(s.started).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case line == "ok":
		return nil
	case line != "":
		return errors.New(line)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("%w: the init ended before it started the program: %v", ErrSandbox, err)
}

// prepareSandbox chooses the instance's user id, hands it its working
// directory and builds the init's command line.
func (d *Driver) prepareSandbox(id, code, work string, argv []string, cgroupDir *os.File) (*sandboxStart, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: needs the worker to run as root (or the worker's --instance-sandbox=off, for development)", ErrSandbox)
	}
	uid, err := d.uids.take(id)
	if err != nil {
		return nil, err
	}
	if err := os.Chown(work, int(uid), int(uid)); err != nil {
		return nil, fmt.Errorf("%w: working directory: %w", ErrSandbox, err)
	}
	if err := os.Chmod(work, 0o700); err != nil {
		return nil, fmt.Errorf("%w: working directory: %w", ErrSandbox, err)
	}
	rootfs := filepath.Join(d.instanceDir(id), "rootfs")
	if err := os.MkdirAll(rootfs, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	exe, err := filepath.EvalSymlinks(code)
	if err != nil {
		return nil, fmt.Errorf("code %s: %w", code, err)
	}
	status, err := os.OpenFile(d.statusPath(id), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	started, startW, err := os.Pipe()
	if err != nil {
		status.Close()
		return nil, fmt.Errorf("%w: %w", ErrSandbox, err)
	}
	if fi, err := os.Stat(exe); err == nil && fi.Mode().Perm()&0o001 == 0 {
		status.Close()
		started.Close()
		startW.Close()
		return nil, fmt.Errorf("code %s: not executable by the instance's user (mode %v): make it executable by others, or mark the service raw (needs Admin)", code, fi.Mode().Perm())
	}
	codeFlag := "-code-dir"
	codePath := filepath.Dir(exe)
	if d.onlyCodeFile(codePath) {
		codeFlag, codePath = "-code-file", exe
	}
	net := d.sandbox.Network
	if net == "" {
		net = NetworkHost
	}
	sb := &sandboxStart{status: status, started: started, startW: startW, instanceCgroup: cgroupDir, d: d}
	args := []string{"hedge", sandboxinit.InitArg, "-uid", strconv.FormatUint(uint64(uid), 10), "-root", rootfs,
		"-work", work, codeFlag, codePath, "-net", net}
	if cgroupDir != nil {
		if cg, err := d.cg.create(initCgroup(id), limits{}); err == nil && cg != nil {
			sb.initCgroup = cg
			args = append(args, "-cgroup-fd", strconv.Itoa(sandboxinit.CgroupFD))
		}
	}
	args = append(args, "--", exe)
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if net == NetworkPrivate {
		flags |= unix.CLONE_NEWNET
	}
	init := d.sandbox.Init
	if init == "" {
		init = defaultInit()
	}
	sb.path, sb.argv, sb.flags = init, append(args, argv...), flags
	return sb, nil
}

// onlyCodeFile is whether the code's directory dir must not be shown whole:
// the file system's root, a directory in or above a protected one, or one
// the instance's user could not enter anyway (such as a 0700 directory of
// root's), of which it gets the code file alone.
func (d *Driver) onlyCodeFile(dir string) bool {
	if fi, err := os.Stat(dir); dir == "/" || err != nil || fi.Mode().Perm()&0o001 == 0 {
		return true
	}
	for _, p := range append([]string{d.dataDir}, d.sandbox.Protect...) {
		if p, err := filepath.Abs(p); err == nil && (sandboxinit.Within(dir, p) || sandboxinit.Within(p, dir)) {
			return true
		}
	}
	return false
}

// statusPath is where the init of a sandboxed instance writes how its
// program ended (the init itself can only exit with a code).
func (d *Driver) statusPath(id string) string {
	return filepath.Join(d.instanceDir(id), "exit-status")
}

// sandboxSignal returns the signal that killed a sandboxed instance's
// program, as its init recorded; 0 when it was not killed by one or the
// record is missing.
func (d *Driver) sandboxSignal(id string, code int) syscall.Signal {
	b, err := os.ReadFile(d.statusPath(id))
	if err != nil {
		return 0
	}
	var sig int
	if _, err := fmt.Sscanf(string(b), "signal %d", &sig); err != nil || 128+sig != code {
		return 0
	}
	return syscall.Signal(sig)
}

// checkNetwork validates Sandbox.Network.
func checkNetwork(n string) error {
	switch n {
	case "", NetworkHost, NetworkPrivate:
		return nil
	}
	return errors.New("instance network " + strconv.Quote(n) + ": want host or private")
}

// initProgram is the name of cmd/hedge-init, looked for beside hedge.
const initProgram = "hedge-init"

var defaultInit = sync.OnceValue(func() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), initProgram)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return "/proc/self/exe"
})
