package glances

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestUnitHandlerGolden pins every endpoint's exact JSON for the fixture
// sample: field names, order, types (3.0 stays a float) and units.
func TestUnitHandlerGolden(t *testing.T) {
	srv := fixtureServer(t, Options{Version: "hedge-test"})
	tests := []struct {
		name, path string
	}{
		{"status-v4", "/api/4/status"},
		{"pluginslist", "/api/3/pluginslist"},
		{"all", "/api/3/all"},
		{"all-limits", "/api/3/all/limits"},
		{"core", "/api/3/core"},
		{"cpu", "/api/3/cpu"},
		{"fs", "/api/3/fs"},
		{"load", "/api/3/load"},
		{"mem", "/api/3/mem"},
		{"memswap", "/api/3/memswap"},
		{"network", "/api/3/network"},
		{"now", "/api/3/now"},
		{"percpu", "/api/3/percpu"},
		{"processcount", "/api/3/processcount"},
		{"processlist", "/api/3/processlist"},
		{"quicklook", "/api/3/quicklook"},
		{"system", "/api/3/system"},
		{"uptime", "/api/3/uptime"},
		{"cpu-limits", "/api/3/cpu/limits"},
		{"cpu-total", "/api/3/cpu/total"},
		{"fs-mnt_point", "/api/3/fs/mnt_point"},
		{"network-interface_name-eth0", "/api/3/network/interface_name/eth0"},
		{"processlist-pid-42", "/api/3/processlist/pid/42"},
		{"fs-mnt_point-value-data-v4", "/api/4/fs/mnt_point/value//data"},
		{"network-rx-eth0-v4", "/api/4/network/rx/eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := get(t, srv.URL+tt.path, nil)
			if status != http.StatusOK {
				t.Fatalf("GET %s: status %d, body %s", tt.path, status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !json.Valid(body) {
				t.Fatalf("GET %s: invalid JSON %s", tt.path, body)
			}
			golden := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(body, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(body, bytes.TrimSuffix(want, []byte("\n"))) {
				t.Errorf("GET %s:\n got %s\nwant %s", tt.path, body, want)
			}
		})
	}
}

// TestUnitHandlerMatchesGlances3Shape compares our JSON with what the real
// glances 3.3.1.1 served on a Debian host (testdata/glances-3.3.1.1): the
// same field names and the same JSON types, int and float told apart.
func TestUnitHandlerMatchesGlances3Shape(t *testing.T) {
	srv := fixtureServer(t, Options{})
	tests := []struct {
		name, path, real string
		// subset allows the real entry to have more fields (processlist's
		// extended stats on the top process).
		subset bool
	}{
		{name: "cpu", path: "/api/3/cpu", real: "cpu.json"},
		{name: "mem", path: "/api/3/mem", real: "mem.json"},
		{name: "memswap", path: "/api/3/memswap", real: "memswap.json"},
		{name: "load", path: "/api/3/load", real: "load.json"},
		{name: "fs", path: "/api/3/fs", real: "fs.json"},
		{name: "network", path: "/api/3/network", real: "network.json"},
		{name: "system", path: "/api/3/system", real: "system.json"},
		{name: "quicklook", path: "/api/3/quicklook", real: "quicklook.json"},
		{name: "core", path: "/api/3/core", real: "core.json"},
		{name: "percpu", path: "/api/3/percpu", real: "percpu.json"},
		{name: "processcount", path: "/api/3/processcount", real: "processcount.json"},
		{name: "processlist", path: "/api/3/processlist", real: "processlist.json", subset: true},
		{name: "uptime", path: "/api/3/uptime", real: "uptime.json"},
		{name: "now", path: "/api/3/now", real: "now.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			realBody, err := os.ReadFile(filepath.Join("testdata", "glances-3.3.1.1", tt.real))
			if err != nil {
				t.Fatal(err)
			}
			_, _, ours := get(t, srv.URL+tt.path, nil)
			theirs, mine := decodeNumbers(t, realBody), decodeNumbers(t, ours)
			// List plugins: compare each real entry's shape with our first
			// entry (ours all share one struct).
			if list, ok := theirs.([]any); ok {
				ourList, ok := mine.([]any)
				if !ok || len(ourList) == 0 {
					t.Fatalf("ours is %s, want a non-empty list", kindOf(mine))
				}
				for i, e := range list {
					if tt.subset && i == 0 {
						continue // the top process carries extended stats
					}
					compareShape(t, tt.name, e, ourList[0], tt.subset)
				}
				return
			}
			compareShape(t, tt.name, theirs, mine, false)
		})
	}
}

// TestUnitHandlerLimitsMatchGlances3 checks the thresholds against the real
// glances' defaults: every numeric limit there, same value and type.
func TestUnitHandlerLimitsMatchGlances3(t *testing.T) {
	srv := fixtureServer(t, Options{})
	for _, p := range []string{"cpu", "mem", "load"} {
		t.Run(p, func(t *testing.T) {
			realBody, err := os.ReadFile(filepath.Join("testdata", "glances-3.3.1.1", p+"-limits.json"))
			if err != nil {
				t.Fatal(err)
			}
			_, _, ours := get(t, srv.URL+"/api/3/"+p+"/limits", nil)
			theirs := decodeNumbers(t, realBody).(map[string]any)
			mine := decodeNumbers(t, ours).(map[string]any)
			for k, v := range theirs {
				n, ok := v.(json.Number)
				if !ok {
					continue // config echoes such as cpu_disable: ["False"]
				}
				got, ok := mine[k].(json.Number)
				if !ok {
					t.Errorf("%s missing in ours", k)
					continue
				}
				if got != n {
					t.Errorf("%s = %s, glances %s", k, got, n)
				}
			}
			for k := range mine {
				if _, ok := theirs[k]; !ok {
					t.Errorf("%s is ours only", k)
				}
			}
		})
	}
}

func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// kindOf is a JSON value's type, with numbers split into int and float by how
// they are written, as Python reads them back.
func kindOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "float"
		}
		return "int"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// compareShape checks that mine has the fields of theirs with the same
// kinds, recursively; a null on their side accepts anything (Glances writes
// null for an interface alias that is not set). Unless subset, mine must not
// have fields theirs lacks.
func compareShape(t *testing.T, path string, theirs, mine any, subset bool) {
	t.Helper()
	if theirs == nil {
		return
	}
	if kt, km := kindOf(theirs), kindOf(mine); kt != km {
		t.Errorf("%s: glances has %s, ours %s", path, kt, km)
		return
	}
	switch x := theirs.(type) {
	case map[string]any:
		m := mine.(map[string]any)
		for k, v := range x {
			mv, ok := m[k]
			if !ok {
				if !subset {
					t.Errorf("%s.%s: missing in ours", path, k)
				}
				continue
			}
			compareShape(t, path+"."+k, v, mv, false)
		}
		for k := range m {
			if _, ok := x[k]; !ok {
				t.Errorf("%s.%s: ours only", path, k)
			}
		}
	case []any:
		m := mine.([]any)
		if len(x) > 0 && len(m) > 0 {
			compareShape(t, path+"[0]", x[0], m[0], false)
		}
	}
}

func TestUnitHandlerLookups(t *testing.T) {
	srv := fixtureServer(t, Options{})
	tests := []struct {
		name, path string
		want       any
	}{
		{"dict item", "/api/3/mem/total", map[string]any{"total": 8589934592.0}},
		{"dict float item", "/api/3/load/min15", map[string]any{"min15": 3.0}},
		{"list item", "/api/3/network/interface_name", map[string]any{"interface_name": []any{"lo", "eth0"}}},
		{"list item of numbers", "/api/3/fs/percent", map[string]any{"percent": []any{31.6, 0.0}}},
		{"value match by string", "/api/3/processlist/name/sleep", nil},
		{"value match by number", "/api/3/processlist/pid/7", nil},
		{"value no match is empty", "/api/3/processlist/name/nothing", map[string]any{"nothing": []any{}}},
		{"escaped slash in value", "/api/3/fs/mnt_point/%2F", nil},
		{"v4 value with slash", "/api/4/fs/mnt_point/value//", nil},
		{"v4 key lookup", "/api/4/fs/free//data", map[string]any{"free": 53687091200.0}},
		{"v4 key lookup escaped", "/api/4/fs/used/%2F", map[string]any{"used": 32212254720.0}},
		{"v4 key lookup by pid", "/api/4/processlist/name/42", map[string]any{"name": "hedge"}},
		{"v4 item", "/api/4/cpu/cpucore", map[string]any{"cpucore": 2.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := get(t, srv.URL+tt.path, nil)
			if status != http.StatusOK {
				t.Fatalf("GET %s: status %d, body %s", tt.path, status, body)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			switch tt.name {
			case "value match by string":
				assertEntries(t, got, "sleep", "pid", 7)
				return
			case "value match by number":
				assertEntries(t, got, "7", "name", "sleep")
				return
			case "escaped slash in value", "v4 value with slash":
				assertEntries(t, got, "/", "device_name", "/dev/vda1")
				return
			}
			if !jsonEqual(got, tt.want) {
				t.Errorf("got %s, want %v", body, tt.want)
			}
		})
	}
}

// assertEntries checks that got is {key: [one entry]} with entry[field] ==
// want.
func assertEntries(t *testing.T, got map[string]any, key, field string, want any) {
	t.Helper()
	list, ok := got[key].([]any)
	if !ok || len(list) != 1 {
		t.Fatalf("got %v, want one entry under %q", got, key)
	}
	v := list[0].(map[string]any)[field]
	if w, ok := want.(int); ok {
		want = float64(w)
	}
	if v != want {
		t.Errorf("%s = %v, want %v", field, v, want)
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestUnitHandlerErrors(t *testing.T) {
	srv := fixtureServer(t, Options{})
	tests := []struct {
		name, method, path string
		status             int
		detail             string
	}{
		{"unknown plugin", "GET", "/api/3/sensors", 404, "Unknown plugin sensors (available plugins: ['core', "},
		{"unknown plugin v4", "GET", "/api/4/nope/limits", 404, "Unknown plugin nope"},
		{"unknown item", "GET", "/api/3/cpu/foo", 404, "Cannot get item foo in plugin cpu"},
		{"unknown list item", "GET", "/api/3/fs/nope", 404, "Cannot get item nope in plugin fs"},
		{"item of a string plugin", "GET", "/api/3/uptime/seconds", 404, "Cannot get item seconds in plugin uptime"},
		{"value lookup on a dict plugin", "GET", "/api/3/cpu/total/5", 404, "Cannot get item (total=5) in plugin cpu"},
		{"value lookup on unknown field", "GET", "/api/3/fs/nope/x", 404, "Cannot get item (nope=x) in plugin fs"},
		{"v4 key not found", "GET", "/api/4/fs/free/nowhere", 404, "Cannot get item free for key nowhere in plugin fs"},
		{"too deep v3", "GET", "/api/3/fs/mnt_point/a/b", 404, "Not Found"},
		{"unknown version", "GET", "/api/2/cpu", 404, "Not Found"},
		{"outside the api", "GET", "/metrics", 404, "Not Found"},
		{"post", "POST", "/api/3/cpu", 405, "Method Not Allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			var e struct{ Detail string }
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if !strings.HasPrefix(e.Detail, tt.detail) {
				t.Errorf("detail = %q, want prefix %q", e.Detail, tt.detail)
			}
		})
	}
}

func TestUnitHandlerAuth(t *testing.T) {
	srv := fixtureServer(t, Options{Token: "s3cret"})
	tests := []struct {
		name   string
		path   string
		tweak  func(*http.Request)
		status int
	}{
		{"none", "/api/3/cpu", nil, 401},
		{"none on status", "/api/3/status", nil, 401},
		{"none on limits", "/api/3/cpu/limits", nil, 401},
		{"wrong bearer", "/api/3/cpu", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, 401},
		{"token prefix only", "/api/3/cpu", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cre") }, 401},
		{"bearer", "/api/3/cpu", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }, 200},
		{"bearer v4", "/api/4/mem", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }, 200},
		{"basic as glances", "/api/3/cpu", func(r *http.Request) { r.SetBasicAuth("glances", "s3cret") }, 200},
		{"basic other user", "/api/3/cpu", func(r *http.Request) { r.SetBasicAuth("hedge", "s3cret") }, 200},
		{"basic wrong password", "/api/3/cpu", func(r *http.Request) { r.SetBasicAuth("glances", "nope") }, 401},
		{"token as basic user", "/api/3/cpu", func(r *http.Request) { r.SetBasicAuth("s3cret", "") }, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := get(t, srv.URL+tt.path, tt.tweak)
			if status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", status, tt.status, body)
			}
			if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", hdr.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestUnitHandlerAPI4 checks that /api/4 serves what /api/3 serves, and the
// one endpoint where the versions differ.
func TestUnitHandlerAPI4(t *testing.T) {
	srv := fixtureServer(t, Options{Version: "9.9"})
	for _, p := range append(Plugins(), "all", "pluginslist", "cpu/limits", "fs/mnt_point") {
		t.Run(p, func(t *testing.T) {
			s3, _, b3 := get(t, srv.URL+"/api/3/"+p, nil)
			s4, _, b4 := get(t, srv.URL+"/api/4/"+p, nil)
			if s3 != 200 || s4 != 200 || !bytes.Equal(b3, b4) {
				t.Errorf("api/3 %d %s\napi/4 %d %s", s3, b3, s4, b4)
			}
		})
	}
	t.Run("status", func(t *testing.T) {
		s3, _, b3 := get(t, srv.URL+"/api/3/status", nil)
		if s3 != 200 || len(b3) != 0 {
			t.Errorf("api/3/status = %d %q, want 200 and no body as glances 3", s3, b3)
		}
		s4, _, b4 := get(t, srv.URL+"/api/4/status", nil)
		if s4 != 200 || string(b4) != `{"version":"9.9"}` {
			t.Errorf("api/4/status = %d %s", s4, b4)
		}
	})
}

func TestUnitHandlerNoSample(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"sampler not started", Options{Sampler: NewSampler(SamplerOptions{Source: &fakeSource{}})}},
		{"no sampler", Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(tt.opts)
			for path, want := range map[string]int{
				"/api/3/cpu": 503, "/api/3/all": 503, "/api/3/fs/mnt_point": 503,
				"/api/3/status": 200, "/api/3/pluginslist": 200, "/api/3/cpu/limits": 200,
			} {
				rec := httptestRecorder(h, path)
				if rec.Code != want {
					t.Errorf("%s: status %d, want %d (%s)", path, rec.Code, want, rec.Body)
				}
			}
		})
	}
}

// TestUnitHandlerKeysFilledIn checks that the view sets Glances' key field
// even when the source leaves it empty, as HostSource and the fixture do.
func TestUnitHandlerKeysFilledIn(t *testing.T) {
	srv := fixtureServer(t, Options{})
	for path, key := range map[string]string{
		"/api/3/fs/key": "mnt_point", "/api/3/network/key": "interface_name",
		"/api/3/processlist/key": "pid", "/api/3/percpu/key": "cpu_number",
	} {
		_, _, body := get(t, srv.URL+path, nil)
		var got map[string][]string
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v (%s)", path, err, body)
		}
		if len(got["key"]) == 0 || slices.ContainsFunc(got["key"], func(k string) bool { return k != key }) {
			t.Errorf("%s = %s, want every key %q", path, body, key)
		}
	}
}

func TestUnitFormatUptime(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"zero", 0, "0:00:00"},
		{"negative clamps", -time.Second, "0:00:00"},
		{"drops fractions", 38*time.Minute + 52*time.Second + 900*time.Millisecond, "0:38:52"},
		{"hours", 5*time.Hour + 3*time.Minute + 9*time.Second, "5:03:09"},
		{"one day", 24*time.Hour + 12*time.Second, "1 day, 0:00:12"},
		{"days", 3*24*time.Hour + 23*time.Hour + 59*time.Minute + 59*time.Second, "3 days, 23:59:59"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatUptime(tt.d); got != tt.want {
				t.Errorf("formatUptime(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}
