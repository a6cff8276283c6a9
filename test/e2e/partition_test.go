package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// TestE2ERootLeaderPartitionedFromEtcd cuts the host of the leading root
// replica off the network (a real partition, lab_test's switch), with a
// three-member etcd on three other hosts: the cut leader stops within its
// lease (it exits, saying why), the other replica takes over and serves
// writes; once healed and restarted, as its supervisor would, the old
// leader stands by instead of leading a second time.
func TestE2ERootLeaderPartitionedFromEtcd(t *testing.T) {
	ctx := context.Background()
	l := newLab(t)
	var etcdHosts []*host
	for i := range 3 {
		etcdHosts = append(etcdHosts, l.addHost(fmt.Sprintf("etcd%d", i)))
	}
	_, storeURL := startEtcd(t, etcdHosts)
	pw := randomPassword()
	env := []string{"HEDGE_ADMIN_PASSWORD=" + pw}
	dir := t.TempDir()
	const lease = 2 * time.Second
	type replica struct {
		h   *host
		p   *proc
		url string
		dir string
	}
	start := func(name string) *replica {
		h := l.addHost(name)
		r := &replica{h: h, url: "https://" + h.addr(10000), dir: filepath.Join(dir, name)}
		r.p = h.start(t, name, env, "root", "--data-dir", r.dir, "--api-addr", h.addr(10000), "--store", storeURL, "--lease-ttl", lease.String())
		waitHealthy(t, r.url, r.dir)
		return r
	}
	a := start("ra") // leads: the first on the store
	b := start("rb")
	servedBy := func(r *replica) string {
		resp, err := httpClient(t, r.url).Get(r.url + "/api/health")
		if err != nil {
			return "unreachable: " + err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status
		}
		if by := resp.Header.Get("Hedge-Served-By"); by != "" {
			return by
		}
		return "leader"
	}
	if got := servedBy(a); got != "leader" {
		t.Fatalf("ra, first on the store, answers as %q; want the leader", got)
	}
	if got := servedBy(b); got != "leader-via-standby" {
		t.Fatalf("rb answers as %q; want a standby forwarding to the leader", got)
	}
	cb := login(t, b.url, pw)
	if _, err := cb.CreateUser(ctx, "before", "before-password-1", "Application_Provider"); err != nil {
		t.Fatalf("write through the standby before the cut: %v", err)
	}

	a.h.cut()
	cut := time.Now()
	exited := make(chan error, 1)
	go func() { exited <- a.p.cmd.Wait() }()
	// When the cut leader says it stopped acting, and when it is gone.
	var exitedAfter time.Duration
	acting := make(chan time.Duration, 1)
	go func() {
		for !strings.Contains(a.p.output(), "lost the leadership") && time.Since(cut) < 30*time.Second {
			time.Sleep(10 * time.Millisecond)
		}
		acting <- time.Since(cut)
	}()
	var tookOver time.Duration
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second) // a forward to the cut leader is dropped once another leads
		_, err := cb.CreateUser(actx, "during", "during-password-1", "Application_Provider")
		cancel()
		if err == nil || errors.Is(err, api.ErrConflict) {
			tookOver = time.Since(cut)
			break
		}
		if time.Since(cut) > 30*time.Second {
			t.Fatalf("no write through rb 30 s after the leader was cut off: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-exited:
		exitedAfter = time.Since(cut)
		a.p.cmd = nil
	case <-time.After(30 * time.Second):
		t.Fatalf("the partitioned leader still runs 30 s after the cut; its log:\n%s", tail(a.p.output(), 2000))
	}
	if out := a.p.output(); !strings.Contains(out, "lost the leadership") {
		t.Fatalf("the partitioned leader stopped without saying it lost the leadership:\n%s", tail(out, 2000))
	}
	t.Logf("lease %s: after the cut, the cut leader stopped acting at %s and exited at %s; rb took writes at %s",
		lease, (<-acting).Round(10*time.Millisecond), exitedAfter.Round(10*time.Millisecond), tookOver.Round(10*time.Millisecond))
	if got := servedBy(b); got != "leader" {
		t.Fatalf("rb answers as %q after the cut; want the leader", got)
	}

	// Healed and restarted, the old leader stands by.
	a.h.heal()
	a.p.start()
	eventually(t, 30*time.Second, "ra to stand by after the heal", func() (bool, string) {
		got := servedBy(a)
		return got == "leader-via-standby", got
	})
	if got := servedBy(b); got != "leader" {
		t.Fatalf("rb answers as %q once ra is back; want it still leading", got)
	}
	ca := login(t, a.url, pw)
	if _, err := ca.CreateUser(ctx, "after", "after-password-1", "Application_Provider"); err != nil {
		t.Fatalf("write through the healed replica: %v", err)
	}
	if names := userNames(t, ca); !contains(names, "before") || !contains(names, "during") || !contains(names, "after") {
		t.Fatalf("users read through the healed replica = %v; want before, during and after", names)
	}
}
