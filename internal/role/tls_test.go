package role

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestJoinTrustRefusesBadInput(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name, upper, token string
		trust              Trust
		want               string
	}{
		{name: "plain http upper tier", upper: "http://10.0.0.1:10000", token: "hedge-cluster-x", want: "--root: \"http://10.0.0.1:10000\": want https://"},
		{name: "malformed pin in the token", upper: "https://10.0.0.1:10000", token: "sha256:zz::hedge-cluster-x", want: "--join-token: CA pin"},
		{name: "malformed --ca-pin", upper: "https://10.0.0.1:10000", token: "hedge-cluster-x", trust: Trust{Pin: "md5:00"}, want: "--ca-pin: CA pin"},
		{name: "no pin and no CA", upper: "https://10.0.0.1:10000", token: "hedge-cluster-x", want: "no CA to trust"},
		{name: "--ca-cert that is not a certificate", upper: "https://10.0.0.1:10000", token: "hedge-cluster-x", trust: Trust{CACertFile: "tls_test.go"}, want: "--ca-cert tls_test.go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := joinTrust(context.Background(), log, t.TempDir(), "--root", tt.upper, "root.hedge", tt.token, tt.trust)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestInsecureAPINeedsATLSLinkListener(t *testing.T) {
	cfg := RootConfig{Addr: "127.0.0.1:0", TLS: TLSConfig{InsecureHTTP: true}, Logger: slog.New(slog.DiscardHandler)}
	if _, _, err := rootListeners(cfg, nil); err == nil || !strings.Contains(err.Error(), "--link-addr") {
		t.Errorf("--api-insecure-http without --link-addr: err = %v, want one naming --link-addr", err)
	}
	// On the plain listener, the link is refused; the API is served.
	h := refuseLink(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for path, want := range map[string]int{"/link/v1/join": http.StatusForbidden, "/api/health": http.StatusTeapot} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		if rec.Code != want {
			t.Errorf("%s on the plain listener: %d, want %d", path, rec.Code, want)
		}
	}
}
