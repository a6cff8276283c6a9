package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Targets of issue 16 for the web console.
const (
	targetConsoleKB      = 500
	targetConsolePaintMS = 1000
)

// consoleInstances is how many instances the console's overview and
// application pages are measured with.
const consoleInstances = 1000

// consoleScenario measures the web console in headless chromium against
// `hedge up`: the compressed bytes of everything the first page loads, its
// first contentful paint, and, with consoleInstances instances deployed, the
// time from pressing "Log in" to the overview's figures and from opening the
// application to its first page of instances.
func consoleScenario(ctx context.Context, l *lab, _ config) (figs []figure, err error) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	path, err := exec.LookPath("chromium")
	if err != nil {
		return nil, errors.New("chromium is not installed (Debian package chromium)")
	}
	d, err := l.deploy(ctx, "up", "console")
	if err != nil {
		return nil, err
	}
	defer d.stop()
	url := d.client.BaseURL()
	res, err := d.client.SubmitSLA(ctx, sleepSLA("console", l.marker, consoleInstances), "application/json")
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	defer func() {
		err = errors.Join(err, l.deleteApps(d, []string{res.Applications[0].ID}, nil, nil))
	}()
	if _, err := waitRunning(ctx, d.client, res.Services[0].ID, consoleInstances, 200*time.Millisecond, 5*time.Minute); err != nil {
		return nil, err
	}

	actx, cancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.WindowSize(1280, 800), chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer cancel()
	bctx, cancel2 := chromedp.NewContext(actx)
	defer cancel2()
	if err := chromedp.Do(bctx); err != nil {
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	var mu sync.Mutex
	sizes := map[network.RequestID]float64{}
	loads, stop := context.WithCancel(bctx)
	defer stop()
	events := chromedp.Events(loads, network.LoadingFinished)
	go func() {
		for e, err := range events {
			if err != nil {
				return
			}
			mu.Lock()
			sizes[e.RequestID] = e.EncodedDataLength
			mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		return nil, err
	}
	if _, err := chromedp.Call(bctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		return nil, err
	}
	step, cancel3 := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel3()
	if err := chromedp.Do(step, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS("#login"))); err != nil {
		return nil, fmt.Errorf("open the console: %w", err)
	}
	paint, err := chromedp.Run(step, chromedp.Evaluate[float64](`new Promise(ok => { const f = () => { const e = performance.getEntriesByName("first-contentful-paint")[0]; e ? ok(e.startTime) : setTimeout(f, 50); }; f(); })`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("first contentful paint: %w", err)
	}
	_ = chromedp.Do(step, chromedp.Sleep(500*time.Millisecond))
	stop()
	mu.Lock()
	var bytes float64
	for _, b := range sizes {
		bytes += b
	}
	requests := len(sizes)
	mu.Unlock()

	begin := time.Now()
	err = chromedp.Do(step,
		chromedp.SendKeys(chromedp.CSS("#login input[name=username]"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#login input[name=password]"), d.password),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=instances]`)))
	if err != nil {
		return nil, fmt.Errorf("log in: %w", err)
	}
	if _, err := chromedp.Run(step, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector("[data-testid=instances]").textContent === "%d"`, consoleInstances))); err != nil {
		return nil, fmt.Errorf("overview: %w", err)
	}
	overview := time.Since(begin)
	begin = time.Now()
	err = chromedp.Do(step, chromedp.Navigate(url+"/#/app/"+res.Applications[0].ID),
		chromedp.WaitVisible(chromedp.CSS(".pager")))
	if err != nil {
		return nil, fmt.Errorf("application page: %w", err)
	}
	appPage := time.Since(begin)
	rows, err := chromedp.Run(step, chromedp.Evaluate[int](`document.querySelectorAll("section tbody tr").length`))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "console: %d requests on the first page; the application page shows %d of %d instances per page\n", requests, rows, consoleInstances)
	return []figure{
		{Name: "first page, compressed", Value: bytes / 1024, Unit: "KB", Max: targetConsoleKB},
		{Name: "first contentful paint", Value: paint, Unit: "ms", Max: targetConsolePaintMS},
		{Name: fmt.Sprintf("log in to overview with %d instances", consoleInstances), Value: ms(overview), Unit: "ms"},
		{Name: fmt.Sprintf("application page, %d instances paged", consoleInstances), Value: ms(appPage), Unit: "ms"},
	}, nil
}
