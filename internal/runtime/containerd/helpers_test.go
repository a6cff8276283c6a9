package containerd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

// httpGetter makes one GET without retrying.
type httpGetter struct{}

func (httpGetter) get(url string) (string, error) {
	c := &http.Client{Timeout: 20 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// slowProxy serves the registry at host through a loopback proxy that sends
// blobs at about 4 MB/s, so that a pull takes long enough for its progress to
// be seen. It returns the proxy's host.
func slowProxy(t testing.TB, host string) string {
	t.Helper()
	target, err := url.Parse("http://" + host)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if strings.Contains(resp.Request.URL.Path, "/blobs/") {
			resp.Body = &slowBody{rc: resp.Body}
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// slowBody hands out 32 KiB every 20 ms (~1.6 MB/s), so that pulling the
// test image takes well over the driver's 500 ms progress tick even on a
// loaded machine.
type slowBody struct{ rc io.ReadCloser }

func (s *slowBody) Read(p []byte) (int, error) {
	time.Sleep(20 * time.Millisecond)
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	return s.rc.Read(p)
}

func (s *slowBody) Close() error { return s.rc.Close() }

// authProxy serves the registry at host through a loopback proxy that wants
// HTTP basic authentication as user:password, the way a private registry
// asks for it. It returns the proxy's host.
func authProxy(t testing.TB, host, user, password string) string {
	t.Helper()
	target, err := url.Parse("http://" + host)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="hedge-test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
