package kube_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/kube"
	"github.com/hedgeorch/hedge/internal/kube/kubeproc"
	"github.com/hedgeorch/hedge/internal/pressure"
	"github.com/hedgeorch/hedge/internal/root"
	"github.com/hedgeorch/hedge/internal/store"
)

const adminPassword = "admin-secret-1"

// hedge is a root served by httptest with a logged-in admin client. Its
// hedge-kube runs in-process (inKube) but over the real sockets: the root
// forwards the Kubernetes API to it and it links its clusters back.
type hedge struct {
	root   *root.Root
	url    string
	client *api.Client
	kubes  chan *kube.Child
	child  *kube.Child
}

// Kube returns the manager of the root's hedge-kube once it has started.
func (h *hedge) Kube() *kube.Manager {
	if h.child == nil {
		select {
		case h.child = <-h.kubes:
		case <-time.After(time.Minute):
			panic("hedge-kube did not start")
		}
	}
	return h.child.Manager()
}

// inKube launches hedge-kube's code in this process, on a duplicate of the
// socket the root made, as the program would run it.
func inKube(log *slog.Logger, kubes chan<- *kube.Child) kubeproc.Launcher {
	return func(ctx context.Context, cfg kubeproc.ChildConfig, ln *net.UnixListener) (func() error, error) {
		c, err := kube.NewChild(cfg, log.With("program", "hedge-kube"))
		if err != nil {
			return nil, err
		}
		dup, err := kubeproc.DupListener(ln)
		if err != nil {
			return nil, err
		}
		select {
		case kubes <- c:
		default:
		}
		done := make(chan error, 1)
		go func() { done <- c.Serve(ctx, dup) }()
		return func() error { return <-done }, nil
	}
}

func startHedge(t *testing.T) *hedge {
	t.Helper()
	st := store.NewMemory()
	au, err := auth.NewService(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := au.EnsureAdmin(adminPassword); err != nil {
		t.Fatal(err)
	}
	level := slog.LevelInfo
	if os.Getenv("HEDGE_TEST_VERBOSE") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	// Pressure control of the Kubernetes nodes, with short timings: every
	// node's Glances is a nodeMonitor, calm until a test presses it.
	kp := &root.KubePressure{Interval: 300 * time.Millisecond, Policy: pressure.Policy{
		Default:     pressure.Thresholds{CPUPercent: 80},
		MinPressure: time.Second, TaintAfter: 2 * time.Second, MinCalm: 2 * time.Second,
	}}
	kubes := make(chan *kube.Child, 1)
	r, err := root.New(root.Config{Store: st, Auth: au, Logger: log, KubePressure: kp,
		Kube: root.KubeOptions{Dir: kubeDir(t), Launch: inKube(log, kubes)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	c := api.NewClient(srv.URL)
	if _, err := c.Login(context.Background(), auth.AdminUser, adminPassword); err != nil {
		t.Fatal(err)
	}
	return &hedge{root: r, url: srv.URL, client: c, kubes: kubes}
}

// kubeDir is a short directory for the sockets (a unix socket's path is
// at most 107 bytes; t.TempDir's can be longer).
func kubeDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "hedge-kube")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// testWriter sends the root's log to the test log while the test runs.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func clientset(t *testing.T, kubeconfig []byte) kubernetes.Interface {
	t.Helper()
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// fakeNode describes a KWOK node: its allocatable cpu and memory, labels,
// and the receive rate Hedge reads from its annotation.
type fakeNode struct {
	name   string
	cpu    string
	memory string
	labels map[string]string
	rx     string
}

func createNodes(t *testing.T, cs kubernetes.Interface, nodes ...fakeNode) {
	t.Helper()
	ctx := context.Background()
	for _, n := range nodes {
		lbl := map[string]string{"kubernetes.io/hostname": n.name, "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "type": "kwok"}
		for k, v := range n.labels {
			lbl[k] = v
		}
		ann := map[string]string{"kwok.x-k8s.io/node": "fake", kube.AnnotationGlancesURL: startMonitor(t, n.name).url}
		if n.rx != "" {
			ann["hedge.io/net-rx-bytes-per-s"] = n.rx
		}
		res := corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(n.cpu), corev1.ResourceMemory: resource.MustParse(n.memory),
			corev1.ResourcePods: resource.MustParse("110"),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: lbl, Annotations: ann},
			Status: corev1.NodeStatus{
				Capacity: res, Allocatable: res,
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: n.name}},
				NodeInfo:  corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux", KubeletVersion: "fake"},
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create node %s: %v", n.name, err)
		}
	}
	eventually(t, time.Minute, func() error {
		for _, n := range nodes {
			got, err := cs.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			ready := false
			for _, c := range got.Status.Conditions {
				ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
			}
			if !ready {
				return fmt.Errorf("node %s not Ready yet", n.name)
			}
		}
		return nil
	})
}

// eventually retries f until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("after %v: %v", d, err)
}

// runningPods lists the Running pods of namespace ns matching selector.
func runningPods(ctx context.Context, cs kubernetes.Interface, ns, selector string) ([]corev1.Pod, error) {
	pl, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pl.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}
