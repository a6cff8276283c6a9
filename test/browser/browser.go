// Package browser starts headless chromium for the console's browser tests
// and its bench scenario, and measures what a page costs to load. It is
// imported by tests and bench only: the hedge binary does not link chromedp.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// ErrNoChromium is returned by Start when chromium is not installed.
var ErrNoChromium = errors.New("chromium is not installed (Debian package chromium)")

// Start runs headless chromium with a window of width x height and returns a
// chromedp context for one tab, and the function that stops the browser.
// JavaScript dialogs (the console's confirm()) are accepted.
func Start(ctx context.Context, width, height int) (context.Context, context.CancelFunc, error) {
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			return nil, nil, ErrNoChromium
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.WindowSize(width, height), chromedp.NoSandbox, chromedp.DisableGPU,
		// The Hedge under test serves with the CA it created at its first
		// start, which this throwaway browser profile cannot know; what is
		// tested here is the console. Certificate checks are tested in
		// internal/pki and test/e2e.
		chromedp.Flag("ignore-certificate-errors", true))...)
	bctx, cancelTab := chromedp.NewContext(actx)
	stop := func() { cancelTab(); cancelAlloc() }
	if err := chromedp.Do(bctx); err != nil {
		stop()
		return nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return bctx, stop, nil
}

// Load is what opening a page cost.
type Load struct {
	// Requests is how many requests the page made; Bytes what they
	// transferred (compressed, headers included).
	Requests int
	Bytes    float64
	// PaintMS is the page's first contentful paint, in ms after navigation.
	PaintMS float64
}

// FirstLoad opens url with the browser's cache off, waits until the element
// ready (a CSS selector) is visible and the page has painted, and reports
// what it loaded.
func FirstLoad(ctx context.Context, url, ready string) (Load, error) {
	var mu sync.Mutex
	sizes := map[network.RequestID]float64{}
	watch, stop := context.WithCancel(ctx)
	defer stop()
	finished := chromedp.Events(watch, network.LoadingFinished)
	go func() {
		for e, err := range finished {
			if err != nil {
				return
			}
			mu.Lock()
			sizes[e.RequestID] = e.EncodedDataLength
			mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		return Load{}, err
	}
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		return Load{}, err
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(ready))); err != nil {
		return Load{}, fmt.Errorf("open %s: %w", url, err)
	}
	paint, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`new Promise(ok => { const f = () => {
		const e = performance.getEntriesByName("first-contentful-paint")[0]; e ? ok(e.startTime) : setTimeout(f, 50); }; f(); })`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		return Load{}, fmt.Errorf("first contentful paint: %w", err)
	}
	// Let the last responses' loadingFinished events arrive.
	if err := chromedp.Do(ctx, chromedp.Sleep(500*time.Millisecond)); err != nil {
		return Load{}, err
	}
	mu.Lock()
	defer mu.Unlock()
	l := Load{Requests: len(sizes), PaintMS: paint}
	for _, b := range sizes {
		l.Bytes += b
	}
	return l, nil
}
