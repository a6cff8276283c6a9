package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// TestE2EPressure creates real CPU pressure on a worker and follows FRACTAL's
// levels: the node is limited (the low-priority instance's cpu is capped),
// then tainted, the low-priority instance is moved to the other worker while
// the exempt one stays, and when the pressure is removed the node is restored.
func TestE2EPressure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pw := randomPassword()
	apiAddr, clusterAddr := freeAddr(t), freeAddr(t)
	url := "https://" + apiAddr
	// Only w1 is watched, on cpu: the other worker shares the machine and
	// must stay a place to move to.
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("default: {}\nnodes:\n  w1: {cpu: 60}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startProc(t, "root", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "root", "--data-dir", filepath.Join(dir, "root"), "--api-addr", apiAddr)
	waitHealthy(t, url, filepath.Join(dir, "root"))
	c := login(t, url, pw)
	ct, _ := c.CreateToken(ctx, "cluster", time.Hour)
	wt, _ := c.CreateToken(ctx, "worker", time.Hour)
	startProc(t, "cluster", nil, "cluster", "--data-dir", filepath.Join(dir, "cluster"), "--root", url, "--join-token", ct.Token,
		"--listen", clusterAddr, "--name", "site", "--pressure", "--pressure-policy", policy, "--pressure-interval", "500ms",
		"--pressure-after", "1s", "--pressure-taint-after", "2s", "--pressure-calm", "2s")
	// w1 offers a tenth of a core: its instances' cgroup usage is
	// measured against that share, so a busy loop presses it even on a loaded machine.
	startProc(t, "w1", nil, "worker", "--data-dir", filepath.Join(dir, "w1"), "--cluster", "https://"+clusterAddr, "--join-token", wt.Token,
		"--name", "w1", "--cpus", "0.1", "--heartbeat", "500ms")
	startProc(t, "w2", nil, "worker", "--data-dir", filepath.Join(dir, "w2"), "--cluster", "https://"+clusterAddr, "--join-token", wt.Token,
		"--name", "w2", "--heartbeat", "500ms")
	eventually(t, 30*time.Second, "two READY nodes", func() (bool, string) {
		ns, err := c.ListNodes(ctx)
		return err == nil && len(ns) == 2 && ns[0].State == api.NodeReady && ns[1].State == api.NodeReady, fmt.Sprint(ns, err)
	})
	// Both services start on w1.
	if _, err := c.ControlNode(ctx, "w2", "cordon"); err != nil {
		t.Fatal(err)
	}
	sla := fmt.Sprintf(`{"sla_version":"v2.0","customerID":"Admin","applications":[
	 {"application_name":"load","application_namespace":"t","microservices":[{"microservice_name":"burner","microservice_namespace":"t",
	   "virtualization":"process","code":"/bin/sh","cmd":["-c","while :; do :; done"],"priority":10,"pressure_exempt":true}]},
	 {"application_name":"web","application_namespace":"t","microservices":[{"microservice_name":"victim","microservice_namespace":"t",
	   "virtualization":"process","code":%q,"priority":0}]}]}`, bin.echo)
	res, err := c.SubmitSLA(ctx, []byte(sla), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	burnerApp, burner, victim := res.Applications[0].ID, res.Services[0].ID, res.Services[1].ID
	victimApp := res.Applications[1].ID
	if res.Services[0].Spec.Name != "burner" {
		burnerApp, burner, victim = res.Applications[1].ID, res.Services[1].ID, res.Services[0].ID
		victimApp = res.Applications[0].ID
	}
	// Instances outlive their tiers by design: remove what this test runs.
	t.Cleanup(func() {
		_ = c.DeleteApplication(ctx, victimApp)
		_ = c.DeleteApplication(ctx, burnerApp)
		eventually(t, 20*time.Second, "no echo process left", func() (bool, string) {
			return len(echoProcesses(t)) == 0, fmtInts(echoProcesses(t))
		})
	})
	waitRunning(t, c, burner, 1)
	if s := waitRunning(t, c, victim, 1); s.Instances[0].NodeName != "w1" {
		t.Fatalf("victim placed on %s; want w1", s.Instances[0].NodeName)
	}
	if _, err := c.ControlNode(ctx, "w2", "uncordon"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	var sawLimited bool
	eventually(t, 90*time.Second, "the victim moved to w2 under pressure", func() (bool, string) {
		s := service(t, c, victim)
		in := s.Instances[0]
		sawLimited = sawLimited || in.Limited
		return in.Status == api.StateRunning && in.NodeName == "w2", states(s) + " events: " + eventSummary(t, c)
	})
	moved := time.Since(start)
	if b := service(t, c, burner); b.Instances[0].NodeName != "w1" || b.Instances[0].Status != api.StateRunning {
		t.Errorf("the exempt burner was touched: %s", states(b))
	}
	evs := eventSummary(t, c)
	for _, want := range []string{"normal->limited cpu", "limit", "limited->tainted cpu", "taint", "evict " + victim} {
		if !strings.Contains(evs, want) {
			t.Errorf("events lack %q: %s", want, evs)
		}
	}
	if !sawLimited && !strings.Contains(evs, "limit") {
		t.Error("the victim was never limited before being moved")
	}

	// Remove the pressure: the node is restored.
	if err := c.DeleteApplication(ctx, burnerApp); err != nil {
		t.Fatal(err)
	}
	burnerApp = ""
	calm := time.Now()
	eventually(t, 60*time.Second, "w1 restored", func() (bool, string) {
		ns, _ := c.ListNodes(ctx)
		for _, n := range ns {
			if n.Name == "w1" {
				return n.Pressure == "normal" && strings.Contains(eventSummary(t, c), "restore"), n.Pressure + " " + eventSummary(t, c)
			}
		}
		return false, "no w1"
	})
	t.Logf("pressure: victim moved %.1f s after the burner started; w1 restored %.1f s after the pressure was removed", moved.Seconds(), time.Since(calm).Seconds())
}

func eventSummary(t *testing.T, c *api.Client) string {
	evs, err := c.ListEvents(context.Background())
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, e := range evs {
		p := e.Node + ":"
		if e.From != e.To {
			p += " " + e.From + "->" + e.To
		}
		if e.Metric != "" {
			p += fmt.Sprintf(" %s %.0f/%.0f", e.Metric, e.Value, e.Threshold)
		}
		if e.Action != "" {
			p += " " + e.Action
			if e.Instance != "" {
				p += " " + strings.SplitN(e.Instance, "-", 2)[0]
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}
