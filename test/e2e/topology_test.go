package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	url := "https://" + apiAddr
	startProc(t, "root", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "root", "--data-dir", filepath.Join(dir, "root"), "--api-addr", apiAddr)
	waitHealthy(t, url, filepath.Join(dir, "root"))
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
		startProc(t, name, nil, "worker", "--data-dir", filepath.Join(dir, name), "--cluster", "https://"+clusterAddr,
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
	cfg := []string{"HEDGE_CONFIG=" + filepath.Join(dir, "cli.json"), "HEDGE_SERVER=" + url, "HEDGE_PASSWORD=" + pw, "HEDGE_CA_CERT=" + rootCA(filepath.Join(dir, "root"))}
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

	latencyMovesOnLinkDown(t, c, cfg, dir)
	slaWithDataflows(t, c, cfg, dir)
}

// slaWithDataflows applies an Oakestra SLA whose detector takes cam1's
// stream (Povo) within 5 ms and sends 1 Mbit/s to an archive pinned to the
// cloud: with `hedge apply`, the detector runs on the Povo worker, the
// archive on the cloud worker, and link1 carries the flow until the
// application is deleted.
func slaWithDataflows(t *testing.T, c *api.Client, cfg []string, dir string) {
	ctx := context.Background()
	doc := fmt.Sprintf(`sla_version: v2.0
customerID: Admin
applications:
  - application_name: vision
    application_namespace: test
    application_desc: dataflows
    microservices:
      - microservice_name: detector
        microservice_namespace: test
        virtualization: process
        code: %[1]q
        memory: 64
        vcpus: 0.1
        connectivity:
          - source_endpoint: cam1
            con_constraints: [{type: latency, threshold: 5}, {type: bandwidth, threshold: 5M}]
          - target_microservice: archive
            con_constraints: [{type: bandwidth, threshold: 1M}]
      - microservice_name: archive
        microservice_namespace: test
        virtualization: process
        code: %[1]q
        memory: 64
        vcpus: 0.1
        node_selector: {region: "001-001"}
`, bin.echo)
	file := filepath.Join(dir, "vision.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := hedge(t, cfg, "apply", "-f", file)
	t.Logf("apply vision: %s", out)
	apps, err := c.ListApplications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var appID string
	for _, a := range apps {
		if a.Name == "vision" {
			appID = a.ID
		}
	}
	svcs, err := c.ListAppServices(ctx, appID)
	if err != nil || len(svcs) != 2 {
		t.Fatalf("vision services %+v, %v", svcs, err)
	}
	want := map[string]string{"detector.reg.003-003": "povo", "archive.reg.001-001": "cloud"}
	for _, s := range svcs {
		node, ok := want[s.Spec.Name]
		if !ok {
			t.Fatalf("unexpected service %s", s.Spec.Name)
		}
		s = waitRunning(t, c, s.ID, 1)
		if s.Instances[0].NodeName != node {
			t.Errorf("%s runs on %s, want %s", s.Spec.Name, s.Instances[0].NodeName, node)
		}
	}
	links, err := c.ListLinks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if wantBW := map[string]int64{"link1": 1_000_000}[l.ID]; l.BWAllocated != wantBW {
			t.Errorf("link %s carries %d bit/s, want %d", l.ID, l.BWAllocated, wantBW)
		}
	}
	if err := c.DeleteApplication(ctx, appID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "no echo process left", func() (bool, string) {
		n := len(echoProcesses(t))
		return n == 0, fmt.Sprint(n, " running")
	})
	links, _ = c.ListLinks(ctx)
	for _, l := range links {
		if l.BWAllocated != 0 {
			t.Errorf("link %s keeps %d bit/s after the delete", l.ID, l.BWAllocated)
		}
	}
}

// latencyMovesOnLinkDown: two echo instances within 150 ms of Trento, each
// too big to share a worker, run in Trento and Povo (10 ms away over
// link3) while the cloud worker is cordoned. The cloud comes back, link3 goes
// down, Povo is now 200 ms from Trento (through the cloud), and the Povo
// instance moves to the cloud (100 ms).
func latencyMovesOnLinkDown(t *testing.T, c *api.Client, cfg []string, dir string) {
	ctx := context.Background()
	nodeID := map[string]string{}
	nodes, err := c.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		nodeID[n.Name] = n.ID
	}
	if _, err := c.ControlNode(ctx, nodeID["cloud"], "cordon"); err != nil {
		t.Fatalf("cordon cloud: %v", err)
	}
	sla := fmt.Sprintf(`{"sla_version":"v2.0","customerID":"Admin","applications":[{"application_name":"near","application_namespace":"test",
	  "application_desc":"latency","microservices":[{"microservice_name":"cam","microservice_namespace":"test","virtualization":"process",
	  "code":%q,"memory":300,"vcpus":0.5,"instances":2,"constraints":[{"type":"latency","area":"002-002","threshold":150}]}]}]}`, bin.echo)
	res, err := c.SubmitSLA(ctx, []byte(sla), "application/json")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	on := func(s api.Service) string {
		var names []string
		for _, in := range s.Instances {
			names = append(names, in.NodeName)
		}
		slices.Sort(names)
		return strings.Join(names, ",")
	}
	s := waitRunning(t, c, res.Services[0].ID, 2)
	if on(s) != "povo,trento" {
		t.Fatalf("instances on %s, want povo and trento", on(s))
	}
	if _, err := c.ControlNode(ctx, nodeID["cloud"], "uncordon"); err != nil {
		t.Fatalf("uncordon cloud: %v", err)
	}

	down := filepath.Join(dir, "link3-down.yaml")
	doc := "apiVersion: fogatlas.fbk.eu/v1alpha1\nkind: Link\nmetadata:\n  name: link3\nspec:\n  id: link3\n" +
		"  endpointa: 003-003\n  endpointb: 002-002\n  bandwidth: 100M\n  latency: 10\n  status: down\n"
	if err := os.WriteFile(down, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	hedge(t, cfg, "apply", "-f", down)
	eventually(t, 30*time.Second, "the Povo instance moved to the cloud", func() (bool, string) {
		s = service(t, c, res.Services[0].ID)
		running := 0
		for _, in := range s.Instances {
			if in.Status == api.StateRunning {
				running++
			}
		}
		return running == 2 && on(s) == "cloud,trento" && len(echoProcesses(t)) == 2, on(s) + " " + states(s)
	})
	t.Logf("link3 down to the instance running in the cloud: %v", time.Since(start).Round(time.Millisecond))
	if err := c.DeleteApplication(ctx, res.Applications[0].ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	eventually(t, 20*time.Second, "no echo process left", func() (bool, string) {
		n := len(echoProcesses(t))
		return n == 0, fmt.Sprint(n, " running")
	})
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
