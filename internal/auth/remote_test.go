package auth

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/hedgeorch/hedge/internal/store"
)

func TestUnitClientAddress(t *testing.T) {
	st := store.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	proxied, err := NewService(st, Options{
		Logger:         slog.New(slog.DiscardHandler),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	direct := newFixture(t).svc
	tests := []struct {
		name string
		svc  *Service
		peer string
		xff  []string
		want string
	}{
		{"no proxy trusted: header ignored", direct, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"untrusted peer: header ignored", proxied, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted proxy: client from header", proxied, "10.0.0.2:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-forged left entries are skipped", proxied, "10.0.0.2:4000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", proxied, "10.0.0.2:4000", []string{"198.51.100.1, 10.0.0.9", "10.0.0.3"}, "198.51.100.1"},
		{"garbage counts as the proxy", proxied, "10.0.0.2:4000", []string{"not-an-ip"}, "10.0.0.2"},
		{"trusted proxy without header", proxied, "10.0.0.2:4000", nil, "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.svc.ClientAddress(tt.peer, tt.xff); got != tt.want {
				t.Fatalf("ClientAddress(%q, %q) = %q, want %q", tt.peer, tt.xff, got, tt.want)
			}
		})
	}
}
