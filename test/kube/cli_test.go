package kube_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/cli"
)

// cliResult is what one `hedge` command printed.
type cliResult struct {
	code        int
	out, errOut string
}

// hedgeCLI runs the hedge CLI in-process, logged in as admin against the
// suite's root, as a user would from a shell.
func (s *suite) hedgeCLI(t *testing.T) func(args ...string) cliResult {
	t.Helper()
	t.Setenv("HEDGE_CONFIG", filepath.Join(t.TempDir(), "cli.json"))
	t.Setenv("HEDGE_SERVER", s.h.url)
	t.Setenv("HEDGE_PASSWORD", adminPassword)
	run := func(args ...string) cliResult {
		root := cli.NewRootCommand()
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(args)
		code := cli.Execute(context.Background(), root)
		return cliResult{code, out.String(), errOut.String()}
	}
	if r := run("login", "--username", "admin"); r.code != 0 {
		t.Fatalf("login: %+v", r)
	}
	return run
}

// cliClusters drives the Kubernetes cluster commands: list, nodes, a bad
// kubeconfig, add (the cloud cluster again, after DeleteCluster removed
// it: the order of adding does not matter), get clusters, delete.
func (s *suite) cliClusters(t *testing.T) {
	hedge := s.hedgeCLI(t)
	r := hedge("kube", "cluster", "list")
	if r.code != 0 || !strings.Contains(r.out, "edge-a") || !strings.Contains(r.out, "edge-b") || !strings.Contains(r.out, "Enabled") {
		t.Fatalf("kube cluster list: %+v", r)
	}
	r = hedge("kube", "cluster", "nodes", "edge-a")
	if r.code != 0 || !strings.Contains(r.out, "a1") || !strings.Contains(r.out, "a2") || !strings.Contains(r.out, "region=r1") {
		t.Errorf("kube cluster nodes edge-a: %+v", r)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Config\nclusters: [}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = hedge("kube", "cluster", "add", "--kubeconfig", bad, "--name", "bad")
	if r.code == 0 || !strings.Contains(r.errOut, "400 Bad Request") || !strings.Contains(r.errOut, "credentials: not a kubeconfig") {
		t.Errorf("add with a bad kubeconfig: %+v, want a 400 naming the credentials", r)
	}
	r = hedge("kube", "cluster", "add", "--name", "x")
	if r.code == 0 || !strings.Contains(r.errOut, "--kubeconfig and --name are required") {
		t.Errorf("add without --kubeconfig: %+v", r)
	}

	good := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(good, s.kc["cloud"].Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	r = hedge("kube", "cluster", "add", "--kubeconfig", good, "--name", "cloud2", "--cloud")
	if r.code != 0 || !strings.Contains(r.out, "cloud2") || !strings.Contains(r.out, "true") {
		t.Fatalf("add cloud2: %+v", r)
	}
	r = hedge("get", "clusters")
	if r.code != 0 || !strings.Contains(r.out, "cloud2") || !strings.Contains(r.out, "edge-a") {
		t.Errorf("get clusters: %+v", r)
	}
	r = hedge("kube", "cluster", "add", "--kubeconfig", good, "--name", "cloud3", "--cloud")
	if r.code == 0 || !strings.Contains(r.errOut, "cluster cloud2 is already the cloud cluster") {
		t.Errorf("a second cloud cluster: %+v, want refused naming cloud2", r)
	}
	r = hedge("kube", "cluster", "delete", "cloud2")
	if r.code != 0 || !strings.Contains(r.out, "deleted") {
		t.Errorf("delete cloud2: %+v", r)
	}
	if r = hedge("kube", "cluster", "list"); strings.Contains(r.out, "cloud2") {
		t.Errorf("cloud2 still listed: %+v", r)
	}
}
