package overlay

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// resolver answers the names of services (<service>.<app>.<namespace>.hedge,
// and closest.<that name> with the closest address) on the gateway, and
// passes every other name to the host's own name servers.
type resolver struct {
	log      *slog.Logger
	mu       sync.RWMutex
	names    map[string]netip.Addr
	upstream []string
	servers  []*dns.Server
}

func newResolver(log *slog.Logger) *resolver {
	return &resolver{log: log, names: map[string]netip.Addr{}, upstream: hostResolvers("/etc/resolv.conf")}
}

func (r *resolver) setNames(n map[string]netip.Addr) {
	r.mu.Lock()
	r.names = n
	r.mu.Unlock()
}

// listen serves UDP and TCP port 53 on addr.
func (r *resolver) listen(addr netip.Addr) error {
	hp := net.JoinHostPort(addr.String(), "53")
	pc, err := net.ListenPacket("udp", hp)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", hp)
	if err != nil {
		pc.Close()
		return err
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: r}, {Listener: ln, Handler: r}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		r.servers = append(r.servers, s)
		go func() { _ = s.ActivateAndServe() }()
		<-started
	}
	return nil
}

func (r *resolver) close() {
	for _, s := range r.servers {
		_ = s.Shutdown()
	}
	r.servers = nil
}

// ServeDNS implements dns.Handler.
func (r *resolver) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	if len(q.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	name := strings.ToLower(q.Question[0].Name)
	if dns.IsSubDomain("hedge.", name) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		r.mu.RLock()
		ip, ok := r.names[name]
		r.mu.RUnlock()
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA || q.Question[0].Qtype == dns.TypeANY:
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5},
				A:   ip.AsSlice(),
			})
		}
		_ = w.WriteMsg(m)
		return
	}
	_ = w.WriteMsg(r.forward(q, w.RemoteAddr().Network()))
}

func (r *resolver) forward(q *dns.Msg, network string) *dns.Msg {
	c := &dns.Client{Net: network, Timeout: 3 * time.Second}
	for _, up := range r.upstream {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		resp, _, err := c.ExchangeContext(ctx, q, net.JoinHostPort(up, "53"))
		cancel()
		if err == nil {
			return resp
		}
	}
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeServerFailure)
	return m
}

// hostResolvers are the non-loopback name servers of resolv.conf (a
// loopback one is unreachable from an instance's namespace, and would be
// this host's stub anyway).
func hostResolvers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 || fs[0] != "nameserver" {
			continue
		}
		ip, err := netip.ParseAddr(fs[1])
		if err != nil || ip.IsLoopback() {
			continue
		}
		out = append(out, ip.String())
	}
	return out
}
