package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// TestE2ETopologyPlacement runs root, one cluster and three workers labelled
// into the FogAtlas example regions as separate processes, applies the
// example topology with `hedge apply -f` as the files are, then a DAG FADepl
// whose microservices run as processes (the hedge.io/virtualization
// annotation), and checks every instance RUNNING on the worker of the region
// its placement chose; deleting the FADepl stops them and frees the links.
func TestE2ETopologyPlacement(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pw := randomPassword()
	apiAddr := freeAddr(t)
	url := "http://" + apiAddr
	startProc(t, "root", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "root", "--data-dir", filepath.Join(dir, "root"), "--api-addr", apiAddr)
	waitHealthy(t, url)
	c := login(t, url, pw)
	ct, err := c.CreateToken(ctx, "cluster", time.Hour)
	if err != nil {
		t.Fatalf("create cluster token: %v", err)
	}
	clusterAddr := freeAddr(t)
	startProc(t, "cluster", nil, "cluster", "--data-dir", filepath.Join(dir, "cluster"), "--root", url, "--join-token", ct.Token,
		"--listen", clusterAddr, "--name", "trentino")
	wt, err := c.CreateToken(ctx, "worker", time.Hour)
	if err != nil {
		t.Fatalf("create worker token: %v", err)
	}
	regions := map[string]string{"cloud": "001-001", "trento": "002-002", "povo": "003-003"}
	for name, region := range regions {
		startProc(t, name, nil, "worker", "--data-dir", filepath.Join(dir, name), "--cluster", "http://"+clusterAddr,
			"--join-token", wt.Token, "--name", name, "--memory-mb", "400", "--cpus", "1", "--heartbeat", "500ms",
			"--metrics-addr", "", "--label", "region="+region, "--label", "region-name="+name)
	}
	eventually(t, 30*time.Second, "three READY labelled nodes", func() (bool, string) {
		nodes, err := c.ListNodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, n := range nodes {
			if n.State == api.NodeReady && n.Labels["region"] != "" {
				ready++
			}
		}
		return ready == 3, strings.Join(nodeNames(nodes), ",")
	})

	// The example files, applied as they are, with the CLI.
	cfg := []string{"HEDGE_CONFIG=" + filepath.Join(dir, "cli.json"), "HEDGE_SERVER=" + url, "HEDGE_PASSWORD=" + pw}
	hedge(t, cfg, "login", "--username", "admin")
	for _, f := range []string{"region.yaml", "link.yaml", "externalendpoint.yaml"} {
		out := hedge(t, cfg, "apply", "-f", filepath.Join("..", "..", "internal", "root", "testdata", "fogatlas", f))
		if !strings.Contains(out, "configured") {
			t.Fatalf("apply %s: %s", f, out)
		}
	}
	if out := hedge(t, cfg, "get", "links"); !strings.Contains(out, "link3") {
		t.Fatalf("get links: %s", out)
	}

	fadepl := filepath.Join(dir, "fadepl-proc.yaml")
	if err := os.WriteFile(fadepl, []byte(processFADepl(bin.echo)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := hedge(t, cfg, "apply", "-f", fadepl)
	t.Logf("apply fadepl: %s", out)
	f, err := c.GetFADepl(ctx, "proc-app")
	if err != nil || f.Status == nil || f.Status.Status != "New" {
		t.Fatalf("fadepl = %+v, %v", f, err)
	}
	workerOf := map[string]string{}
	for name, region := range regions {
		workerOf[region] = name
	}
	svcs, err := c.ListAppServices(ctx, f.ApplicationID)
	if err != nil || len(svcs) != 2 {
		t.Fatalf("services = %+v, %v; want driver1 and processor", svcs, err)
	}
	for _, p := range f.Status.Placements {
		for _, rp := range p.Regions {
			var s api.Service
			for _, x := range svcs {
				if x.Spec.Name == p.Microservice+".reg."+rp.Region {
					s = x
				}
			}
			if s.ID == "" {
				t.Fatalf("no service %s.reg.%s among %+v", p.Microservice, rp.Region, svcs)
			}
			s = waitRunning(t, c, s.ID, rp.Replicas)
			for _, in := range s.Instances {
				if in.NodeName != workerOf[rp.Region] {
					t.Errorf("%s instance %d runs on %s, want %s (region %s)", s.Spec.Name, in.Number, in.NodeName, workerOf[rp.Region], rp.Region)
				}
			}
		}
	}
	if out := hedge(t, cfg, "get", "fadepl"); !strings.Contains(out, "proc-app") || !strings.Contains(out, "New") {
		t.Errorf("get fadepl: %s", out)
	}

	if len(f.Status.LinksOccupancy) == 0 {
		t.Errorf("no link occupancy between Povo and the cloud: %+v", f.Status)
	}
	if err := c.DeleteFADepl(ctx, "proc-app"); err != nil {
		t.Fatalf("delete fadepl: %v", err)
	}
	eventually(t, 20*time.Second, "no echo process left", func() (bool, string) {
		n := len(echoProcesses(t))
		return n == 0, fmt.Sprint(n, " running")
	})
	links, err := c.ListLinks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.BWAllocated != 0 {
			t.Errorf("link %s keeps %d bit/s after the delete", l.ID, l.BWAllocated)
		}
	}
}

// hedge runs the CLI and returns its output, failing the test on an error.
func hedge(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin.hedge, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hedge %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// processFADepl is a small DAG: a camera in Povo feeds driver1 (required in
// Povo), which feeds a processor required in the cloud, so the instances
// run in two regions and the dataflow between them holds link bandwidth. Both run the echo
// server as a process.
func processFADepl(exe string) string {
	ms := func(name, regions string) string {
		return `    - name: ` + name + `
` + regions + `      deployment:
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ` + name + `
        spec:
          replicas: 1
          template:
            metadata:
              annotations:
                hedge.io/virtualization: process
            spec:
              containers:
                - name: ` + name + `
                  image: "` + exe + `"
                  args: ["--flag", "value"]
                  resources:
                    requests:
                      memory: 20Mi
                      cpu: 100m
`
	}
	return `apiVersion: fogatlas.fbk.eu/v1alpha1
kind: FADepl
metadata:
  name: proc-app
spec:
  algorithm: DAG
  externalendpoints: [cam1]
  microservices:
` + ms("driver1", "      regions:\n        - regionrequired: \"003-003\"\n") + ms("processor", "      regions:\n        - regionrequired: \"001-001\"\n") + `  dataflows:
    - {sourceid: cam1, destinationid: driver1, bandwidthrequired: 5M, latency: 20}
    - {sourceid: driver1, destinationid: processor, bandwidthrequired: 100k, latency: 500}
`
}
