package cli

import (
	"strings"
	"testing"
)

// TestDescribeShowsServiceAddresses: describe service prints the service's
// addresses, its names, and each instance's address.
func TestDescribeShowsServiceAddresses(t *testing.T) {
	h := newHarness(t).loggedIn()
	s := h.fake.service("s1")
	s.RRIP, s.ClosestIP, s.Names = "10.30.0.1", "10.30.0.2", []string{"curl.clientsrvr.test.hedge"}
	s.Instances[0].IP = "10.18.0.5"
	r := h.run("", "describe", "service", "clientsrvr/curl")
	if r.code != 0 {
		t.Fatalf("describe service: %s", r.stderr)
	}
	for _, want := range []string{
		"Service IPs:    rr_ip=10.30.0.1 closest_ip=10.30.0.2\n",
		"Names:          curl.clientsrvr.test.hedge\n",
		"#   STATUS   CLUSTER   NODE   IP          RESTARTS",
		"0   FAILED   edge1     pi4    10.18.0.5   3 ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("describe service lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestNamespaceIsolateAndOpen(t *testing.T) {
	h := newHarness(t).loggedIn()
	r := h.run("", "namespace", "isolate", "prod", "--allow", "ops", "--allow", "mon")
	if r.code != 0 || !strings.Contains(r.stdout, "prod        yes        ops,mon") {
		t.Fatalf("isolate: %d %q %s", r.code, r.stdout, r.stderr)
	}
	if !h.fake.saw("PUT /api/namespaces/prod/isolation") {
		t.Error("isolate did not PUT the namespace's isolation")
	}
	if r := h.run("", "namespace", "list"); !strings.Contains(r.stdout, "prod") {
		t.Errorf("list after isolate: %q", r.stdout)
	}
	if r := h.run("", "namespace", "open", "prod"); r.code != 0 || !strings.Contains(r.stdout, "prod        no") {
		t.Fatalf("open: %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := h.run("", "namespace", "list", "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list after open: %q, want []", r.stdout)
	}
}
