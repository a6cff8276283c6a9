package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// TestE2EServiceNetwork is issue 13's proof: two clusters (siteA with wa1
// and wa2, siteB with wb1), each tier a hedge process on a host (network
// namespace) of its own, containers in containerd, and real traffic between
// them over the instance network. Calls are made from inside a client
// container on wa1 (ctr tasks exec), so they take the path, the routes and
// the name server an instance has.
func TestE2EServiceNetwork(t *testing.T) {
	needLab(t)
	needEngine(t, "containerd")
	im := pushImages(t)
	prepull(t, im.server, im.busybox)
	f := startFleet(t, map[string][]string{"siteA": {"wa1", "wa2"}, "siteB": {"wb1"}}, fleetOptions{
		clusterTimeout: "5s", nodeTimeout: "3s", heartbeat: "500ms", sharedMounts: true,
		workerArgs: []string{"--container-runtime", "containerd", "--memory-mb", "300", "--stop-grace", "1s"},
	})
	ctx := context.Background()
	t.Cleanup(func() { removeContainersOf(t, f) })

	// The client: a busybox container pinned to wa1.
	_, clients := submitSLA(t, f.c, netSLA("client", "neta", msvc{
		"microservice_name": "client", "virtualization": "container", "code": im.busybox,
		"cmd": []string{"sh", "-c", "sleep 100000"}, "memory": 32, "vcpus": 0.1,
		"constraints": []any{map[string]any{"type": "direct", "cluster": "siteA", "node": "wa1"}},
	}))
	client := waitRunningOn(t, f.c, clients["client"].ID, 1)[0]
	if client.NodeName != "wa1" {
		t.Fatalf("client placed on %s, want wa1", client.NodeName)
	}
	cid := containerOf(t, client.ID)

	// web: three instances of 200 MB on workers of 300 MB, so one each.
	_, webs := submitSLA(t, f.c, netSLA("webapp", "neta", msvc{
		"microservice_name": "web", "virtualization": "container", "code": im.server,
		"memory": 200, "vcpus": 0.1,
	}))
	webID := webs["web"].ID
	if _, err := f.c.Scale(ctx, webID, 3); err != nil {
		t.Fatal(err)
	}
	web := waitRunningOn(t, f.c, webID, 3)
	byNode := map[string]api.Instance{}
	for _, in := range web {
		byNode[in.NodeName] = in
	}
	if len(byNode) != 3 {
		t.Fatalf("web instances not one per worker: %v", nodesOf(web))
	}
	svc := service(t, f.c, webID)
	rr, closest := svc.RRIP, svc.ClosestIP
	t.Logf("web rr_ip %s closest_ip %s names %v", rr, closest, svc.Names)
	for _, ip := range []string{rr, closest} {
		if !strings.HasPrefix(ip, "10.30.") {
			t.Fatalf("service address %q is not in 10.30.0.0/16", ip)
		}
	}

	// Round robin: 300 calls over 3 instances, 100 ± 1 each.
	out := call(t, cid, rr, 300)
	counts := helloCounts(out)
	for _, in := range web {
		if n := counts[in.ID]; n < 99 || n > 101 {
			t.Log(tail(out, 500))
			t.Errorf("rr_ip: instance %s on %s answered %d of 300 calls, want 100 ± 1 (all: %v)", in.ID, in.NodeName, n, counts)
		}
	}

	// Closest: the instance on the client's worker, then the same site's,
	// then the other cluster's.
	for _, step := range []struct{ want, remove string }{{"wa1", ""}, {"wa2", "wa1"}, {"wb1", "wa2"}} {
		if step.remove != "" {
			in := byNode[step.remove]
			if err := f.c.DeleteInstance(ctx, webID, in.Number); err != nil {
				t.Fatal(err)
			}
		}
		want := byNode[step.want].ID
		took := untilAnswers(t, cid, closest, want, 30*time.Second)
		t.Logf("closest_ip answered by %s (%s) %v after the change", step.want, want, took)
		if got := helloCounts(call(t, cid, closest, 20)); got[want] != 20 {
			t.Errorf("closest_ip with the instance on %s the closest: answers %v, want all 20 from %s", step.want, got, want)
		}
	}

	// Across clusters, by instance address and by name.
	wb := byNode["wb1"]
	if got := helloCounts(call(t, cid, wb.IP, 3)); got[wb.ID] != 3 {
		t.Errorf("wa1 -> wb1 by instance address %s: %v", wb.IP, got)
	}
	name := "web.webapp.neta.hedge"
	if got := helloCounts(call(t, cid, name, 3)); got[wb.ID] != 3 {
		t.Errorf("wa1 -> wb1 by name %s: %v", name, got)
	}

	// A service address given in the SLA is used; a colliding one is refused
	// with the other service's name.
	given := "10.30.200.7"
	_, fixed := submitSLA(t, f.c, netSLA("fixedapp", "neta", msvc{
		"microservice_name": "fixed", "virtualization": "container", "code": im.server,
		"memory": 16, "vcpus": 0.1, "addresses": map[string]any{"rr_ip": given},
	}))
	if got := service(t, f.c, fixed["fixed"].ID).RRIP; got != given {
		t.Errorf("rr_ip given in the SLA: service has %q, want %q", got, given)
	}
	_, err := f.c.SubmitSLA(ctx, netSLA("clashapp", "neta", msvc{
		"microservice_name": "clash", "virtualization": "container", "code": im.server,
		"memory": 16, "vcpus": 0.1, "addresses": map[string]any{"rr_ip": given},
	}), "application/json")
	if err == nil || !strings.Contains(err.Error(), "fixed") {
		t.Errorf("colliding rr_ip: err = %v, want a refusal naming service fixed", err)
	}

	// Move: siteB is lost (its cluster's and wb1's machines die); the root
	// moves the instance to siteA (failed instances are placed again inside
	// their cluster while it lives), and calls through rr_ip succeed again.
	f.hosts["siteB"].crash()
	f.hosts["wb1"].crash()
	moved := time.Now()
	var again api.Instance
	eventually(t, 90*time.Second, "web's instance RUNNING again off wb1", func() (bool, string) {
		s := service(t, f.c, webID)
		for _, in := range s.Instances {
			if in.Status == api.StateRunning && in.NodeName != "wb1" && in.IP != "" {
				again = in
				return true, ""
			}
		}
		return false, states(s)
	})
	running := time.Now()
	untilAnswers(t, cid, rr, again.ID, 30*time.Second)
	t.Logf("move: wb1 killed; instance RUNNING on %s after %v; rr_ip answered by it %v after RUNNING",
		again.NodeName, running.Sub(moved).Round(time.Millisecond), time.Since(running).Round(time.Millisecond))

	// Isolation: namespace netb closed to neta.
	_, secrets := submitSLA(t, f.c, netSLA("secretapp", "netb", msvc{
		"microservice_name": "secret", "virtualization": "container", "code": im.server,
		"memory": 16, "vcpus": 0.1,
	}, msvc{
		"microservice_name": "peer", "virtualization": "container", "code": im.busybox,
		"cmd": []string{"sh", "-c", "sleep 100000"}, "memory": 16, "vcpus": 0.1,
	}))
	secret := waitRunningOn(t, f.c, secrets["secret"].ID, 1)[0]
	peer := containerOf(t, waitRunningOn(t, f.c, secrets["peer"].ID, 1)[0].ID)
	// Before: neta's client reaches netb's instance (once it listens).
	untilAnswers(t, cid, secret.IP, secret.ID, 30*time.Second)
	isolate(t, f, "netb")
	eventually(t, 10*time.Second, "netb closed to neta", func() (bool, string) {
		out, err := tryCall(cid, secret.IP)
		return err != nil, out
	})
	if got := helloCounts(call(t, peer, secret.IP, 1)); got[secret.ID] != 1 {
		t.Errorf("isolated netb: its own instance cannot reach %s: %v", secret.IP, got)
	}
}

// netSLA is an SLA of one application in namespace ns.
func netSLA(app, ns string, ms ...msvc) []byte {
	for _, m := range ms {
		m["microservice_namespace"] = ns
	}
	b, _ := json.Marshal(map[string]any{"sla_version": "v2.0", "customerID": "Admin", "applications": []any{map[string]any{
		"application_name": app, "application_namespace": ns, "application_desc": "service network test",
		"microservices": ms,
	}}})
	return b
}

// waitRunningOn waits until n instances of the service run with an address.
func waitRunningOn(t *testing.T, c *api.Client, id string, n int) []api.Instance {
	t.Helper()
	var out []api.Instance
	eventually(t, 90*time.Second, fmt.Sprintf("%d instances of %s RUNNING with an address", n, id), func() (bool, string) {
		s := service(t, c, id)
		out = out[:0]
		for _, in := range s.Instances {
			if in.Status == api.StateRunning && in.IP != "" {
				out = append(out, in)
			}
		}
		return len(out) == n, states(s)
	})
	return out
}

func nodesOf(ins []api.Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.NodeName)
	}
	sort.Strings(out)
	return out
}

// prepull puts the images into containerd's hedge namespace, so workers in
// the lab, which cannot reach the test's loopback registry, find them.
func prepull(t *testing.T, refs ...string) {
	t.Helper()
	for _, ref := range refs {
		runCmd(t, "ctr", "-n", containerNamespace, "images", "pull", "--plain-http", ref)
	}
}

// containerOf is the containerd container of an instance.
func containerOf(t *testing.T, instanceID string) string {
	t.Helper()
	for _, id := range strings.Fields(runCmd(t, "ctr", "-n", containerNamespace, "containers", "ls", "-q")) {
		if strings.HasPrefix(id, instanceID+"-") {
			return id
		}
	}
	t.Fatalf("no container for instance %s", instanceID)
	return ""
}

// call makes n HTTP calls to host:8080 from inside container cid, each on a
// new connection, and returns what they printed.
func call(t *testing.T, cid, host string, n int) string {
	t.Helper()
	script := fmt.Sprintf("i=0; while [ $i -lt %d ]; do %s || echo FAILED; i=$((i+1)); done", n, get(host))
	out, err := execIn(cid, script)
	if err != nil {
		t.Fatalf("calls to %s from %s: %v\n%s", host, cid, err, out)
	}
	return out
}

// get is a shell command that fetches http://host:8080/ on a new
// connection. Debian's busybox-static wget crashes, so it is nc; a name is
// resolved first with nslookup, which asks the name server of the
// container's /etc/resolv.conf.
func get(host string) string {
	target := host
	if net.ParseIP(host) == nil {
		target = "$(nslookup " + host + " | sed -n 's/^Address:[[:space:]]*//p' | tail -1)"
	}
	return `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 ` + target + ` 8080`
}

// tryCall makes one call and says whether it succeeded.
func tryCall(cid, host string) (string, error) {
	out, err := execIn(cid, get(host))
	if err == nil && !strings.Contains(out, "hello from") {
		err = fmt.Errorf("no answer: %s", out)
	}
	return out, err
}

// execIn runs a shell script in the network and mount namespaces of
// container cid's task: with its routes, its /etc/resolv.conf and its
// busybox.
func execIn(cid, script string) (string, error) {
	out, err := exec.Command("ctr", "-n", containerNamespace, "tasks", "ls").Output()
	if err != nil {
		return "", fmt.Errorf("ctr tasks ls: %w", err)
	}
	pid := ""
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == cid {
			pid = f[1]
		}
	}
	if pid == "" {
		return "", fmt.Errorf("no task of container %s", cid)
	}
	b, err := exec.Command("nsenter", "-t", pid, "-n", "-m", "sh", "-c", script).CombinedOutput()
	return string(b), err
}

var helloRE = regexp.MustCompile(`hello from (\S+)`)

// helloCounts counts the answers of each instance ("hello from <id>").
func helloCounts(out string) map[string]int {
	m := map[string]int{}
	for _, mm := range helloRE.FindAllStringSubmatch(out, -1) {
		m[mm[1]]++
	}
	return m
}

// untilAnswers calls host until instance want answers, and returns how long
// that took.
func untilAnswers(t *testing.T, cid, host, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, within, host+" answered by "+want, func() (bool, string) {
		out, _ := tryCall(cid, host)
		return helloCounts(out)[want] == 1, out
	})
	return time.Since(start)
}

// removeContainersOf deletes the fleet's applications, so their containers
// (which live on after the lab's hosts are gone) are removed by their
// workers, and then removes whatever containerd still holds of them.
func removeContainersOf(t *testing.T, f *fleet) {
	ctx := context.Background()
	svcs, _ := f.c.ListServices(ctx)
	var ids []string
	for _, s := range svcs {
		for _, in := range s.Instances {
			ids = append(ids, in.ID)
		}
	}
	apps, _ := f.c.ListApplications(ctx)
	for _, a := range apps {
		_ = f.c.DeleteApplication(ctx, a.ID)
	}
	time.Sleep(3 * time.Second)
	left := containerdObjects(t, ids)
	for _, kind := range []string{"task", "container"} { // a container goes after its task
		for _, o := range left {
			k, name, _ := strings.Cut(o, " ")
			switch {
			case k != kind:
			case kind == "task":
				_ = exec.Command("ctr", "-n", containerNamespace, "tasks", "delete", "-f", name).Run()
			default:
				_ = exec.Command("ctr", "-n", containerNamespace, "containers", "delete", name).Run()
			}
		}
	}
}

// isolate closes namespace ns to the instances of every other namespace.
func isolate(t *testing.T, f *fleet, ns string) {
	t.Helper()
	if _, err := f.c.SetIsolation(context.Background(), ns, api.NamespaceIsolation{Namespace: ns, Isolated: true}); err != nil {
		t.Fatal(err)
	}
}
