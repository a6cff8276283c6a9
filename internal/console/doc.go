// Package console is Hedge's web console: a few static files (HTML, CSS and
// JavaScript modules, no build step) embedded in the binary and served by
// the root at / of its API address. The page talks to the REST API with the
// same tokens as the CLI; Handler adds the headers that keep it to itself
// (a strict Content-Security-Policy among them).
package console
