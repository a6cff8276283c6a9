package glances

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

func TestUnitClientReadsHandler(t *testing.T) {
	srv := fixtureServer(t, Options{Token: "tok"})
	want := fixtureSample()
	for _, version := range []string{"", "3", "4"} {
		t.Run("api"+version, func(t *testing.T) {
			c := &Client{BaseURL: srv.URL + "/", APIVersion: version, Token: "tok",
				HTTPClient: &http.Client{Timeout: 5 * time.Second}}
			ctx := t.Context()
			cpu, err := c.CPU(ctx)
			if err != nil || cpu != want.CPU {
				t.Errorf("CPU = %+v, %v; want %+v", cpu, err, want.CPU)
			}
			m, err := c.Mem(ctx)
			if err != nil || m != want.Mem {
				t.Errorf("Mem = %+v, %v; want %+v", m, err, want.Mem)
			}
			l, err := c.Load(ctx)
			if err != nil || l != want.Load {
				t.Errorf("Load = %+v, %v; want %+v", l, err, want.Load)
			}
			fs, err := c.FS(ctx)
			if err != nil || len(fs) != 2 || fs[1].MntPoint != "/data" || fs[1].Key != "mnt_point" {
				t.Errorf("FS = %+v, %v", fs, err)
			}
			plugins, err := c.Plugins(ctx)
			if err != nil || !reflect.DeepEqual(plugins, Plugins()) {
				t.Errorf("Plugins = %v, %v", plugins, err)
			}
			var procs []Process
			if err := c.Get(ctx, "processlist", &procs); err != nil || len(procs) != 3 || procs[0].Name != "hedge" {
				t.Errorf("Get processlist = %d entries, %v", len(procs), err)
			}
		})
	}
}

func TestUnitClientErrors(t *testing.T) {
	srv := fixtureServer(t, Options{Token: "tok"})
	// A Glances 3 style server: HTML errors, 400 for an unknown plugin.
	g3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("<html>Unknown plugin</html>"))
	}))
	t.Cleanup(g3.Close)
	tests := []struct {
		name string
		c    *Client
		path string
		want error
	}{
		{"no token", &Client{BaseURL: srv.URL}, "cpu", ErrUnauthorized},
		{"wrong token", &Client{BaseURL: srv.URL, Token: "nope"}, "cpu", ErrUnauthorized},
		{"wrong password", &Client{BaseURL: srv.URL, Username: "glances", Password: "nope"}, "cpu", ErrUnauthorized},
		{"unknown plugin", &Client{BaseURL: srv.URL, Token: "tok"}, "sensors", ErrNotFound},
		{"unknown item", &Client{BaseURL: srv.URL, Password: "tok"}, "cpu/nope", ErrNotFound},
		{"glances 3 bad request", &Client{BaseURL: g3.URL}, "sensors", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			err := tt.c.Get(t.Context(), tt.path, &v)
			if !errors.Is(err, tt.want) {
				t.Errorf("Get %s = %v, want %v", tt.path, err, tt.want)
			}
		})
	}
	t.Run("no base url", func(t *testing.T) {
		if _, err := (&Client{}).CPU(t.Context()); err == nil {
			t.Error("CPU with no BaseURL succeeded")
		}
	})
	t.Run("server down", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		_, err := (&Client{BaseURL: down.URL}).Mem(t.Context())
		if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized) {
			t.Errorf("Mem against a closed server = %v, want a transport error", err)
		}
	})
}
