package overlay

import (
	"context"
	"crypto/rand"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Round trips are measured with a tiny UDP echo on each worker's gateway
// address, one port above its tunnel port, reached through the tunnel: the
// path an instance's packets take.

// echoServer answers every datagram with itself.
func echoServer(pc net.PacketConn) {
	buf := make([]byte, 64)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo(buf[:n], from)
	}
}

// probe measures one round trip to addr; false when no answer came within
// timeout.
func probe(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (time.Duration, bool) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr.String())
	if err != nil {
		return 0, false
	}
	defer c.Close()
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	start := time.Now()
	_ = c.SetDeadline(start.Add(timeout))
	if _, err := c.Write(nonce[:]); err != nil {
		return 0, false
	}
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, false
		}
		if n == len(nonce) && string(buf[:n]) == string(nonce[:]) {
			return time.Since(start), true
		}
	}
}

// probeAll measures every peer at once and returns the answers.
func probeAll(ctx context.Context, peers []peer, timeout time.Duration) map[string]time.Duration {
	var mu sync.Mutex
	out := map[string]time.Duration{}
	var wg sync.WaitGroup
	for _, pr := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := netip.AddrPortFrom(pr.Subnet.Addr().Next(), pr.Endpoint.Port()+1)
			if d, ok := probe(ctx, to, timeout); ok {
				mu.Lock()
				out[pr.ID] = d
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func echoAddr(gw netip.Addr, tunnelPort int) string {
	return net.JoinHostPort(gw.String(), strconv.Itoa(tunnelPort+1))
}
