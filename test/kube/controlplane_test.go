package kube_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	apiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	cmtesting "k8s.io/kubernetes/cmd/kube-controller-manager/app/testing"
	schedtesting "k8s.io/kubernetes/cmd/kube-scheduler/app/testing"
)

// envControlPlaneDir tells a child test process to run one Kubernetes control
// plane and write its kubeconfig there. component-base keeps global state, so
// one process holds at most one control plane: each cluster of the suite is a
// child process of the test binary, and the parent plays Hedge's root.
const envControlPlaneDir = "HEDGE_KUBE_CONTROLPLANE_DIR"

// envKwok names the kwok binary that plays the kubelet of the fake nodes.
const envKwok = "HEDGE_KWOK"

// TestControlPlaneProcess is not a test: it is the body of a child process
// started by startCluster. It runs etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok until its stdin closes.
func TestControlPlaneProcess(t *testing.T) {
	dir := os.Getenv(envControlPlaneDir)
	if dir == "" {
		t.Skip("runs only as the child process of a Kubernetes test")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	etcdCfg := testserver.NewTestConfig(t)
	testserver.RunEtcd(t, etcdCfg)
	storage := storagebackend.NewDefaultConfig("/registry", nil)
	storage.Transport.ServerList = []string{etcdCfg.ListenClientUrls[0].String()}

	api, err := apiservertesting.StartTestServer(t, nil, []string{
		"--disable-admission-plugins=ServiceAccount,StorageObjectInUseProtection",
		// The fake nodes' host names do not resolve: reach their kubelet
		// (KWOK's, on 127.0.0.1) by InternalIP.
		"--kubelet-preferred-address-types=InternalIP",
	}, storage)
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	defer api.TearDownFn()

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(api.ClientConfig, kubeconfig); err != nil {
		t.Fatal(err)
	}

	cm, err := cmtesting.StartTestServer(t, ctx, []string{
		"--kubeconfig=" + kubeconfig, "--leader-elect=false",
		"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
		"--node-monitor-grace-period=40s",
	})
	if err != nil {
		t.Fatalf("start kube-controller-manager: %v", err)
	}
	defer cm.TearDownFn()

	sched, err := schedtesting.StartTestServer(t, ctx, []string{
		"--kubeconfig=" + kubeconfig, "--leader-elect=false",
		"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
	})
	if err != nil {
		t.Fatalf("start kube-scheduler: %v", err)
	}
	defer sched.TearDownFn()

	kwokBin := os.Getenv(envKwok)
	kwok := exec.CommandContext(ctx, kwokBin, append([]string{
		"--kubeconfig=" + kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--config=" + os.Getenv("HEDGE_KWOK_STAGES"),
		"--node-lease-duration-seconds=40",
	}, kwokKubeletArgs(t, dir)...)...)
	kwokLog, err := os.Create(filepath.Join(dir, "kwok.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer kwokLog.Close()
	kwok.Stdout, kwok.Stderr = kwokLog, kwokLog
	if err := kwok.Start(); err != nil {
		t.Fatalf("start kwok %q: %v", kwokBin, err)
	}
	defer func() { _ = kwok.Wait() }()
	defer cancel()

	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The parent closes our stdin (or dies) when it is done with the cluster.
	r := bufio.NewReader(os.Stdin)
	for {
		if _, err := r.ReadByte(); err != nil {
			return
		}
	}
}

// writeKubeconfig turns the apiserver's loopback client config into a
// kubeconfig file, the form in which Hedge and the components receive it.
func writeKubeconfig(cfg *rest.Config, path string) error {
	// Hedge accepts only self-contained kubeconfigs: inline the files.
	tls := cfg.TLSClientConfig
	for _, f := range []struct {
		file string
		data *[]byte
	}{{tls.CAFile, &tls.CAData}, {tls.CertFile, &tls.CertData}, {tls.KeyFile, &tls.KeyData}} {
		if f.file != "" && len(*f.data) == 0 {
			b, err := os.ReadFile(f.file)
			if err != nil {
				return err
			}
			*f.data = b
		}
	}
	if cfg.BearerTokenFile != "" && cfg.BearerToken == "" {
		b, err := os.ReadFile(cfg.BearerTokenFile)
		if err != nil {
			return err
		}
		cfg.BearerToken = strings.TrimSpace(string(b))
	}
	cfg.TLSClientConfig = tls
	c := clientcmdapi.NewConfig()
	c.Clusters["test"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.TLSClientConfig.CAData,
		InsecureSkipTLSVerify:    cfg.TLSClientConfig.Insecure,
		TLSServerName:            cfg.TLSClientConfig.ServerName,
	}
	c.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		Token:                 cfg.BearerToken,
		ClientCertificateData: cfg.TLSClientConfig.CertData,
		ClientKeyData:         cfg.TLSClientConfig.KeyData,
	}
	c.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	c.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*c, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// testCluster is one Kubernetes control plane running in a child process.
type testCluster struct {
	Name       string
	Dir        string
	Kubeconfig []byte
	cmd        *exec.Cmd
}

// startClusters starts one control plane per name, each in a child
// process, and waits until all have written their kubeconfig. The children
// stop when the test ends.
func startClusters(t *testing.T, names ...string) []*testCluster {
	t.Helper()
	cs := make([]*testCluster, len(names))
	for i, n := range names {
		cs[i] = launchCluster(t, n)
	}
	for _, c := range cs {
		c.wait(t)
	}
	return cs
}

func launchCluster(t *testing.T, name string) *testCluster {
	t.Helper()
	kwok := os.Getenv(envKwok)
	if kwok == "" {
		t.Fatalf("%s is not set: run the suite with test/kube/run.sh, which builds kwok", envKwok)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestControlPlaneProcess$", "-test.timeout=0", "-test.v")
	cmd.Env = append(os.Environ(), envControlPlaneDir+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "controlplane.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start control plane %s: %v", name, err)
	}
	c := &testCluster{Name: name, Dir: dir, cmd: cmd}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
		if t.Failed() {
			dumpTail(t, filepath.Join(dir, "controlplane.log"), 60)
			dumpTail(t, filepath.Join(dir, "kwok.log"), 30)
		}
	})
	return c
}

func (c *testCluster) wait(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(c.Dir, "ready")); err == nil {
			c.Kubeconfig, err = os.ReadFile(filepath.Join(c.Dir, "kubeconfig"))
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	dumpTail(t, filepath.Join(c.Dir, "controlplane.log"), 80)
	t.Fatalf("control plane %s did not become ready", c.Name)
}

func dumpTail(t *testing.T, path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("--- tail of %s ---\n%s", path, strings.Join(lines, "\n"))
}
