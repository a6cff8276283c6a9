package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const index = `apiVersion: v1
entries:
  web:
  - name: web
    version: 1.0.0
    appVersion: "1.25"
    description: a web server
    urls: [charts/web-1.0.0.tgz]
  - name: web
    version: 1.2.0
    urls: [https://cdn.example.org/web-1.2.0.tgz]
  - name: web
    version: 0.9.0
  broker:
  - name: broker
    version: 2.0.0
    urls: [broker-2.0.0.tgz]
generated: "2026-11-23T00:00:00Z"
`

func TestParseIndexUnit(t *testing.T) {
	idx, err := ParseIndex([]byte(index))
	if err != nil {
		t.Fatal(err)
	}
	got := Charts("stable", idx)
	want := []string{"broker 2.0.0", "web 1.2.0", "web 1.0.0"} // by name, newest first, entries without URLs dropped
	if len(got) != len(want) {
		t.Fatalf("charts %+v, want %v", got, want)
	}
	for i, c := range got {
		if c.Name+" "+c.Version != want[i] || c.Repo != "stable" {
			t.Errorf("chart %d = %+v, want %s", i, c, want[i])
		}
	}
	cv, err := idx.Get("web", "")
	if err != nil || cv.Version != "1.2.0" {
		t.Fatalf("newest web = %v, %v", cv, err)
	}
	u, err := resolveChartURL("http://repo.example.org/stable", "charts/web-1.0.0.tgz")
	if err != nil || u != "http://repo.example.org/stable/charts/web-1.0.0.tgz" {
		t.Fatalf("resolve = %s, %v", u, err)
	}
	if u, _ := resolveChartURL("http://repo.example.org/stable/", "https://cdn.example.org/web-1.2.0.tgz"); u != "https://cdn.example.org/web-1.2.0.tgz" {
		t.Fatalf("absolute url resolved to %s", u)
	}
}

func TestParseIndexRejectsUnit(t *testing.T) {
	for _, tt := range []struct{ name, doc string }{
		{"not yaml", "{{"},
		{"no apiVersion", "entries: {}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseIndex([]byte(tt.doc)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// indexServer serves index as index.yaml and counts the reads.
func indexServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var reads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/index.yaml" {
			http.NotFound(w, r)
			return
		}
		reads.Add(1)
		_, _ = w.Write([]byte(index))
	}))
	t.Cleanup(srv.Close)
	return srv, &reads
}

// TestIndexCachedForTTLUnit: listing a repository's charts reads its index
// once per TTL, and once more per credentials.
func TestIndexCachedForTTLUnit(t *testing.T) {
	srv, reads := indexServer(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := newIndexCache(time.Minute, func() time.Time { return now })
	ctx := context.Background()
	acc := repoAccess{url: srv.URL}
	for i := 0; i < 3; i++ {
		if _, err := c.get(ctx, srv.Client(), acc); err != nil {
			t.Fatal(err)
		}
	}
	if got := reads.Load(); got != 1 {
		t.Errorf("3 listings within the TTL read the index %d times, want 1", got)
	}
	if _, err := c.get(ctx, srv.Client(), repoAccess{url: srv.URL, username: "a", password: "b"}); err != nil {
		t.Fatal(err)
	}
	if got := reads.Load(); got != 2 {
		t.Errorf("other credentials: %d reads, want 2 (an index is cached per credentials)", got)
	}
	now = now.Add(time.Minute)
	if _, err := c.get(ctx, srv.Client(), acc); err != nil {
		t.Fatal(err)
	}
	if got := reads.Load(); got != 3 {
		t.Errorf("after the TTL: %d reads, want 3", got)
	}
	c.forget(acc)
	if _, err := c.get(ctx, srv.Client(), acc); err != nil {
		t.Fatal(err)
	}
	if got := reads.Load(); got != 4 {
		t.Errorf("after forget: %d reads, want 4", got)
	}
}

// TestIndexCacheBoundedUnit: the cache keeps at most maxIndexEntries
// indexes, dropping the oldest.
func TestIndexCacheBoundedUnit(t *testing.T) {
	srv, _ := indexServer(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := newIndexCache(time.Hour, func() time.Time { return now })
	for i := 0; i < maxIndexEntries+5; i++ {
		now = now.Add(time.Second)
		if _, err := c.get(context.Background(), srv.Client(), repoAccess{url: srv.URL, username: fmt.Sprint("user", i)}); err != nil {
			t.Fatal(err)
		}
	}
	n, size := c.len()
	if n != maxIndexEntries || size != maxIndexEntries*len(index) {
		t.Errorf("cache holds %d indexes of %d bytes, want %d of %d", n, size, maxIndexEntries, maxIndexEntries*len(index))
	}
	if _, ok := c.entries[cacheKey(repoAccess{url: srv.URL, username: "user0"})]; ok {
		t.Error("the oldest index was kept")
	}
}

// TestFetchErrorsRedactCredentialsUnit: errors about a repository whose URL
// carries a password, shown to any user listing charts, do not carry it.
func TestFetchErrorsRedactCredentialsUnit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }))
	t.Cleanup(srv.Close)
	u := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1)
	_, err := newIndexCache(0, time.Now).get(context.Background(), srv.Client(), repoAccess{url: u})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %v; want one without the password", err)
	}
}
