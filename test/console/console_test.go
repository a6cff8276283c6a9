package console

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/test/browser"
)

// fogatlas is the FogAtlas example topology the map must show.
const fogatlas = "../../internal/root/testdata/fogatlas/"

// helloSLA is examples/hello.yaml with n instances.
func helloSLA(t *testing.T, n int) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/hello.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(b), "instances: 2", fmt.Sprintf("instances: %d", n), 1)
}

// paste puts text into the textarea sel as a paste would and lets the page
// see the input.
func paste(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.SetValue(chromedp.CSS(sel), text),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new Event("input"))`, sel))(ctx, t)
			return err
		}))
}

// waitText waits until the main area's text holds every string.
func waitText(t *testing.T, ctx context.Context, what string, want ...string) {
	t.Helper()
	eventually(t, 60*time.Second, what, func() (bool, string) {
		s := text(t, ctx)
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false, s
			}
		}
		return true, ""
	})
}

// count evaluates a count in the page.
func count(t *testing.T, ctx context.Context, js string) int {
	t.Helper()
	return eval[int](t, ctx, js)
}

// watchCSP makes every document of the tab record the Content-Security-
// Policy violations it meets; checkCSP fails the test on any.
func watchCSP(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + (e.blockedURI || e.sample)));`})
	if err != nil {
		t.Fatal(err)
	}
}

func checkCSP(t *testing.T, ctx context.Context) {
	t.Helper()
	if v := eval[[]string](t, ctx, `window.__csp || []`); len(v) > 0 {
		t.Errorf("the page broke its Content-Security-Policy: %v", v)
	}
}

func login(t *testing.T, ctx context.Context, url, user, pw string) {
	t.Helper()
	checkCSP(t, ctx)
	run(t, ctx, "log in as "+user,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#login input[name=username]`)),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=username]`), user),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), pw),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#top`)))
}

func instancesOf(t *testing.T, c *api.Client, appName string) []api.Instance {
	t.Helper()
	svcs, err := c.ListServices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []api.Instance
	for _, s := range svcs {
		if s.AppName == appName {
			out = append(out, s.Instances...)
		}
	}
	return out
}

// TestConsoleInBrowser drives the console through what issue 16 asks of it,
// against a real `hedge up` and a second worker.
func TestConsoleInBrowser(t *testing.T) {
	ctx := startBrowser(t, 1280, 800)
	h := startHedge(t, 2)
	bg := context.Background()

	watchCSP(t, ctx)
	// Page weight and first render of the first page (the login form).
	load, err := browser.FirstLoad(ctx, h.url+"/", "#login")
	if err != nil {
		t.Fatal(err)
	}
	files, weight, fcp := load.Requests, load.Bytes, load.PaintMS
	t.Logf("console first page: %d requests, %.1f KB transferred (compressed), first contentful paint %.0f ms", files, weight/1024, fcp)
	if path := os.Getenv("HEDGE_CONSOLE_FIGURES"); path != "" {
		_ = os.WriteFile(path, []byte(fmt.Sprintf(`{"requests": %d, "bytes": %.0f, "first_paint_ms": %.0f}`, files, weight, fcp)), 0o644)
	}
	shot(t, ctx, "login")
	// The policy is enforced: an inline script is refused (and reported,
	// which is what checkCSP relies on).
	if ran := eval[bool](t, ctx, `(() => { window.__inline = false; const s = document.createElement("script");
		s.textContent = "window.__inline = true"; document.body.append(s); s.remove(); return window.__inline; })()`); ran {
		t.Errorf("an inline script ran: the Content-Security-Policy is not enforced")
	}
	run(t, ctx, "let the violation be reported", chromedp.Sleep(100*time.Millisecond))
	if v := eval[[]string](t, ctx, `window.__csp.splice(0)`); len(v) == 0 {
		t.Errorf("the refused inline script was not reported; checkCSP would see nothing")
	}

	login(t, ctx, h.url, "admin", h.pw)
	waitText(t, ctx, "the overview", "Overview", "clusters ready", "2/2")
	shot(t, ctx, "overview")

	t.Run("deploy from the page with live validation", func(t *testing.T) {
		run(t, ctx, "open deploy", chromedp.Navigate(h.url+"/#/deploy"), chromedp.WaitVisible(chromedp.CSS(`#descriptor`)))
		bad := strings.Replace(helloSLA(t, 2), "memory: 16", "memory: -16", 1)
		run(t, ctx, "paste a bad SLA", paste("#descriptor", bad))
		waitText(t, ctx, "the field-path error", "applications[0].microservices[0].memory")
		shot(t, ctx, "deploy")
		run(t, ctx, "paste the example SLA", paste("#descriptor", helloSLA(t, 2)))
		waitText(t, ctx, "validation", "Valid SLA: 1 application(s), 1 microservice(s)")
		run(t, ctx, "deploy", chromedp.Click(chromedp.Search(`//button[text()="Deploy"]`)))
		waitText(t, ctx, "two RUNNING instances on the application page", "hello", "greeter")
		eventually(t, 60*time.Second, "2 RUNNING instances shown", func() (bool, string) {
			n := count(t, ctx, `[...document.querySelectorAll("td .state")].filter(e => e.textContent === "RUNNING").length`)
			return n == 2, text(t, ctx)
		})
		shot(t, ctx, "application")
	})

	t.Run("follow logs live", func(t *testing.T) {
		run(t, ctx, "open logs", chromedp.Click(chromedp.Search(`//a[text()="Logs"]`)), chromedp.WaitVisible(chromedp.CSS(`pre.logs`)))
		var first string
		eventually(t, 30*time.Second, "a hello line", func() (bool, string) {
			first = eval[string](t, ctx, `document.querySelector("pre.logs").textContent`)
			return strings.Contains(first, "hello #"), first
		})
		lines := strings.Count(first, "\n")
		eventually(t, 30*time.Second, "a new line without reloading", func() (bool, string) {
			now := eval[string](t, ctx, `document.querySelector("pre.logs").textContent`)
			return strings.Count(now, "\n") > lines, now
		})
		shot(t, ctx, "logs")
		run(t, ctx, "back", chromedp.NavigateBack())
	})

	t.Run("scale from the page, and a change made elsewhere shows up live", func(t *testing.T) {
		run(t, ctx, "scale to 3", chromedp.WaitVisible(chromedp.CSS(`input[id^=scale-]`)),
			chromedp.SetValue(chromedp.CSS(`input[id^=scale-]`), "3"),
			chromedp.Click(chromedp.Search(`//button[text()="Scale"]`)))
		running := `[...document.querySelectorAll("td .state")].filter(e => e.textContent === "RUNNING").length`
		eventually(t, 60*time.Second, "3 RUNNING instances shown", func() (bool, string) {
			return count(t, ctx, running) == 3, text(t, ctx)
		})
		// Scaled through the API, not the page: the page follows without a reload.
		svcs, err := h.admin.ListServices(bg)
		if err != nil || len(svcs) != 1 {
			t.Fatalf("services: %v %v", svcs, err)
		}
		began := time.Now()
		if _, err := h.admin.Scale(bg, svcs[0].ID, 4); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the 4th instance on the page", func() (bool, string) {
			return count(t, ctx, `document.querySelectorAll("section tbody tr").length`) == 4, text(t, ctx)
		})
		t.Logf("a change made through the API showed on the page after %s", time.Since(began).Round(time.Millisecond))
	})

	t.Run("topology map shows the FogAtlas regions and links", func(t *testing.T) {
		var docs []string
		for _, f := range []string{"region.yaml", "link.yaml"} {
			b, err := os.ReadFile(fogatlas + f)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(b))
		}
		run(t, ctx, "paste the topology", chromedp.Navigate(h.url+"/#/deploy"), chromedp.WaitVisible(chromedp.CSS(`#descriptor`)),
			paste("#descriptor", strings.Join(docs, "\n---\n")))
		waitText(t, ctx, "validation", "Valid FogAtlas documents")
		run(t, ctx, "apply", chromedp.Click(chromedp.Search(`//button[text()="Deploy"]`)), chromedp.WaitVisible(chromedp.CSS(`svg.map`)))
		regions, err := h.admin.ListRegions(bg)
		if err != nil {
			t.Fatal(err)
		}
		links, err := h.admin.ListLinks(bg)
		if err != nil {
			t.Fatal(err)
		}
		if len(regions) == 0 || len(links) == 0 {
			t.Fatalf("the example topology has %d regions and %d links", len(regions), len(links))
		}
		if n := count(t, ctx, `document.querySelectorAll("svg.map [data-region]").length`); n != len(regions) {
			t.Errorf("the map draws %d regions, want %d", n, len(regions))
		}
		if n := count(t, ctx, `document.querySelectorAll("svg.map [data-link]").length`); n != len(links) {
			t.Errorf("the map draws %d links, want %d", n, len(links))
		}
		svgText := eval[string](t, ctx, `document.querySelector("svg.map").textContent`)
		for _, r := range regions {
			if !strings.Contains(svgText, r.Name) {
				t.Errorf("region %s (%s) not on the map", r.Name, r.ID)
			}
		}
		// The nodes are drawn in the regions they are labelled into.
		for _, want := range []string{"box: ", "w2: ", "cluster box"} {
			if !strings.Contains(svgText, want) {
				t.Errorf("the map lacks %q: %s", want, svgText)
			}
		}
		l := links[0]
		if want := fmt.Sprintf("%v ms", l.Latency); !strings.Contains(svgText, want) {
			t.Errorf("link %s latency %q not on the map", l.ID, want)
		}
		shot(t, ctx, "topology")
	})

	t.Run("drain a node and see its instances move", func(t *testing.T) {
		// Drain the node that runs most of the instances, whichever placement chose.
		on := map[string]int{}
		for _, in := range instancesOf(t, h.admin, "hello") {
			on[in.NodeName]++
		}
		from, to := "box", "w2"
		if on["w2"] > on["box"] {
			from, to = "w2", "box"
		}
		if on[from] == 0 {
			t.Fatalf("no instance to move: %v", on)
		}
		t.Logf("before the drain: %v; draining %s", on, from)
		run(t, ctx, "open nodes", chromedp.Navigate(h.url+"/#/nodes"), chromedp.WaitVisible(chromedp.CSS(`button[data-op=drain]`)))
		waitText(t, ctx, "both nodes", "box", "w2")
		shot(t, ctx, "nodes")
		run(t, ctx, "drain "+from, chromedp.Click(chromedp.Search(`//tr[td[1][text()="`+from+`"]]//button[@data-op="drain"]`)))
		eventually(t, 90*time.Second, "every instance RUNNING on "+to, func() (bool, string) {
			insts := instancesOf(t, h.admin, "hello")
			for _, in := range insts {
				if in.NodeName != to || in.Status != api.StateRunning {
					return false, fmt.Sprint(insts)
				}
			}
			return len(insts) == 4, fmt.Sprint(insts)
		})
		waitText(t, ctx, from+" cordoned on the page", "cordoned")
		run(t, ctx, "the application page", chromedp.Navigate(h.url+"/#/apps"), chromedp.Click(chromedp.Search(`//a[text()="hello"]`)))
		eventually(t, 30*time.Second, "the page shows every instance on "+to, func() (bool, string) {
			s := text(t, ctx)
			return strings.Count(s, "on "+to+" of") == 4 && !strings.Contains(s, "on "+from+" of"), s
		})
		run(t, ctx, "uncordon", chromedp.Navigate(h.url+"/#/nodes"), chromedp.Click(chromedp.Search(`//tr[td[1][text()="`+from+`"]]//button[@data-op="uncordon"]`)))
		waitText(t, ctx, "no node cordoned", "box", "w2")
		eventually(t, 30*time.Second, from+" uncordoned", func() (bool, string) {
			s := text(t, ctx)
			return !strings.Contains(s, "cordoned"), s
		})
	})

	t.Run("why an instance is not placed", func(t *testing.T) {
		big := strings.Replace(strings.Replace(helloSLA(t, 1), "memory: 16", "memory: 100000", 1), "application_name: hello", "application_name: toobig", 1)
		res, err := h.admin.SubmitSLA(bg, []byte(big), "application/yaml")
		if err != nil {
			t.Fatal(err)
		}
		run(t, ctx, "open toobig", chromedp.Navigate(h.url+"/#/app/"+res.Applications[0].ID))
		waitText(t, ctx, "the placement's reason on the page", "UNSCHEDULABLE", "insufficient memory")
		shot(t, ctx, "unschedulable")
		// Many instances are paged, 50 to a page (these 120 fit nowhere, so
		// nothing starts).
		if _, err := h.admin.Scale(bg, res.Services[0].ID, 120); err != nil {
			t.Fatal(err)
		}
		waitText(t, ctx, "the pager", "Page 1 of 3 · 120 rows")
		if n := count(t, ctx, `document.querySelectorAll("section tbody tr").length`); n != 50 {
			t.Errorf("the first page shows %d rows, want 50", n)
		}
		run(t, ctx, "next page twice", chromedp.Click(chromedp.Search(`//button[@aria-label="next page"]`)),
			chromedp.Click(chromedp.Search(`//button[@aria-label="next page"]`)))
		waitText(t, ctx, "the last page", "Page 3 of 3 · 120 rows")
		if n := count(t, ctx, `document.querySelectorAll("section tbody tr").length`); n != 20 {
			t.Errorf("the last page shows %d rows, want 20", n)
		}
		if err := h.admin.DeleteApplication(bg, res.Applications[0].ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("other pages", func(t *testing.T) {
		for _, p := range []struct{ hash, name, want string }{
			{"#/pressure", "pressure", "Levels"}, {"#/kube", "kubernetes", "Chart repositories"}, {"#/admin", "admin", "Join tokens"},
		} {
			run(t, ctx, "open "+p.name, chromedp.Navigate(h.url+"/"+p.hash))
			waitText(t, ctx, p.name, p.want)
			shot(t, ctx, p.name)
		}
		run(t, ctx, "create a worker join token", chromedp.Click(chromedp.Search(`//button[text()="Create join token"]`)))
		waitText(t, ctx, "the token, shown once", "join token, shown once", "hedge-worker-")
	})

	t.Run("a tenant sees only its own applications", func(t *testing.T) {
		// alice is created on the Admin page, bob through the API.
		run(t, ctx, "create alice on the Admin page", chromedp.Navigate(h.url+"/#/admin"),
			chromedp.WaitVisible(chromedp.CSS(`#nu-name`)),
			chromedp.SendKeys(chromedp.CSS(`#nu-name`), "alice"),
			chromedp.SendKeys(chromedp.CSS(`#nu-pw`), "password-alice"),
			chromedp.Click(chromedp.Search(`//button[text()="Create user"]`)))
		waitText(t, ctx, "alice in the user list", "User alice created.", "Application_Provider")
		if _, err := h.admin.CreateUser(bg, "bob", "password-bob"); err != nil {
			t.Fatal(err)
		}
		tp, err := api.NewClient(h.url, api.WithHTTPClient(h.hc)).Login(bg, "alice", "password-alice")
		if err != nil {
			t.Fatal(err)
		}
		alice := api.NewClient(h.url, api.WithToken(tp.Token), api.WithHTTPClient(h.hc))
		if _, err := alice.SubmitSLA(bg, []byte(strings.Replace(helloSLA(t, 1), "application_name: hello", "application_name: alicesapp", 1)), "application/yaml"); err != nil {
			t.Fatal(err)
		}
		run(t, ctx, "log out", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login`)))
		login(t, ctx, h.url, "bob", "password-bob")
		run(t, ctx, "bob's applications", chromedp.Navigate(h.url+"/#/apps"))
		waitText(t, ctx, "bob's empty list", "No applications")
		if s := text(t, ctx); strings.Contains(s, "alicesapp") || strings.Contains(s, "hello") {
			t.Errorf("bob sees another's application:\n%s", s)
		}
		if n := count(t, ctx, `document.querySelectorAll("#nav a[data-admin]:not([hidden])").length`); n != 0 {
			t.Errorf("bob, not an Admin, is offered the Admin page")
		}
		run(t, ctx, "log out", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login`)))
		login(t, ctx, h.url, "alice", "password-alice")
		run(t, ctx, "alice's applications", chromedp.Navigate(h.url+"/#/apps"))
		waitText(t, ctx, "alice's application", "alicesapp")
		if s := text(t, ctx); strings.Contains(s, "hello\t") {
			t.Errorf("alice sees the admin's application:\n%s", s)
		}
		run(t, ctx, "log out", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login`)))
		login(t, ctx, h.url, "admin", h.pw)
	})

	t.Run("phone layout, dark mode and keyboard", func(t *testing.T) {
		run(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile), chromedp.Navigate(h.url+"/#/apps"))
		waitText(t, ctx, "the list on a phone", "hello")
		if n := count(t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); n > 0 {
			t.Errorf("the page is %d px wider than the phone's screen", n)
		}
		shot(t, ctx, "phone")
		if _, err := chromedp.Call(ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: false}); err != nil {
			t.Fatal(err)
		}
		if w := eval[int](t, ctx, `window.innerWidth`); w < 1000 {
			t.Fatalf("the desktop viewport is %d px wide after the phone", w)
		}
		// Dark: the page follows the system's setting, and text stays readable.
		dark := func(on bool) {
			v := "light"
			if on {
				v = "dark"
			}
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}}); err != nil {
				t.Fatal(err)
			}
		}
		dark(true)
		run(t, ctx, "overview in dark", chromedp.Navigate(h.url+"/#/"))
		waitText(t, ctx, "the overview in dark", "clusters ready")
		// Relative luminance of the background and the text, as WCAG computes it.
		contrast := eval[float64](t, ctx, `(() => {
			const lum = c => { const [r, g, b] = c.match(/\d+/g).slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
				return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
			const s = getComputedStyle(document.body), bg = lum(s.backgroundColor), fg = lum(s.color);
			return bg < 0.1 ? (Math.max(bg, fg) + 0.05) / (Math.min(bg, fg) + 0.05) : -1; })()`)
		if contrast < 7 {
			t.Errorf("dark mode: background not dark or text contrast %.1f:1 under 7:1", contrast)
		}
		shot(t, ctx, "overview-dark")
		dark(false)
		// Tab from the top reaches the skip link, then the navigation.
		var focused []string
		run(t, ctx, "tab through", chromedp.Navigate(h.url+"/#/"), chromedp.WaitVisible(chromedp.CSS(`#top`)))
		eval[bool](t, ctx, `(document.activeElement.blur(), true)`)
		for range 4 {
			run(t, ctx, "tab", chromedp.KeyEvent("\t"))
			focused = append(focused, eval[string](t, ctx, `document.activeElement.textContent.trim()`))
		}
		if !strings.Contains(strings.Join(focused, "|"), "Applications") {
			t.Errorf("tabbing from the top focused %q, never the navigation", focused)
		}
	})

	t.Run("delete from the page", func(t *testing.T) {
		run(t, ctx, "open the application", chromedp.Navigate(h.url+"/#/apps"), chromedp.Click(chromedp.Search(`//a[text()="hello"]`)),
			chromedp.Click(chromedp.Search(`//button[text()="Delete application"]`)))
		eventually(t, 60*time.Second, "hello gone", func() (bool, string) {
			apps, err := h.admin.ListApplications(bg)
			for _, a := range apps {
				if a.Name == "hello" {
					return false, fmt.Sprint(apps, err)
				}
			}
			return err == nil, fmt.Sprint(err)
		})
		waitText(t, ctx, "the list without hello", "Applications", "alicesapp")
		if s := text(t, ctx); strings.Contains(s, "hello\t") {
			t.Errorf("hello still listed after deletion:\n%s", s)
		}
		checkCSP(t, ctx)
	})
}
