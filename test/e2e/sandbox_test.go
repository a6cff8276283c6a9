package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// TestE2ESandbox: a tenant's process instance, submitted through the API of
// a real `hedge up`, probes its confinement as an attacker would. It runs
// as an unprivileged user, sees no process of the host, cannot read the
// tiers' data directory (the JWT secret, the store, the worker's identity),
// cannot write outside its working directory; and the tenant cannot ask
// for a raw process (403 naming the field).
func TestE2ESandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the process sandbox needs root")
	}
	ctx := context.Background()
	dir := t.TempDir()
	apiAddr := freeAddr(t)
	url := "https://" + apiAddr
	pw := randomPassword()
	startProc(t, "up", []string{"HEDGE_ADMIN_PASSWORD=" + pw}, "up", "--data-dir", dir, "--api-addr", apiAddr,
		"--cluster-addr", freeAddr(t), "--name", "box", "--metrics-addr", "")
	waitHealthy(t, url, dir)
	admin := login(t, url, pw)
	tenantPW := randomPassword()
	if _, err := admin.CreateUser(ctx, "tenant", tenantPW); err != nil {
		t.Fatalf("create the tenant: %v", err)
	}
	tp, err := api.NewClient(url, api.WithHTTPClient(httpClient(t, url))).Login(ctx, "tenant", tenantPW)
	if err != nil {
		t.Fatalf("tenant login: %v", err)
	}
	tenant := api.NewClient(url, api.WithToken(tp.Token), api.WithHTTPClient(httpClient(t, url)))

	var secrets []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(path, "/instances/") {
			secrets = append(secrets, path)
		}
		return nil
	})
	if len(secrets) == 0 {
		t.Fatalf("no file in the data directory %s to probe", dir)
	}
	probe := "echo uid=$(id -u)\n" +
		fmt.Sprintf("kill -0 %d 2>/dev/null && echo see-up=yes || echo see-up=no\n", os.Getpid())
	for _, f := range secrets {
		probe += fmt.Sprintf("cat %q >/dev/null 2>&1 && echo read=%s\n", f, f)
	}
	probe += fmt.Sprintf("(echo x >%q) 2>/dev/null && echo wrote-data-dir\n", filepath.Join(dir, "planted")) +
		"(echo x >/etc/planted) 2>/dev/null && echo wrote-etc\n" +
		"echo ok >\"$HOME/mine\" && echo wrote-home=$(cat \"$HOME/mine\")\n" +
		"echo probe-finished; exec sleep 3600\n"
	doc := func(raw bool) []byte {
		ms := map[string]any{
			"microservice_name": "probe", "microservice_namespace": "test", "virtualization": "process",
			"code": "/bin/sh", "cmd": []string{"-c", probe}, "memory": 32, "vcpus": 0.1,
		}
		if raw {
			ms["raw"] = true
		}
		b, _ := json.Marshal(map[string]any{"sla_version": "v2.0", "customerID": "tenant", "applications": []any{map[string]any{
			"application_name": "probe", "application_namespace": "test", "application_desc": "attacker", "microservices": []any{ms},
		}}})
		return b
	}

	_, err = tenant.SubmitSLA(ctx, doc(true), "application/json")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || !strings.Contains(err.Error(), "applications[0].microservices[0].raw: needs the Admin role") {
		t.Fatalf("tenant submits a raw process: %v, want 403 naming applications[0].microservices[0].raw", err)
	}

	res, err := tenant.SubmitSLA(ctx, doc(false), "application/json")
	if err != nil {
		t.Fatalf("tenant submits: %v", err)
	}
	svcID := res.Services[0].ID
	pid := waitRunning(t, tenant, svcID, 1).Instances[0].PID
	if pid <= 0 {
		t.Fatalf("instance reports pid %d", pid)
	}
	// Whatever happens, the probe does not outlive the test.
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	var logs string
	eventually(t, 30*time.Second, "the probe's report", func() (bool, string) {
		b, err := tenant.Logs(ctx, svcID, 0, 1<<16)
		logs = string(b)
		return err == nil && strings.Contains(logs, "probe-finished"), logs
	})
	if strings.Contains(logs, "uid=0\n") || !strings.Contains(logs, "uid=2000") {
		t.Errorf("instance runs as %q, want a uid of the default instance range", firstLine(logs, "uid="))
	}
	for _, bad := range []string{"read=", "wrote-data-dir", "wrote-etc", "see-up=yes"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the tenant's instance did %q:\n%s", bad, logs)
		}
	}
	if !strings.Contains(logs, "wrote-home=ok") || !strings.Contains(logs, "see-up=no") {
		t.Errorf("instance report lacks its own writes or the process probe:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "planted")); err == nil {
		t.Error("a file was planted in the data directory")
	}
	if err := tenant.DeleteApplication(ctx, res.Applications[0].ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	eventually(t, 30*time.Second, "the probe instance gone", func() (bool, string) {
		err := syscall.Kill(pid, 0)
		return errors.Is(err, syscall.ESRCH), fmt.Sprint(err)
	})
}

func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
