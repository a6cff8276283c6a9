// Package console holds the browser tests of Hedge's web console: they run
// `hedge up` (and a second worker), drive Debian's chromium with chromedp
// through the page as a user would, and save a screenshot of every page
// into docs/console/. They measure the page's weight and first render.
package console
