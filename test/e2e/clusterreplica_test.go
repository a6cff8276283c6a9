package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// TestE2EClusterReplicasOnEtcd runs one site as two cluster replicas on a
// three-member etcd; the worker is given both. Killing the leading replica
// (SIGKILL) leaves the worker's instances running untouched: the worker
// reports to the other replica, which leads with the same identity at the
// root, and new placements in the site work.
func TestE2EClusterReplicasOnEtcd(t *testing.T) {
	ctx := context.Background()
	killEchoesAtEnd(t)
	_, storeURL := etcdCluster(t)
	pw := randomPassword()
	dir := t.TempDir()
	rootAddr := freeAddr(t)
	rootURL := "https://" + rootAddr
	startProc(t, "root", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "root", "--data-dir", filepath.Join(dir, "root"), "--api-addr", rootAddr)
	waitHealthy(t, rootURL, filepath.Join(dir, "root"))
	c := login(t, rootURL, pw)
	ct, err := c.CreateToken(ctx, "cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := c.CreateToken(ctx, "worker", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	replica := func(name, addr string) *proc {
		return startProc(t, name, nil, "cluster", "--data-dir", filepath.Join(dir, name), "--root", rootURL, "--join-token", ct.Token,
			"--listen", addr, "--name", "site1", "--store", storeURL+"/site1", "--lease-ttl", "2s")
	}
	addr1, addr2 := freeAddr(t), freeAddr(t)
	c1 := replica("site1a", addr1)
	eventually(t, 30*time.Second, "site1a to lead and listen", func() (bool, string) {
		return strings.Contains(c1.output(), "cluster listening for workers"), tail(c1.output(), 300)
	})
	c2 := replica("site1b", addr2)
	eventually(t, 10*time.Second, "site1b to stand by", func() (bool, string) {
		return strings.Contains(c2.output(), "standing by"), tail(c2.output(), 300)
	})
	startProc(t, "w1", nil, "worker", "--data-dir", filepath.Join(dir, "w1"), "--cluster", "https://"+addr1+",https://"+addr2,
		"--join-token", wt.Token, "--name", "w1", "--memory-mb", "2000", "--heartbeat", "500ms")
	eventually(t, 30*time.Second, "w1 READY", func() (bool, string) {
		nodes, err := c.ListNodes(ctx)
		return err == nil && len(nodes) == 1 && nodes[0].State == api.NodeReady, fmt.Sprint(nodes, err)
	})
	res, err := c.SubmitSLA(ctx, echoSLA("before", 50), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	before := res.Services[0].ID
	if _, err := c.Scale(ctx, before, 2); err != nil {
		t.Fatal(err)
	}
	pids := pidsOn(waitRunning(t, c, before, 2), "w1")

	c1.kill()
	killed := time.Now()
	eventually(t, 30*time.Second, "site1b to lead and listen", func() (bool, string) {
		return strings.Contains(c2.output(), "cluster listening for workers"), tail(c2.output(), 300)
	})
	leading := time.Since(killed)
	res, err = c.SubmitSLA(ctx, echoSLA("after", 50), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	waitRunning(t, c, res.Services[0].ID, 1)
	placed := time.Since(killed)
	t.Logf("cluster replica failover (2 s lease): site1b listening %s after site1a was killed; a new instance RUNNING in the site %s after",
		leading.Round(10*time.Millisecond), placed.Round(10*time.Millisecond))

	s := waitRunning(t, c, before, 2)
	if got := pidsOn(s, "w1"); !slices.Equal(got, pids) {
		t.Fatalf("instances on w1 after the cluster failover: pids %v, want %v (kept, not restarted)", got, pids)
	}
	nodes, err := c.ListNodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].State != api.NodeReady {
		t.Fatalf("nodes after the cluster failover = %v, %v; want w1 READY, once", nodes, err)
	}
}
