package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func TestHandler(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := assets.ReadFile("assets/app.js")
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		encoding           string
	}{
		{"page", "GET", "/", nil, 200, ""},
		{"script, gzip", "GET", "/assets/app.js", map[string]string{"Accept-Encoding": "br, gzip"}, 200, "gzip"},
		{"script, refused gzip", "GET", "/assets/app.js", map[string]string{"Accept-Encoding": "gzip;q=0"}, 200, ""},
		{"index only at /", "GET", "/assets/index.html", nil, 404, ""},
		{"unknown", "GET", "/assets/x.js", nil, 404, ""},
		{"not an asset path", "GET", "/api/health", nil, 404, ""},
		{"post", "POST", "/", nil, 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := serve(t, h, tc.method, tc.path, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); csp != CSP {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if resp.StatusCode != 200 {
				return
			}
			if got := resp.Header.Get("Content-Encoding"); got != tc.encoding {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.encoding)
			}
			body, _ := io.ReadAll(resp.Body)
			if tc.encoding == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if strings.HasSuffix(tc.path, "app.js") && !bytes.Equal(body, plain) {
				t.Errorf("served script differs from the embedded one")
			}
			if tc.path == "/" && !strings.Contains(string(body), `src="/assets/app.js"`) {
				t.Errorf("the page does not load its script: %s", body)
			}
		})
	}
	t.Run("revalidation", func(t *testing.T) {
		etag := serve(t, h, "GET", "/assets/app.css", nil).Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		if got := serve(t, h, "GET", "/assets/app.css", map[string]string{"If-None-Match": etag}).StatusCode; got != 304 {
			t.Errorf("If-None-Match with the ETag: %d, want 304", got)
		}
	})
}

// TestNoInlineCode keeps the page within its own CSP: no inline scripts,
// styles or event handlers, which 'self' would block.
func TestNoInlineCode(t *testing.T) {
	page, _ := assets.ReadFile("assets/index.html")
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", "javascript:"} {
		if strings.Contains(string(page), bad) {
			t.Errorf("index.html has %q, which the CSP forbids", bad)
		}
	}
}
