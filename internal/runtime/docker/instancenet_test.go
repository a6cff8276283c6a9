package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/runtimetest"
)

// TestDockerInstanceNetwork starts two containers on an instance network
// (a bridge holding the gateway address, as internal/overlay makes it) and
// checks from the host what a user would: each has exactly its address, its
// default route is the gateway, its resolv.conf names the network's DNS, the
// two reach each other, a published port still works; and after a worker
// restart (Recover) Remove leaves no veth behind and the bridge as it was.
func TestDockerInstanceNetwork(t *testing.T) {
	server, busybox := serverImage(t), busyboxImage(t)
	br := runtimetest.NewBridge(t, "hdt")
	t.Cleanup(func() { removeNetwork(t, dockerNetwork(br.Name)) })
	host := runtimetest.NewWitness(t, runtimetest.HostAddress(t))
	dataDir := t.TempDir()
	d1, _ := newTestDriver(t, Options{DataDir: dataDir})
	ctx := context.Background()

	netA := br.Network(5, br.Gateway.String(), "192.0.2.53")
	addrA := netA.Prefix().Addr()
	port := freePort(t)
	idA, idB := instanceID("net-a"), instanceID("net-b")
	a := shSpec(idA, server, "")
	a.Service.Cmd = nil
	a.Service.Port = fmt.Sprintf("%d:8080", port)
	a.Network = netA
	if _, err := d1.Start(ctx, a); err != nil {
		t.Fatalf("Start a: %v", err)
	}
	if got := getURL(t, fmt.Sprintf("http://%s:8080/", addrA)); !strings.HasPrefix(got, "hello from") {
		t.Errorf("GET http://%s:8080/ from the host = %q, want a's hello", addrA, got)
	}
	if got := httpGet(t, port, "/"); !strings.HasPrefix(got, "hello from") {
		t.Errorf("GET on the published port %d = %q, want a's hello", port, got)
	}

	netB := br.Network(6, br.Gateway.String())
	b := shSpec(idB, busybox, runtimetest.ProbeScript(addrA, host))
	b.Network = netB
	if _, err := d1.Start(ctx, b); err != nil {
		t.Fatalf("Start b: %v", err)
	}
	logs := waitLogs(t, d1, idB, "checked")
	br.CheckProbe(t, logs, netB, host)
	if ports := br.Ports(t); len(ports) != 2 {
		t.Errorf("bridge ports = %v, want a veth for each of the two containers", ports)
	}
	// The bridge's Docker network is in use: another subnet on the same
	// bridge is a conflict, not a silent move.
	other := shSpec(instanceID("net-c"), busybox, "sleep 600")
	other.Network = &runtime.Network{Address: "10.17.250.5/24", Gateway: "10.17.250.1", Bridge: br.Name}
	if _, err := d1.Start(ctx, other); !errors.Is(err, ErrNetworkConflict) {
		t.Errorf("Start on another subnet of the same bridge = %v, want ErrNetworkConflict", err)
	}

	// The worker restarts: a new driver re-attaches and then removes both.
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	d2, _ := newTestDriver(t, Options{DataDir: dataDir})
	d2.RecoverAndRemove(t, idA, idB)
	br.CheckClean(t)
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:8080", addrA), time.Second); err == nil {
		c.Close()
		t.Errorf("%s:8080 still answers after Remove", addrA)
	}
}

func TestDockerInstanceNetworkRefusesBadInput(t *testing.T) {
	d, _ := newTestDriver(t, Options{})
	s := shSpec(instanceID("bad-net"), "127.0.0.1:1/none:v1", "true")
	s.Network = &runtime.Network{Address: "10.18.1.5/24", Gateway: "10.18.2.1", Bridge: "hedgeov0"}
	_, err := d.Start(context.Background(), s)
	if !errors.Is(err, runtime.ErrInvalidNetwork) || !strings.Contains(err.Error(), "network.gateway") {
		t.Errorf("Start with a gateway outside the subnet = %v, want an error naming network.gateway", err)
	}
}

// getURL fetches url until it answers 200.
func getURL(t testing.TB, url string) string {
	t.Helper()
	var body string
	eventually(t, url+" answers", func() bool {
		resp, err := plainHTTP.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	return body
}

// removeNetwork removes a Docker network the test made the driver create.
func removeNetwork(t testing.TB, name string) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer cli.Close()
	if _, err := cli.NetworkRemove(context.Background(), name, client.NetworkRemoveOptions{}); err != nil {
		t.Errorf("cleanup: remove docker network %s: %v", name, err)
	}
}
