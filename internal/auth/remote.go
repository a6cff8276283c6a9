package auth

import (
	"net"
	"net/netip"
	"strings"
)

// ClientAddress returns the address logins are counted against: the host of
// peer (the connection's remote address), or, when peer is one of
// Options.TrustedProxies, the right-most address of X-Forwarded-For that is
// not a trusted proxy, as nginx's real_ip_recursive and Kubernetes'
// --trusted-proxies do. Without trusted proxies the header is ignored, so a
// client cannot pick the address it is counted under.
func (s *Service) ClientAddress(peer string, forwardedFor []string) string {
	host := peer
	if h, _, err := net.SplitHostPort(peer); err == nil {
		host = h
	}
	if !s.trusted(host) {
		return host
	}
	var hops []string
	for _, h := range forwardedFor {
		for _, a := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(a))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			// Garbage from the client side: count it as the proxy that
			// passed it on, never as an address the client chose.
			return host
		}
		if !s.trusted(a.String()) {
			return a.String()
		}
		host = a.String()
	}
	return host
}

func (s *Service) trusted(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
