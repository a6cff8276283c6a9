package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/imagetest"
	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
)

// TestContainerdInstanceNetwork starts two containers on an instance network
// (a bridge holding the gateway address, as internal/overlay makes it) and
// checks from the host what a user would: each has exactly its address, its
// default route is the gateway, its resolv.conf names the network's DNS, the
// two reach each other, a published port still works; and after a worker
// restart (Recover) Remove leaves no veth, namespace or rule behind and the
// bridge as it was.
func TestContainerdInstanceNetwork(t *testing.T) {
	needContainerd(t)
	br := runtimetest.NewBridge(t, "hct")
	host := runtimetest.NewWitness(t, runtimetest.HostAddress(t))
	dataDir := t.TempDir()
	d1, _ := newTestDriver(t, Options{DataDir: dataDir})
	reg := imagetest.StartRegistry(t)
	server := reg.PushServer(t, "server", "v1")
	busybox := reg.PushBusybox(t, "busybox", "1")
	ctx := context.Background()

	netA := br.Network(5, br.Gateway.String(), "192.0.2.53")
	addrA := netA.Prefix().Addr()
	port := freePort(t)
	a := spec("net-a", server)
	a.Network = netA
	a.Service.Port = fmt.Sprintf("%d:8080", port)
	if _, err := d1.Start(ctx, a); err != nil {
		t.Fatalf("Start a: %v", err)
	}
	if got := get(t, fmt.Sprintf("http://%s:8080/", addrA)); got != "hello from net-a\n" {
		t.Errorf("GET http://%s:8080/ from the host = %q, want a's hello", addrA, got)
	}
	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "hello from net-a\n" {
		t.Errorf("GET on the published port %d = %q, want a's hello", port, got)
	}

	netB := br.Network(6, br.Gateway.String())
	b := spec("net-b", busybox, "sh", "-c", runtimetest.ProbeScript(addrA, host))
	b.Network = netB
	if _, err := d1.Start(ctx, b); err != nil {
		t.Fatalf("Start b: %v", err)
	}
	logs := waitLogs(t, d1, "net-b", "checked")
	br.CheckProbe(t, logs, netB, host)
	resolvA, err := os.ReadFile(filepath.Join(d1.instanceDir("net-a"), "resolv.conf"))
	if err != nil || !strings.HasPrefix(string(resolvA), "nameserver "+br.Gateway.String()+"\nnameserver 192.0.2.53\n") {
		t.Errorf("a's resolv.conf = %q, %v; want the gateway, then 192.0.2.53", resolvA, err)
	}
	if ports := br.Ports(t); len(ports) != 2 {
		t.Errorf("bridge ports = %v, want a veth for each of the two containers", ports)
	}

	// The worker restarts: a new driver re-attaches and then removes both.
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	d2, _ := newTestDriver(t, Options{DataDir: dataDir})
	d2.RecoverAndRemove(t, "net-a", "net-b")
	for _, id := range []string{"net-a", "net-b"} {
		if _, err := os.Stat(filepath.Join(d2.nsDir, d2.containerID(id))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("network namespace of %s after Remove: %v, want it gone", id, err)
		}
	}
	br.CheckClean(t)
	out, err := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	for _, id := range []string{"net-a", "net-b"} {
		if cid := d2.containerID(id); strings.Contains(string(out), cid) {
			t.Errorf("nat table still mentions %s:\n%s", cid, grepLines(string(out), cid))
		}
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:8080", addrA), time.Second); err == nil {
		c.Close()
		t.Errorf("%s:8080 still answers after Remove", addrA)
	}
}

func TestContainerdInstanceNetworkRefusesBadInput(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	s := spec("bad-net", "127.0.0.1:1/none:v1")
	s.Network = &runtime.Network{Address: "10.18.1.5", Gateway: "10.18.1.1", Bridge: "hedgeov0"}
	_, err := d.Start(context.Background(), s)
	if !errors.Is(err, runtime.ErrInvalidNetwork) || !strings.Contains(err.Error(), "network.address") {
		t.Errorf("Start with an address without prefix = %v, want an error naming network.address", err)
	}
}

func TestUnitInstanceConfList(t *testing.T) {
	n := &runtime.Network{Address: "10.18.1.5/24", Gateway: "10.18.1.1", Bridge: "hedgeov0"}
	b, err := instanceConfList(n, 1450)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"bridge":"hedgeov0"`, `"isGateway":false`, `"ipMasq":false`, `"mtu":1450`,
		`"type":"static"`, `"addresses":[{"address":"10.18.1.5/24","gateway":"10.18.1.1"}]`,
		`"routes":[{"dst":"0.0.0.0/0","gw":"10.18.1.1"}]`, `"type":"portmap"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("conf list lacks %s:\n%s", want, b)
		}
	}
}

// TestContainerdInstanceNetworkMakesAMissingBridge: the CNI bridge plugin
// makes the instance network's bridge when it is not there yet, without an
// address (isGateway is false: the gateway address is the instance
// network's to put there).
func TestContainerdInstanceNetworkMakesAMissingBridge(t *testing.T) {
	needContainerd(t)
	br := runtimetest.NewBridge(t, "hcm")
	if out, err := exec.Command("ip", "link", "del", br.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip link del %s: %v: %s", br.Name, err, out)
	}
	d, _ := newTestDriver(t, Options{})
	busybox := imagetest.StartRegistry(t).PushBusybox(t, "busybox", "1")
	s := spec("lone", busybox, "sleep", "600")
	s.Network = br.Network(9, br.Gateway.String())
	if _, err := d.Start(context.Background(), s); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", br.Name, "bridge")); err != nil {
		t.Fatalf("bridge %s after Start: %v, want it made", br.Name, err)
	}
	if addrs := br.Addresses(t); len(addrs) != 0 {
		t.Errorf("addresses of the bridge the plugin made = %v, want none", addrs)
	}
	if err := d.Remove(context.Background(), "lone"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if ports := br.Ports(t); len(ports) != 0 {
		t.Errorf("bridge ports after Remove = %v, want none", ports)
	}
}

// TestContainerdInstanceNetworkCrashBeforeContainer: a worker that dies
// after the network was set up but before the container was made leaves a
// veth on the bridge and a pinned namespace; a new driver's Remove undoes
// them from network.json.
func TestContainerdInstanceNetworkCrashBeforeContainer(t *testing.T) {
	needContainerd(t)
	br := runtimetest.NewBridge(t, "hcc")
	dataDir := t.TempDir()
	d1, _ := newTestDriver(t, Options{DataDir: dataDir})
	if err := os.MkdirAll(d1.instanceDir("torn"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, ready, err := d1.attachNetwork(d1.withNamespace(context.Background()), "torn", nil, br.Network(4, br.Gateway.String()))
	if err != nil {
		t.Fatalf("attachNetwork: %v", err)
	}
	if err := ready(); err != nil {
		t.Fatalf("network setup: %v", err)
	}
	if ports := br.Ports(t); len(ports) != 1 {
		t.Fatalf("bridge ports = %v, want the veth of the interrupted start", ports)
	}
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	d2, _ := newTestDriver(t, Options{DataDir: dataDir})
	if err := d2.Remove(context.Background(), "torn"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	br.CheckClean(t)
	if _, err := os.Stat(filepath.Join(d2.nsDir, d2.containerID("torn"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("network namespace after Remove: %v, want it gone", err)
	}
}
