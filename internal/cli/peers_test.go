package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

func TestTokenListAndRevoke(t *testing.T) {
	h := newHarness(t).loggedIn()
	if r := h.run("", "token", "create", "--kind", "worker", "--uses", "1", "--cluster", "site1"); r.code != 0 || r.stdout != "join-worker-86400\n" {
		t.Fatalf("create: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if got := h.fake.tokens[0]; got.MaxUses != 1 || got.Cluster != "site1" {
		t.Errorf("the root was asked for %+v, want max_uses 1 and cluster site1", got)
	}
	h.run("", "token", "create", "--kind", "cluster")
	r := h.run("", "token", "list")
	if r.code != 0 {
		t.Fatalf("list: %d %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := [][]string{
		{"ID", "KIND", "CLUSTER", "USES", "EXPIRES"},
		{"0000000000000001", "worker", "site1", "0/1", "in"},
		{"0000000000000002", "cluster", "-", "0/unlimited", "in"},
	}
	if len(lines) != len(want) {
		t.Fatalf("list:\n%s", r.stdout)
	}
	for i, w := range want {
		if f := strings.Fields(lines[i]); len(f) < len(w) || !slices.Equal(f[:len(w)], w) {
			t.Errorf("line %d %q, want it to start with %v", i, lines[i], w)
		}
	}
	if strings.Contains(r.stdout, "join-") {
		t.Errorf("list shows a secret:\n%s", r.stdout)
	}
	if r := h.run("", "token", "revoke", "0000000000000001"); r.code != 0 || r.stdout != "join token 0000000000000001 revoked\n" {
		t.Errorf("revoke: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := h.run("", "token", "revoke", "0000000000000001"); r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("revoke again: %d %q %q, want an error saying not found", r.code, r.stdout, r.stderr)
	}
	if r := h.run("", "token", "create", "--kind", "worker", "--uses", "-1"); r.code == 0 || !strings.Contains(r.stderr, "--uses") {
		t.Errorf("create --uses -1: %d %q, want an error naming --uses", r.code, r.stderr)
	}
}

func TestNodeAndClusterDelete(t *testing.T) {
	h := newHarness(t).loggedIn()
	h.fake.nodes = []api.Node{{ID: "n1", Name: "w1"}, {ID: "n2", Name: "w2"}}
	h.fake.clusters = []api.Cluster{{ID: "c1", Name: "site1"}}
	if r := h.run("", "node", "delete", "w1"); r.code != 0 || !strings.Contains(r.stdout, "node w1 deleted") {
		t.Errorf("node delete: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if len(h.fake.nodes) != 1 || h.fake.nodes[0].Name != "w2" {
		t.Errorf("nodes after delete: %+v", h.fake.nodes)
	}
	if r := h.run("", "node", "delete", "w9"); r.code == 0 || !strings.Contains(r.stderr, "w9") {
		t.Errorf("node delete w9: %d %q, want an error naming w9", r.code, r.stderr)
	}
	// `hedge cluster delete` runs this hidden command (see AttachClusterAdd):
	// a name that is not a Kubernetes cluster's is a Hedge cluster's.
	if r := h.run("", "kube", "cluster", deleteAnyCluster, "site1"); r.code != 0 || !strings.Contains(r.stdout, "cluster site1 deleted") {
		t.Errorf("cluster delete: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if len(h.fake.clusters) != 0 {
		t.Errorf("clusters after delete: %+v", h.fake.clusters)
	}
}

func TestAttachClusterAddMirrorsDeleteForEveryCluster(t *testing.T) {
	root := NewRootCommand()
	root.AddCommand(&cobra.Command{Use: "cluster", RunE: func(*cobra.Command, []string) error { return nil }})
	AttachClusterAdd(root)
	cmd, args, err := root.Find([]string{"cluster", "delete", "site1"})
	if err != nil || cmd.Name() != "delete" || len(args) != 1 || cmd.Hidden {
		t.Fatalf("hedge cluster delete site1 finds %q %v %v (hidden %v)", cmd.Name(), args, err, cmd.Hidden)
	}
	if !strings.Contains(cmd.Short, "Hedge cluster") {
		t.Errorf("hedge cluster delete is %q, want the command that deletes Hedge clusters too", cmd.Short)
	}
	if c, _, _ := root.Find([]string{"cluster", deleteAnyCluster}); c.Name() == deleteAnyCluster {
		t.Errorf("the hidden %s is mirrored under hedge cluster", deleteAnyCluster)
	}
}
