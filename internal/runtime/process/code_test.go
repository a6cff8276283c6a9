package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/runtime"
)

func TestURLCodeDownloadedOnce(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app.sh" {
			http.NotFound(w, r)
			return
		}
		requests.Add(1)
		fmt.Fprint(w, "#!/bin/sh\necho \"from url $HEDGE_INSTANCE_ID $1\"\nexec sleep 60\n")
	}))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	d, _ := newTestDriver(t, Options{HTTPClient: client})

	spec := func(id string) runtime.Spec {
		return runtime.Spec{InstanceID: id, Service: api.ServiceSpec{Name: "app", Code: srv.URL + "/app.sh", Args: []string{"arg"}}}
	}
	// Two concurrent starts of the same URL, then a later one.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			_, errs[i] = d.Start(context.Background(), spec(fmt.Sprintf("url-%d", i)))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Start url-%d: %v", i, err)
		}
	}
	if _, err := d.Start(context.Background(), spec("url-2")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := fmt.Sprintf("url-%d", i)
		waitLogs(t, d, id, "from url "+id+" arg")
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the code was downloaded %d times, want once", n)
	}
	entries, err := os.ReadDir(filepath.Join(d.dataDir, "cache"))
	sum := sha256.Sum256([]byte(srv.URL + "/app.sh"))
	if err != nil || len(entries) != 1 || entries[0].Name() != hex.EncodeToString(sum[:]) {
		t.Fatalf("cache = %v, %v; want one file named by the URL's sha256", entries, err)
	}
	fi, _ := entries[0].Info()
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("cached code mode = %v, want 0755", fi.Mode().Perm())
	}

	_, err = d.Start(context.Background(), runtime.Spec{InstanceID: "missing", Service: api.ServiceSpec{Code: srv.URL + "/nope"}})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Start with a URL that answers 404 = %v, want an error naming the status", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(d.dataDir, "cache")); len(entries) != 1 {
		t.Errorf("a failed download left files in the cache: %v", entries)
	}
}
