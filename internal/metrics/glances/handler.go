package glances

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

// Options configures the Glances view.
type Options struct {
	// Sampler supplies the figures. Until it has taken its first sample (or
	// when nil) the plugins answer 503.
	Sampler *Sampler
	// Token, when set, must come with every request, either as
	// "Authorization: Bearer <token>" or as the password of HTTP basic auth
	// (any user name), which is how Glances clients started with --password
	// send it.
	Token string
	// Now is the clock of the uptime and now plugins; nil means time.Now.
	Now func() time.Time
	// Logger takes internal errors, with the request id the answer names;
	// nil discards them.
	Logger *slog.Logger
	// Version is what /api/4/status reports; empty means "hedge".
	Version string
}

// plugin is one Glances plugin: how to draw it from a sample, and for list
// plugins the name of the field that keys the entries (Glances' "key") and
// the zero entry, whose fields are the valid items even when the list is empty.
type plugin struct {
	name  string
	value func(Sample, time.Time) any
	key   string
	entry any
	// processes marks the plugins drawn from the process table, which is
	// read only for them.
	processes bool
}

// plugins are served in this order by pluginslist and all.
var plugins = []plugin{
	{name: "core", value: func(s Sample, _ time.Time) any { return s.Core }},
	{name: "cpu", value: func(s Sample, _ time.Time) any { return s.CPU }},
	{name: "fs", value: func(s Sample, _ time.Time) any { return s.FS }, key: "mnt_point", entry: FS{}},
	{name: "load", value: func(s Sample, _ time.Time) any { return s.Load }},
	{name: "mem", value: func(s Sample, _ time.Time) any { return s.Mem }},
	{name: "memswap", value: func(s Sample, _ time.Time) any { return s.MemSwap }},
	{name: "network", value: func(s Sample, _ time.Time) any { return s.Network }, key: "interface_name", entry: Network{}},
	{name: "now", value: func(_ Sample, now time.Time) any { return now.Format("2006-01-02 15:04:05 MST") }},
	{name: "percpu", value: func(s Sample, _ time.Time) any { return s.PerCPU }, key: "cpu_number", entry: PerCPU{}},
	{name: "processcount", value: func(s Sample, _ time.Time) any { return s.ProcessCount }, processes: true},
	{name: "processlist", value: func(s Sample, _ time.Time) any { return s.Processes }, key: "pid", entry: Process{}, processes: true},
	{name: "quicklook", value: func(s Sample, _ time.Time) any {
		return QuickLook{CPU: s.CPU.Total, PerCPU: s.PerCPU, Mem: s.Mem.Percent, Swap: s.MemSwap.Percent,
			CPUName: s.CPUName, CPUHzCurrent: s.CPUHzCurrent, CPUHz: s.CPUHz}
	}},
	{name: "system", value: func(s Sample, _ time.Time) any { return s.System }},
	{name: "uptime", value: func(s Sample, now time.Time) any { return formatUptime(now.Sub(s.BootTime)) }},
}

// Plugins lists the plugin names the view serves.
func Plugins() []string {
	names := make([]string, len(plugins))
	for i, p := range plugins {
		names[i] = p.name
	}
	return names
}

// view draws plugin p from a sample as a JSON tree, with the key field of list
// entries filled in, so sources need not know about Glances' "key" convention.
func (p plugin) view(s Sample, now time.Time) any {
	v := tree(p.value(s, now))
	if p.key != "" {
		setKeys(v, p.key)
	}
	if p.name == "quicklook" {
		if per, ok := v.(object).get("percpu"); ok {
			setKeys(per, "cpu_number")
		}
	}
	return v
}

// setKeys sets the "key" field of every entry of a list to key.
func setKeys(list any, key string) {
	entries, _ := list.([]any)
	for _, e := range entries {
		o, _ := e.(object)
		for i := range o {
			if o[i].name == "key" {
				o[i].value = key
			}
		}
	}
}

// formatUptime writes a duration as Python's str(timedelta) without the
// microseconds, which is what Glances serves: "5:03:09", "1 day, 0:00:12".
func formatUptime(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	secs := int64(d / time.Second)
	days, secs := secs/86400, secs%86400
	hms := fmt.Sprintf("%d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	switch days {
	case 0:
		return hms
	case 1:
		return "1 day, " + hms
	default:
		return strconv.FormatInt(days, 10) + " days, " + hms
	}
}

type handler struct {
	opts   Options
	now    func() time.Time
	limits map[string]object
	byName map[string]plugin
}

// NewHandler returns the Glances REST view: /api/3/... and /api/4/... with
// status, pluginslist, all, all/limits, /<plugin>, /<plugin>/limits,
// /<plugin>/<item>, and for list plugins /<plugin>/<item>/<value> (/api/3) or
// /<plugin>/<item>/value/<value> and /<plugin>/<item>/<key> (/api/4). Mount it
// at the server's root: it matches the /api prefix itself, and does its own
// path splitting so that escaped slashes and empty segments in values survive.
func NewHandler(opts Options) http.Handler {
	h := &handler{opts: opts, now: opts.Now, limits: defaultLimits(), byName: map[string]plugin{}}
	if h.now == nil {
		h.now = time.Now
	}
	if h.opts.Logger == nil {
		h.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if h.opts.Version == "" {
		h.opts.Version = "hedge"
	}
	for _, p := range plugins {
		h.byName[p.name] = p
	}
	return h
}

// apiError is an error answer: an HTTP status and Glances' message.
type apiError struct {
	status int
	detail string
}

func (e *apiError) Error() string { return e.detail }

func notFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, detail: fmt.Sprintf(format, args...)}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.writeError(w, &apiError{status: http.StatusMethodNotAllowed, detail: "Method Not Allowed"})
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="glances"`)
		h.writeError(w, &apiError{status: http.StatusUnauthorized, detail: "Incorrect username or password"})
		return
	}
	version, rest, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		h.writeError(w, err)
		return
	}
	if len(rest) == 1 && rest[0] == "status" {
		if version == "3" {
			w.WriteHeader(http.StatusOK) // Glances 3: 200, empty body
			return
		}
		writeJSON(w, object{{"version", h.opts.Version}})
		return
	}
	v, err := h.route(r.Context(), version, rest)
	if err != nil {
		h.writeError(w, err)
		return
	}
	writeJSON(w, v)
}

// authorized checks the token in constant time; both forms are accepted so
// that curl users and Glances clients alike can authenticate.
func (h *handler) authorized(r *http.Request) bool {
	if h.opts.Token == "" {
		return true
	}
	var got string
	if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	} else if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = strings.TrimSpace(tok)
	} else {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.Token)) == 1
}

// splitPath returns the API version and the unescaped segments after it.
func splitPath(escaped string) (string, []string, error) {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	if len(segs) < 3 || segs[0] != "api" || (segs[1] != "3" && segs[1] != "4") {
		return "", nil, notFound("Not Found")
	}
	rest := segs[2:]
	for i, s := range rest {
		u, err := url.PathUnescape(s)
		if err != nil {
			return "", nil, &apiError{status: http.StatusBadRequest, detail: fmt.Sprintf("Bad path segment %q: %v", s, err)}
		}
		rest[i] = u
	}
	return segs[1], rest, nil
}

// route answers everything but status, as a JSON tree.
func (h *handler) route(ctx context.Context, version string, rest []string) (any, error) {
	switch {
	case len(rest) == 1 && rest[0] == "pluginslist":
		return tree(Plugins()), nil
	case len(rest) == 2 && rest[0] == "all" && rest[1] == "limits":
		all := make(object, 0, len(plugins))
		for _, p := range plugins {
			all = append(all, field{p.name, h.limits[p.name]})
		}
		return all, nil
	case len(rest) == 1 && rest[0] == "all":
		s, now, err := h.sample(ctx, true)
		if err != nil {
			return nil, err
		}
		all := make(object, 0, len(plugins))
		for _, p := range plugins {
			all = append(all, field{p.name, p.view(s, now)})
		}
		return all, nil
	}

	p, ok := h.byName[rest[0]]
	if !ok {
		return nil, notFound("Unknown plugin %s (available plugins: %s)", rest[0], pyList(Plugins()))
	}
	if len(rest) == 2 && rest[1] == "limits" {
		return h.limits[p.name], nil
	}
	s, now, err := h.sample(ctx, p.processes)
	if err != nil {
		return nil, err
	}
	v := p.view(s, now)
	switch {
	case len(rest) == 1:
		return v, nil
	case len(rest) == 2:
		return item(p, v, rest[1])
	case len(rest) == 3 && version == "3":
		return matching(p, v, rest[1], rest[2])
	case len(rest) >= 4 && version == "4" && rest[2] == "value":
		return matching(p, v, rest[1], strings.Join(rest[3:], "/"))
	case len(rest) >= 3 && version == "4":
		// Keys may be mount points: /api/4/fs/free//data asks for "/data".
		return keyItem(p, v, rest[1], strings.Join(rest[2:], "/"))
	}
	return nil, notFound("Not Found")
}

// sample is a current sample, with the processes when procs is set, and the
// clock to read it with.
func (h *handler) sample(ctx context.Context, procs bool) (Sample, time.Time, error) {
	if h.opts.Sampler == nil {
		return Sample{}, time.Time{}, &apiError{status: http.StatusServiceUnavailable, detail: "no sampler configured"}
	}
	s, err := h.opts.Sampler.Current(ctx, procs)
	if errors.Is(err, ErrNoSample) {
		return Sample{}, time.Time{}, &apiError{status: http.StatusServiceUnavailable, detail: err.Error()}
	}
	if err != nil {
		return Sample{}, time.Time{}, fmt.Errorf("latest sample: %w", err)
	}
	return s, h.now(), nil
}

// item is /<plugin>/<item>: {item: value} for a dict plugin, {item: [value of
// each entry]} for a list plugin.
func item(p plugin, v any, name string) (any, error) {
	switch x := v.(type) {
	case object:
		if fv, ok := x.get(name); ok {
			return object{{name, fv}}, nil
		}
	case []any:
		if !hasField(p, name) {
			break
		}
		vals := make([]any, 0, len(x))
		for _, e := range x {
			fv, _ := e.(object).get(name)
			vals = append(vals, fv)
		}
		return object{{name, vals}}, nil
	}
	return nil, notFound("Cannot get item %s in plugin %s", name, p.name)
}

// matching is /<plugin>/<item>/<value>: {value: [entries whose item equals
// value]}. No match is an empty list, not an error, as in Glances.
func matching(p plugin, v any, name, value string) (any, error) {
	list, ok := v.([]any)
	if !ok || !hasField(p, name) {
		return nil, notFound("Cannot get item (%s=%s) in plugin %s", name, value, p.name)
	}
	key, num, isNum := value, uint64(0), false
	if n, err := strconv.ParseUint(value, 10, 64); err == nil && isDigits(value) {
		// Glances turns a value of digits into an int, for pids.
		key, num, isNum = strconv.FormatUint(n, 10), n, true
	}
	found := make([]any, 0)
	for _, e := range list {
		fv, _ := e.(object).get(name)
		if equalValue(fv, value, num, isNum) {
			found = append(found, e)
		}
	}
	return object{{key, found}}, nil
}

// keyItem is Glances 4's /<plugin>/<item>/<key>: {item: value} of the entry
// whose key field (mnt_point, interface_name, pid...) is key.
func keyItem(p plugin, v any, name, key string) (any, error) {
	list, ok := v.([]any)
	if ok && hasField(p, name) {
		num, err := strconv.ParseUint(key, 10, 64)
		isNum := err == nil && isDigits(key)
		for _, e := range list {
			o := e.(object)
			k, _ := o.get("key")
			ks, _ := k.(string)
			kv, _ := o.get(ks)
			if equalValue(kv, key, num, isNum) {
				fv, _ := o.get(name)
				return object{{name, fv}}, nil
			}
		}
	}
	return nil, notFound("Cannot get item %s for key %s in plugin %s", name, key, p.name)
}

func hasField(p plugin, name string) bool {
	if p.entry == nil {
		return false
	}
	_, ok := tree(p.entry).(object).get(name)
	return ok
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// equalValue compares a field with a path value the way Python's == compares
// the field with Glances' converted value: strings as strings, numbers with a
// value made only of digits.
func equalValue(fv any, value string, num uint64, isNum bool) bool {
	switch x := fv.(type) {
	case string:
		return x == value
	case int64:
		return isNum && x >= 0 && uint64(x) == num
	case uint64:
		return isNum && x == num
	case float64:
		return isNum && x == float64(num)
	}
	return false
}

// pyList writes names as Python prints a list of strings.
func pyList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(marshal(v))
}

// writeError answers {"detail": "..."} as Glances 4 does. An error that is
// not a Glances answer is mapped by errdefs: an internal one is logged and
// not echoed.
func (h *handler) writeError(w http.ResponseWriter, err error) {
	var status int
	var detail string
	var ae *apiError
	if errors.As(err, &ae) {
		status, detail = ae.status, ae.detail
	} else {
		status, detail = errdefs.HTTP(h.opts.Logger, err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(marshal(object{{"detail", detail}}))
}
