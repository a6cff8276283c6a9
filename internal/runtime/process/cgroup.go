package process

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// defaultCgroupRoot is where cgroup hierarchies are mounted on every Linux
// distribution Hedge targets.
const defaultCgroupRoot = "/sys/fs/cgroup"

// v2Period is the CPU bandwidth period written to cpu.max, in microseconds
// (the kernel's default).
const v2Period = 100000

// cgroups places instances in per-instance cgroups and reads their usage. It
// writes the cgroup files directly: a library would add little over a dozen
// small writes. Cgroups are best effort: when they cannot be written (not root,
// read-only mount) the driver runs instances without limits and says so once.
type cgroups struct {
	version int    // 1 or 2; 0 when cgroups are not usable
	root    string // mount point of the hierarchy (v2) or of the controllers (v1)
	parent  string // relative to each hierarchy root, e.g. "hedge"
	log     *slog.Logger

	// v1: the directory of each controller's hierarchy; cpu and cpuacct may
	// be the same directory (mounted together).
	memoryDir, cpuDir, cpuacctDir string

	disabled atomic.Bool
	// outside is set once an instance runs outside its own cgroup: the
	// parent's figures then no longer cover every instance.
	outside     atomic.Bool
	warnOnce    sync.Once
	missingOnce sync.Once
}

// newCgroups detects the cgroup version under root and prepares the parent
// cgroup. It never fails: problems leave the driver without limits.
func newCgroups(root, parent string, log *slog.Logger) *cgroups {
	c := &cgroups{root: root, parent: parent, log: log}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		c.version = 2
	} else {
		c.version = 1
		c.memoryDir = controllerDir(root, "memory")
		c.cpuDir = controllerDir(root, "cpu")
		c.cpuacctDir = controllerDir(root, "cpuacct")
		if c.memoryDir == "" && c.cpuDir == "" && c.cpuacctDir == "" {
			c.disable(fmt.Errorf("no cgroup v1 memory or cpu controller under %s and no cgroup v2 hierarchy", root))
			return c
		}
	}
	if err := c.prepareParent(); err != nil {
		c.disable(err)
	}
	return c
}

// controllerDir returns the directory of a v1 controller's hierarchy, or ""
// when it is not mounted.
func controllerDir(root, name string) string {
	dir := filepath.Join(root, name)
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(resolved, "cgroup.procs")); err != nil {
		return ""
	}
	return resolved
}

// enabled reports whether instances get cgroups.
func (c *cgroups) enabled() bool { return c.version != 0 && !c.disabled.Load() }

// disable turns cgroups off for the rest of the driver's life, warning once.
func (c *cgroups) disable(err error) {
	c.disabled.Store(true)
	c.warnOnce.Do(func() {
		c.log.Warn("cgroups are not usable: instances run without cpu or memory limits",
			"cgroup_root", c.root, "error", err)
	})
}

// fail decides what an error while setting up an instance's cgroup means:
// lack of permission turns cgroups off for good (warned once); anything else
// is logged for that instance only.
func (c *cgroups) fail(instanceID string, err error) {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) {
		c.disable(err)
		return
	}
	c.outside.Store(true)
	c.log.Warn("cgroup setup failed: instance runs without limits", "instance", instanceID, "error", err)
}

// dirs returns the instance's cgroup directories, one per distinct hierarchy.
func (c *cgroups) dirs(instanceID string) []string {
	if c.version == 2 {
		return []string{filepath.Join(c.root, c.parent, instanceID)}
	}
	var out []string
	for _, d := range []string{c.memoryDir, c.cpuDir, c.cpuacctDir} {
		if d == "" {
			continue
		}
		p := filepath.Join(d, c.parent, instanceID)
		dup := false
		for _, o := range out {
			dup = dup || o == p
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out
}

// prepareParent creates the parent cgroup and, on v2, delegates the memory
// and cpu controllers to its children.
func (c *cgroups) prepareParent() error {
	if c.version == 2 {
		parent := filepath.Join(c.root, c.parent)
		// Controllers must be enabled at every level from the root down.
		// Failing here is not fatal: they may already be enabled, or the
		// hierarchy may lack them (then only placement and accounting work).
		for _, dir := range parentChain(c.root, c.parent) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create cgroup %s: %w", dir, err)
			}
			enableControllers(filepath.Dir(dir))
		}
		enableControllers(parent)
		return nil
	}
	for _, d := range []string{c.memoryDir, c.cpuDir, c.cpuacctDir} {
		if d == "" {
			continue
		}
		dir := filepath.Join(d, c.parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// parentChain lists root/a, root/a/b, ... for parent "a/b".
func parentChain(root, parent string) []string {
	var out []string
	dir := root
	for _, part := range strings.Split(parent, "/") {
		dir = filepath.Join(dir, part)
		out = append(out, dir)
	}
	return out
}

// enableControllers asks a v2 cgroup to delegate memory and cpu to its
// children, one at a time so that a missing controller does not block the
// other.
func enableControllers(dir string) {
	for _, ctrl := range []string{"+memory", "+cpu"} {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(ctrl), 0)
	}
}

// limits are what an instance's cgroup enforces; zero means unlimited.
type limits struct {
	memoryBytes int64
	vcpus       float64
}

// create makes the instance's cgroup and writes its limits. On v2 it returns
// an open descriptor of the cgroup directory, for clone3 to start the child
// inside it; the caller closes it. On v1 it returns nil and the caller moves
// the child in with join right after the start.
func (c *cgroups) create(instanceID string, l limits) (*os.File, error) {
	if !c.enabled() {
		return nil, nil
	}
	for _, dir := range c.dirs(instanceID) {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
	}
	if err := c.writeLimits(instanceID, l); err != nil {
		return nil, err
	}
	if c.version != 2 {
		return nil, nil
	}
	dir := c.dirs(instanceID)[0]
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return f, nil
}

func (c *cgroups) writeLimits(instanceID string, l limits) error {
	if c.version == 2 {
		dir := c.dirs(instanceID)[0]
		if l.memoryBytes > 0 {
			if err := c.writeLimit(filepath.Join(dir, "memory.max"), strconv.FormatInt(l.memoryBytes, 10)); err != nil {
				return err
			}
		}
		if l.vcpus > 0 {
			quota := cpuQuota(l.vcpus, v2Period)
			if err := c.writeLimit(filepath.Join(dir, "cpu.max"), fmt.Sprintf("%d %d", quota, v2Period)); err != nil {
				return err
			}
		}
		return nil
	}
	if l.memoryBytes > 0 && c.memoryDir != "" {
		dir := filepath.Join(c.memoryDir, c.parent, instanceID)
		if err := c.writeLimit(filepath.Join(dir, "memory.limit_in_bytes"), strconv.FormatInt(l.memoryBytes, 10)); err != nil {
			return err
		}
	}
	if l.vcpus > 0 && c.cpuDir != "" {
		dir := filepath.Join(c.cpuDir, c.parent, instanceID)
		period := int64(v2Period)
		if p, err := readInt(filepath.Join(dir, "cpu.cfs_period_us")); err == nil && p > 0 {
			period = p
		}
		if err := c.writeLimit(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(cpuQuota(l.vcpus, period), 10)); err != nil {
			return err
		}
	}
	return nil
}

// writeLimit writes one limit. A missing control file means the controller is
// not enabled for Hedge's cgroups (v2 without delegation): that is warned once
// and the instance keeps its cgroup, without that limit.
func (c *cgroups) writeLimit(path, value string) error {
	err := writeFile(path, value)
	if errors.Is(err, fs.ErrNotExist) {
		c.missingOnce.Do(func() {
			c.log.Warn("cgroup controller not available: limit not enforced", "file", filepath.Base(path), "error", err)
		})
		return nil
	}
	return err
}

// cpuQuota is vcpus worth of a period, never below the kernel's 1 ms minimum.
func cpuQuota(vcpus float64, period int64) int64 {
	return max(int64(vcpus*float64(period)), 1000)
}

// join moves a just-started process into the instance's v1 cgroups. (On v2
// the process was started inside its cgroup.)
func (c *cgroups) join(instanceID string, pid int) error {
	if !c.enabled() || c.version != 1 {
		return nil
	}
	for _, dir := range c.dirs(instanceID) {
		if err := writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes the instance's cgroups. A cgroup that still holds processes
// (stragglers that left the process group) cannot be removed, so they are
// killed first.
func (c *cgroups) remove(instanceID string) error {
	if c.version == 0 {
		return nil
	}
	for _, dir := range c.dirs(instanceID) {
		if err := removeCgroup(dir); err != nil {
			return err
		}
	}
	return nil
}

func removeCgroup(dir string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// usage reads the CPU time and current memory of an instance's cgroup.
func (c *cgroups) usage(instanceID string) (cpuSeconds float64, memoryBytes int64, err error) {
	if cpuSeconds, err = c.cpu(instanceID); err != nil {
		return 0, 0, err
	}
	if memoryBytes, err = c.memory(instanceID); err != nil {
		return 0, 0, err
	}
	return cpuSeconds, memoryBytes, nil
}

// cpu reads the CPU time an instance's cgroup has used.
func (c *cgroups) cpu(instanceID string) (float64, error) {
	return c.cpuOf(filepath.Join(c.parent, instanceID))
}

// parentCPU reads the CPU time every instance's cgroup has used together,
// ended ones included (the parent's figure is hierarchical and cumulative).
func (c *cgroups) parentCPU() (float64, error) {
	return c.cpuOf(c.parent)
}

// cpuOf reads the CPU time of the cgroup rel (relative to each hierarchy's
// root).
func (c *cgroups) cpuOf(rel string) (float64, error) {
	if c.version == 2 {
		dir := filepath.Join(c.root, rel)
		stat, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
		if err != nil {
			return 0, fmt.Errorf("read cpu usage: %w", err)
		}
		usec, err := statField(string(stat), "usage_usec")
		if err != nil {
			return 0, fmt.Errorf("read cpu usage of %s: %w", dir, err)
		}
		return float64(usec) / 1e6, nil
	}
	if c.cpuacctDir == "" {
		return 0, errors.New("cgroup v1 cpuacct controller not mounted")
	}
	ns, err := readInt(filepath.Join(c.cpuacctDir, rel, "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("read cpu usage: %w", err)
	}
	return float64(ns) / 1e9, nil
}

// memory reads the memory an instance's cgroup uses now.
func (c *cgroups) memory(instanceID string) (int64, error) {
	var path string
	switch {
	case c.version == 2:
		path = filepath.Join(c.dirs(instanceID)[0], "memory.current")
	case c.memoryDir == "":
		return 0, errors.New("cgroup v1 memory controller not mounted")
	default:
		path = filepath.Join(c.memoryDir, c.parent, instanceID, "memory.usage_in_bytes")
	}
	mem, err := readInt(path)
	if err != nil {
		return 0, fmt.Errorf("read memory usage: %w", err)
	}
	return mem, nil
}

// statField finds "key value" in a flat-keyed cgroup file such as cpu.stat.
func statField(content, key string) (int64, error) {
	for line := range strings.Lines(content) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == key {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s field", key)
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// writeFile writes a cgroup control file, which must exist already.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// setLimits writes both limits of a running instance, including "unlimited"
// for zero values, which writeLimits (made for a fresh cgroup) skips.
func (c *cgroups) setLimits(instanceID string, l limits) error {
	if !c.enabled() {
		return nil
	}
	if c.version == 2 {
		dir := c.dirs(instanceID)[0]
		mem, cpu := "max", fmt.Sprintf("max %d", v2Period)
		if l.memoryBytes > 0 {
			mem = strconv.FormatInt(l.memoryBytes, 10)
		}
		if l.vcpus > 0 {
			cpu = fmt.Sprintf("%d %d", cpuQuota(l.vcpus, v2Period), v2Period)
		}
		if err := c.writeLimit(filepath.Join(dir, "memory.max"), mem); err != nil {
			return err
		}
		return c.writeLimit(filepath.Join(dir, "cpu.max"), cpu)
	}
	if c.memoryDir != "" {
		v := "-1"
		if l.memoryBytes > 0 {
			v = strconv.FormatInt(l.memoryBytes, 10)
		}
		if err := c.writeLimit(filepath.Join(c.memoryDir, c.parent, instanceID, "memory.limit_in_bytes"), v); err != nil {
			return err
		}
	}
	if c.cpuDir != "" {
		dir := filepath.Join(c.cpuDir, c.parent, instanceID)
		v := "-1"
		if l.vcpus > 0 {
			period := int64(v2Period)
			if p, err := readInt(filepath.Join(dir, "cpu.cfs_period_us")); err == nil && p > 0 {
				period = p
			}
			v = strconv.FormatInt(cpuQuota(l.vcpus, period), 10)
		}
		return c.writeLimit(filepath.Join(dir, "cpu.cfs_quota_us"), v)
	}
	return nil
}
