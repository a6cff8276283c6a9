package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hedgeorch/hedge/test/browser"
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

	bctx, closeBrowser, err := browser.Start(ctx, 1280, 800)
	if err != nil {
		return nil, err
	}
	defer closeBrowser()
	step, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	load, err := browser.FirstLoad(step, url+"/", "#login")
	if err != nil {
		return nil, err
	}

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
	// Where that time went: the API calls, as the browser timed them.
	calls, err := chromedp.Run(step, chromedp.Evaluate[[]apiCall](`performance.getEntriesByType("resource")
		.filter(e => e.name.includes("/api/") && !e.name.includes("/api/changes"))
		.map(e => ({path: new URL(e.name).pathname, ms: e.duration, bytes: e.transferSize}))`))
	if err != nil {
		return nil, err
	}
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
	fmt.Fprintf(os.Stderr, "console: %d requests on the first page; the application page shows %d of %d instances per page\n", load.Requests, rows, consoleInstances)
	for _, c := range calls {
		switch c.Path {
		case "/api/auth/login", "/api/services/":
			figs = append(figs, figure{Name: "overview: " + c.Path + " time", Value: c.MS, Unit: "ms"})
			if c.Path == "/api/services/" {
				figs = append(figs, figure{Name: "overview: " + c.Path + " transferred", Value: c.Bytes / 1024, Unit: "KB"})
			}
		}
	}
	return append([]figure{
		{Name: "first page, compressed", Value: load.Bytes / 1024, Unit: "KB", Max: targetConsoleKB},
		{Name: "first contentful paint", Value: load.PaintMS, Unit: "ms", Max: targetConsolePaintMS},
		{Name: fmt.Sprintf("log in to overview with %d instances", consoleInstances), Value: ms(overview), Unit: "ms"},
		{Name: fmt.Sprintf("application page, %d instances paged", consoleInstances), Value: ms(appPage), Unit: "ms"},
	}, figs...), nil
}

// apiCall is one API request of the page, from the browser's resource timing.
type apiCall struct {
	Path  string  `json:"path"`
	MS    float64 `json:"ms"`
	Bytes float64 `json:"bytes"`
}
