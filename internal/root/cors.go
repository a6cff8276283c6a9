package root

import (
	"net/http"
	"slices"
	"strings"
)

// corsMethods and corsHeaders are what a browser page from an allowed origin
// may use: every method of the API, with a bearer token and a JSON body.
const (
	corsMethods = "GET, POST, PUT, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type"
	corsMaxAge  = "600"
)

// WithCORS lets pages served from the given origins (such as Oakestra's
// dashboard, served by its own web server) call the API from a browser: it
// answers preflight requests and marks answers to those origins as
// readable. "*" allows every origin. With no origins it returns h as is:
// cross-origin calls stay refused by browsers, the safe default.
func WithCORS(h http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return h
	}
	all := slices.Contains(origins, "*")
	allowed := func(o string) bool {
		return o != "" && (all || slices.ContainsFunc(origins, func(a string) bool { return strings.EqualFold(strings.TrimSuffix(a, "/"), o) }))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		origin := req.Header.Get("Origin")
		if !allowed(origin) || !strings.HasPrefix(req.URL.Path, "/api/") {
			h.ServeHTTP(w, req)
			return
		}
		hd := w.Header()
		hd.Add("Vary", "Origin")
		hd.Set("Access-Control-Allow-Origin", origin)
		if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
			hd.Set("Access-Control-Allow-Methods", corsMethods)
			hd.Set("Access-Control-Allow-Headers", corsHeaders)
			hd.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, req)
	})
}
