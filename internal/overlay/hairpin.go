package overlay

import (
	"context"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hairpin puts every port of the bridge in hairpin mode as it appears, so
// that an instance calling its own service address can be answered by
// itself: the translated packet must leave by the port it came in on. The
// drivers add the ports, so the plane watches the kernel for them.
func (p *Plane) hairpin(ctx context.Context) {
	defer p.done.Done()
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			if ctx.Err() == nil { // closing the watch at shutdown is no error
				p.log.Warn("overlay: watch bridge ports", "error", err)
			}
		},
	})
	if err != nil {
		p.log.Warn("overlay: watch bridge ports; instances cannot call their own service address", "error", err)
		return
	}
	defer func() {
		close(done)
		for range ch { // the subscription closes ch when it stops
		}
	}()
	set := map[int]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-ch:
			if !ok {
				return
			}
			a := u.Link.Attrs()
			if u.Header.Type == unix.RTM_DELLINK {
				delete(set, a.Index)
				continue
			}
			if set[a.Index] || a.MasterIndex == 0 {
				continue
			}
			br, err := netlink.LinkByName(BridgeName)
			if err != nil || br.Attrs().Index != a.MasterIndex {
				continue
			}
			if err := netlink.LinkSetHairpin(u.Link, true); err != nil {
				p.log.Warn("overlay: hairpin", "port", a.Name, "error", err)
				continue
			}
			set[a.Index] = true
		}
	}
}
