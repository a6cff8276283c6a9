package sla

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hedgeorch/hedge/api"
)

// Upper bounds. They are far above any real machine; they exist to turn
// nonsense (a typo with three extra zeros, an overflow) into a clear message.
const (
	maxMemoryMB     = 4 << 20 // 4 TiB
	maxVCPUs        = 1024
	maxAccelerators = 1024 // vgpus, vtpus
	maxBandwidth    = 1_000_000_000
	maxStorageMB    = 1 << 40 // 1 EiB
	maxInstances    = 1000
	maxNameLen      = 30
)

var (
	nameRE   = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

	// serviceNet4 is Oakestra's IPv4 service address range; round-robin and
	// closest addresses both come from it.
	serviceNet4 = netip.MustParsePrefix("10.30.0.0/16")
	// roundRobinNet6 is Oakestra's IPv6 round-robin service range.
	roundRobinNet6 = netip.MustParsePrefix("fdff:2000::/21")
)

// canonicalArch maps the architecture names users write to Go's names, which
// are what workers report.
var canonicalArch = map[string]string{
	"amd64": "amd64", "x86_64": "amd64", "x86-64": "amd64",
	"arm64": "arm64", "aarch64": "arm64",
	"arm": "arm", "armv7l": "arm", "armhf": "arm",
	"386": "386", "i386": "386", "i686": "386",
	"riscv64": "riscv64",
}

// NormalizeArch returns Go's name for a CPU architecture ("x86_64" gives
// "amd64"), and false if the name is not one Hedge runs on.
func NormalizeArch(name string) (string, bool) {
	canonical, ok := canonicalArch[strings.ToLower(name)]
	return canonical, ok
}

// ValidateService checks the values of one service and returns every
// problem, with fields under path (e.g. "applications[0].microservices[1]";
// "" for none). It is what Parse applies to each microservice, exported so
// that code paths that receive an api.ServiceSpec directly apply the same
// rules. It expects arch names already normalised (see NormalizeArch) and
// treats Instances 0 as "none", since it cannot tell 0 from unset. Whether a
// target_microservice exists, and cycles among the dataflows, need the whole
// application: see ValidateConnectivity.
func ValidateService(path string, s *api.ServiceSpec) []Problem {
	v := &checker{path: path}
	if s == nil {
		v.addf("", "required")
		return v.problems
	}
	v.name("microservice_name", s.Name)
	v.name("microservice_namespace", s.Namespace)
	v.code(s)
	v.noNUL("cmd", s.Cmd)
	v.noNUL("args", s.Args)
	v.environment(s.Environment)

	v.intRange("memory", s.MemoryMB, maxMemoryMB, " (4 TiB in MB)")
	v.floatRange("vcpus", s.VCPUs, maxVCPUs)
	v.intRange("vgpus", int64(s.VGPUs), maxAccelerators, "")
	v.intRange("vtpus", int64(s.VTPUs), maxAccelerators, "")
	v.intRange("bandwidth_in", s.BandwidthIn, maxBandwidth, "")
	v.intRange("bandwidth_out", s.BandwidthOut, maxBandwidth, "")
	v.intRange("storage", s.Storage, maxStorageMB, "")
	v.intRange("instances", int64(s.Instances), maxInstances, "")

	switch s.RestartPolicy {
	case "", api.RestartAlways, api.RestartOnFailure, api.RestartNever:
	default:
		v.addf("restart_policy", "must be one of always, on-failure, never, got %q", s.RestartPolicy)
	}
	if s.Priority < -1000 || s.Priority > 1000 {
		v.addf("priority", "must be between -1000 and 1000, got %d", s.Priority)
	}
	switch s.PlacementPolicy {
	case "", "best-fit", "worst-fit", "most-traffic", "traffic-most":
	default:
		v.addf("placement_policy", "must be one of best-fit, worst-fit, most-traffic, traffic-most, got %q", s.PlacementPolicy)
	}
	for k, val := range s.NodeSelector {
		if k == "" || len(k) > 253 || len(val) > 253 {
			v.addf("node_selector", "label %q: keys must be 1 to 253 characters and values at most 253", k)
		}
	}
	if _, err := ParsePorts(s.Port); err != nil {
		v.addf("port", "%s", err)
	}
	v.arch(s)
	v.addresses(s.Addresses)
	for i, c := range s.Constraints {
		v.constraint(index("constraints", i), c)
	}
	v.connectivity(s)
	return v.problems
}

// checker collects the problems of one service, with fields relative to path.
type checker struct {
	path     string
	problems []Problem
}

// addf adds a problem; field is relative to the checker's path.
func (v *checker) addf(field, format string, args ...any) {
	full := v.path
	switch {
	case field == "":
	case full == "":
		full = field
	case strings.HasPrefix(field, "["):
		full += field
	default:
		full += "." + field
	}
	v.problems = append(v.problems, Problem{Field: full, Message: fmt.Sprintf(format, args...)})
}

// checkName checks an Oakestra name (application, namespace, microservice):
// 1 to 30 letters and digits. It returns "" if the name is fine.
func checkName(s string) string {
	switch {
	case s == "":
		return "required"
	case !nameRE.MatchString(s):
		return fmt.Sprintf("must contain only letters and digits, got %s", quote(s))
	case len(s) > maxNameLen:
		return fmt.Sprintf("must be at most %d characters, got %d", maxNameLen, len(s))
	}
	return ""
}

// CheckName checks an Oakestra name (application, namespace,
// microservice) as the SLA does; "" if it is fine, else what is wrong.
func CheckName(s string) string { return checkName(s) }

func (v *checker) name(field, s string) {
	if msg := checkName(s); msg != "" {
		v.addf(field, "%s", msg)
	}
}

func (v *checker) code(s *api.ServiceSpec) {
	switch s.Virtualization {
	case "":
		v.addf("virtualization", "required")
	case api.VirtContainer, api.VirtUnikernel, api.VirtProcess:
	default:
		v.addf("virtualization", "must be one of %s, %s, %s, got %s",
			api.VirtContainer, api.VirtUnikernel, api.VirtProcess, quote(s.Virtualization))
	}
	if s.Raw && s.Virtualization != api.VirtProcess {
		v.addf("raw", "only for virtualization %s (a process outside the sandbox), got %s", api.VirtProcess, quote(s.Virtualization))
	}
	if strings.TrimSpace(s.Code) == "" {
		v.addf("code", "required")
		return
	}
	switch s.Virtualization {
	case api.VirtContainer:
		if err := checkImageRef(s.Code); err != nil {
			v.addf("code", "must be a container image reference such as docker.io/library/nginx:latest: %s", err)
		}
	case api.VirtUnikernel:
		// Oakestra allows several kernels, one per architecture, separated by ",".
		for _, k := range strings.Split(s.Code, ",") {
			if !isHTTPURL(k) && !isAbsPath(k) {
				v.addf("code", "must be an http(s) URL or an absolute path of a unikernel image, got %s", quote(k))
				return
			}
		}
	case api.VirtProcess:
		if !isHTTPURL(s.Code) && !isAbsPath(s.Code) {
			v.addf("code", "must be an absolute path of an executable on the worker or an http(s) URL to fetch it from, got %s", quote(s.Code))
		}
	}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.ContainsAny(s, " \t\n\x00")
}

func isAbsPath(s string) bool {
	return path.IsAbs(s) && !strings.ContainsRune(s, 0)
}

func (v *checker) noNUL(field string, list []string) {
	for i, s := range list {
		if strings.ContainsRune(s, 0) {
			v.addf(index(field, i), "must not contain NUL bytes")
		}
	}
}

func (v *checker) environment(env []string) {
	seen := map[string]int{}
	for i, e := range env {
		field := index("environment", i)
		key, value, ok := strings.Cut(e, "=")
		switch {
		case !ok:
			v.addf(field, "must be KEY=VALUE, got %s", quote(e))
		case !envKeyRE.MatchString(key):
			v.addf(field, "variable name %s must match %s", quote(key), envKeyRE)
		case strings.ContainsRune(value, 0):
			v.addf(field, "must not contain NUL bytes")
		default:
			if j, dup := seen[key]; dup {
				v.addf(field, "variable %s is already set by environment[%d]", key, j)
			}
			seen[key] = i
		}
	}
}

func (v *checker) intRange(field string, n, upper int64, unit string) {
	switch {
	case n < 0:
		v.addf(field, "must be >= 0, got %d", n)
	case n > upper:
		v.addf(field, "must be <= %d%s, got %d", upper, unit, n)
	}
}

func (v *checker) floatRange(field string, f, upper float64) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		v.addf(field, "must be a finite number")
	case f < 0:
		v.addf(field, "must be >= 0, got %s", formatFloat(f))
	case f > upper:
		v.addf(field, "must be <= %s, got %s", formatFloat(upper), formatFloat(f))
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (v *checker) arch(s *api.ServiceSpec) {
	seen := map[string]bool{}
	for i, a := range s.Arch {
		field := index("arch", i)
		canonical, ok := NormalizeArch(a)
		switch {
		case !ok:
			v.addf(field, "must be one of amd64, arm64, arm, 386, riscv64, got %s", quote(a))
		case canonical != a:
			v.addf(field, "write %q instead of %s", canonical, quote(a))
		case seen[a]:
			v.addf(field, "%s is listed twice", quote(a))
		}
		seen[a] = true
	}
	// For unikernels, arch[i] is the architecture of the i-th kernel in code.
	if s.Virtualization == api.VirtUnikernel && len(s.Arch) > 0 {
		if kernels := len(strings.Split(s.Code, ",")); kernels != len(s.Arch) {
			v.addf("arch", "has %d entries but code names %d unikernel image(s); they pair up in order", len(s.Arch), kernels)
		}
	}
}

func (v *checker) addresses(a *api.Addresses) {
	if a == nil {
		return
	}
	v.ipv4("addresses.rr_ip", a.RRIP)
	v.ipv4("addresses.closest_ip", a.ClosestIP)
	if a.RRIP != "" && a.RRIP == a.ClosestIP {
		v.addf("addresses.closest_ip", "must differ from rr_ip")
	}
	if a.RRIPv6 != "" {
		ip, err := netip.ParseAddr(a.RRIPv6)
		switch {
		case err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "":
			v.addf("addresses.rr_ip_v6", "must be an IPv6 address, got %s", quote(a.RRIPv6))
		case !roundRobinNet6.Contains(ip):
			v.addf("addresses.rr_ip_v6", "must be inside %s (Oakestra's IPv6 round-robin range), got %s", roundRobinNet6, a.RRIPv6)
		}
	}
}

func (v *checker) ipv4(field, s string) {
	if s == "" {
		return
	}
	ip, err := netip.ParseAddr(s)
	switch {
	case err != nil || !ip.Is4():
		v.addf(field, "must be an IPv4 address (10.30.x.y), got %s", quote(s))
	case !serviceNet4.Contains(ip):
		v.addf(field, "must be inside %s (Oakestra's service IP range), got %s", serviceNet4, s)
	}
}

func (v *checker) constraint(field string, c api.Constraint) {
	at := func(name string) string { return field + "." + name }
	known, ok := constraintFields[c.Type]
	switch {
	case c.Type == "":
		v.addf(at("type"), "required (one of direct, clusters, latency, geo, addons)")
		return
	case !ok:
		v.addf(at("type"), "unknown constraint type %s; want one of direct, clusters, latency, geo, addons", quote(c.Type))
		return
	}
	// Fields set that this type does not take (possible when the spec did
	// not come from a descriptor).
	set := map[string]bool{
		"cluster": c.Cluster != "", "node": c.Node != "", "allowed": len(c.Allowed) > 0,
		"area": c.Area != "", "location": c.Location != "", "threshold": c.Threshold != 0,
		"needs": len(c.Needs) > 0,
	}
	for _, name := range []string{"cluster", "node", "allowed", "area", "location", "threshold", "needs"} {
		if set[name] && !slices.Contains(known, name) {
			v.addf(at(name), "not used by a %s constraint", c.Type)
		}
	}

	switch c.Type {
	case "direct":
		if c.Cluster == "" && c.Node == "" {
			v.addf(field, "a direct constraint needs cluster, node or both")
		}
		if c.Node != "" {
			for _, n := range strings.Split(c.Node, ";") {
				if strings.TrimSpace(n) == "" {
					v.addf(at("node"), "must be node names separated by \";\", got %s", quote(c.Node))
					break
				}
			}
		}
	case "clusters":
		v.names(at("allowed"), c.Allowed, "cluster")
	case "addons":
		v.names(at("needs"), c.Needs, "add-on")
	case "latency":
		if strings.TrimSpace(c.Area) == "" {
			v.addf(at("area"), "required")
		}
		v.threshold(at("threshold"), c.Threshold, "milliseconds")
	case "geo":
		if err := checkLocation(c.Location); err != nil {
			v.addf(at("location"), "%s", err)
		}
		v.threshold(at("threshold"), c.Threshold, "km")
	}
}

// names checks a non-empty list of non-empty names.
func (v *checker) names(field string, list []string, what string) {
	if len(list) == 0 {
		v.addf(field, "must list at least one %s", what)
	}
	for i, n := range list {
		if strings.TrimSpace(n) == "" {
			v.addf(index(field, i), "must not be empty")
		}
	}
}

func (v *checker) threshold(field string, f float64, unit string) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		v.addf(field, "must be a number > 0 (%s), got %s", unit, formatFloat(f))
	}
}

// checkLocation checks a "lat,lon" pair in degrees.
func checkLocation(s string) error {
	if s == "" {
		return fmt.Errorf("required (\"lat,lon\")")
	}
	latText, lonText, ok := strings.Cut(s, ",")
	if !ok {
		return fmt.Errorf("must be \"lat,lon\", got %s", quote(s))
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(latText), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(lonText), 64)
	switch {
	case err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon):
		return fmt.Errorf("must be \"lat,lon\" in degrees, got %s", quote(s))
	case lat < -90 || lat > 90:
		return fmt.Errorf("latitude must be within -90..90, got %s", formatFloat(lat))
	case lon < -180 || lon > 180:
		return fmt.Errorf("longitude must be within -180..180, got %s", formatFloat(lon))
	}
	return nil
}
