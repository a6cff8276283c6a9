package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/kube"
	"github.com/hedgeorch/hedge/internal/topology"
)

// suite is the shared state of TestKubernetes: three Kubernetes clusters
// (two edge clusters and a cloud one) under one Hedge root.
type suite struct {
	h       *hedge
	repoURL string
	kc      map[string]*testCluster
	cs      map[string]kubernetes.Interface
	id      map[string]string // Hedge cluster ids by name
}

// The nodes of the suite. The enabler tables below were computed by hand
// from them for a demand of 500m cpu and 512Mi per replica:
//
//	edge-a: a1 min(2/0.5, 2048/512)=4 + a2 min(1/0.5, 4096/512)=2   = 6
//	edge-b: b1 min(4/0.5, 1024/512)=2 + b2 2 + b3 min(0.5/0.5, 512/512)=1 = 5
//	cloud:  c1 min(16/0.5, 32768/512)=32                              = 32
//
// Receive rates: edge-a 1000 B/s, edge-b 5000 B/s, cloud 100000 B/s.
var suiteNodes = map[string][]fakeNode{
	"edge-a": {
		{name: "a1", cpu: "2", memory: "2Gi", labels: map[string]string{"region": "r1"}, rx: "600"},
		{name: "a2", cpu: "1", memory: "4Gi", labels: map[string]string{"region": "r2"}, rx: "400"},
	},
	"edge-b": {
		{name: "b1", cpu: "4", memory: "1Gi", labels: map[string]string{"pressure-test": "yes"}, rx: "5000"},
		{name: "b2", cpu: "1", memory: "1Gi", labels: map[string]string{"pressure-test": "yes"}},
		{name: "b3", cpu: "500m", memory: "512Mi"},
	},
	"cloud": {
		{name: "c1", cpu: "16", memory: "32Gi", rx: "100000"},
	},
}

// TestKubernetes runs Hedge against real control planes (kube-apiserver,
// etcd, controller-manager, scheduler, with KWOK as the kubelet): one per
// cluster, each in a child process.
func TestKubernetes(t *testing.T) {
	start := time.Now()
	names := []string{"edge-a", "edge-b", "cloud"}
	tcs := startClusters(t, names...)
	s := &suite{h: startHedge(t), kc: map[string]*testCluster{}, cs: map[string]kubernetes.Interface{}, id: map[string]string{}}
	for _, c := range tcs {
		s.kc[c.Name] = c
		s.cs[c.Name] = clientset(t, c.Kubeconfig)
		createNodes(t, s.cs[c.Name], suiteNodes[c.Name]...)
	}
	t.Logf("3 control planes with 6 Ready nodes in %v", time.Since(start).Round(time.Millisecond))

	s.repoURL = chartRepo(t, "chartuser", "chartpass")
	ok := t.Run("RegisterClusters", s.registerClusters)
	if !ok {
		t.FailNow()
	}
	t.Run("EnablerPolicies", s.enablerPolicies)
	t.Run("EnablerLifecycle", s.enablerLifecycle)
	t.Run("EnablerFailures", s.enablerFailures)
	t.Run("ServicesAsDeployments", s.servicesAsDeployments)
	t.Run("FADeplRegions", s.fadeplRegions)
	t.Run("NodePressure", s.nodePressure)
	t.Run("PressureControl", s.pressureControl)
	t.Run("DeleteCluster", s.deleteCluster)
	t.Run("CLI", s.cliClusters)
}

func (s *suite) registerClusters(t *testing.T) {
	ctx := context.Background()
	c := s.h.client
	// Bad kubeconfigs: a clear error, and nothing registered.
	bad := []struct {
		name, creds, want string
	}{
		{"garbage", `"not: [a kubeconfig"`, "credentials: not a kubeconfig"},
		{"no server", mustJSON(strings.Replace(string(s.kc["edge-a"].Kubeconfig), "server:", "serverx:", 1)), "server: required"},
		{"exec plugin", `{"apiVersion":"v1","kind":"Config","clusters":[{"name":"c","cluster":{"server":"https://127.0.0.1:1"}}],` +
			`"users":[{"name":"u","user":{"exec":{"apiVersion":"client.authentication.k8s.io/v1","command":"/bin/true"}}}],` +
			`"contexts":[{"name":"c","context":{"cluster":"c","user":"u"}}],"current-context":"c"}`, "exec plugins are not accepted"},
	}
	for _, b := range bad {
		_, err := c.AddKubeCluster(ctx, api.KubeClusterRequest{Name: "bad", Credentials: json.RawMessage(b.creds)})
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: err = %v, want 400 containing %q", b.name, err, b.want)
		}
	}
	if kcs, _ := c.ListKubeClusters(ctx); len(kcs) != 0 {
		t.Fatalf("bad kubeconfigs registered %+v", kcs)
	}
	if cls, _ := c.ListClusters(ctx); len(cls) != 0 {
		t.Fatalf("bad kubeconfigs left root clusters %+v", cls)
	}

	for _, name := range []string{"edge-a", "edge-b", "cloud"} {
		kc, err := c.AddKubeCluster(ctx, api.KubeClusterRequest{Name: name, Description: "test " + name,
			Credentials: json.RawMessage(mustJSON(string(s.kc[name].Kubeconfig))), Cloud: name == "cloud"})
		if err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
		if kc.Status != api.KubeEnabled || kc.Nodes != len(suiteNodes[name]) || kc.ReadyNodes != kc.Nodes {
			t.Fatalf("add %s: %+v, want Enabled with all nodes ready", name, kc)
		}
		s.id[name] = kc.ID
	}
	// At most one cloud cluster, names unique.
	_, err := c.AddKubeCluster(ctx, api.KubeClusterRequest{Name: "cloud2", Cloud: true, Credentials: json.RawMessage(mustJSON(string(s.kc["cloud"].Kubeconfig)))})
	if !errors.Is(err, api.ErrConflict) {
		t.Errorf("second cloud cluster: err = %v, want conflict", err)
	}
	_, err = c.AddKubeCluster(ctx, api.KubeClusterRequest{Name: "edge-a", Credentials: json.RawMessage(mustJSON(string(s.kc["edge-a"].Kubeconfig)))})
	if !errors.Is(err, api.ErrConflict) {
		t.Errorf("duplicate name: err = %v, want conflict", err)
	}
	// The API never returns credentials.
	raw, err := json.Marshal(must(c.ListKubeClusters(ctx)))
	if err != nil || strings.Contains(string(raw), "certificate-authority-data") || strings.Contains(string(raw), "BEGIN") {
		t.Errorf("cluster list leaks credentials: %s", raw)
	}

	nodes, err := c.KubeNodes(ctx, "edge-b")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 || nodes[0].Name != "b1" || nodes[0].Allocatable.VCPUs != 4 || nodes[0].Allocatable.MemoryMB != 1024 ||
		nodes[0].Labels["pressure-test"] != "yes" || !nodes[0].Ready || nodes[2].Allocatable.VCPUs != 0.5 {
		t.Fatalf("edge-b nodes %+v", nodes)
	}
	// Requests of running pods show up: a pod requesting 1 cpu on b2.
	cs := s.cs["edge-b"]
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "b2",
		Containers: []corev1.Container{{Name: "c", Image: "x", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: mustQ("250m"), corev1.ResourceMemory: mustQ("100Mi")}}}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		ns, err := c.KubeNodes(ctx, "edge-b")
		if err != nil {
			return err
		}
		if r := ns[1].Requested; r.VCPUs != 0.25 || r.MemoryMB != 100 || ns[1].Pods != 1 {
			return fmt.Errorf("b2 requested %+v pods %d", r, ns[1].Pods)
		}
		return nil
	})
	if err := cs.CoreV1().Pods("default").Delete(ctx, "probe", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	waitNoPods(t, cs, "default", "")

	// The clusters are clusters of the root, of kind kubernetes, READY.
	eventually(t, 30*time.Second, func() error {
		cls, err := c.ListClusters(ctx)
		if err != nil {
			return err
		}
		if len(cls) != 3 {
			return fmt.Errorf("root lists %d clusters", len(cls))
		}
		for _, cl := range cls {
			if cl.Labels[api.KubeClusterKindLabel] != api.KubeClusterKind || cl.State != api.NodeReady || cl.ActiveNodes != len(suiteNodes[cl.Name]) {
				return fmt.Errorf("root cluster %+v", cl)
			}
			if (cl.Labels[api.KubeCloudLabel] == "true") != (cl.Name == "cloud") {
				return fmt.Errorf("cloud label on %s: %v", cl.Name, cl.Labels)
			}
		}
		return nil
	})
	hn, err := c.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	regions := map[string]string{}
	for _, n := range hn {
		regions[n.Name] = n.Labels["region"]
	}
	if len(hn) != 6 || regions["a1"] != "r1" || regions["a2"] != "r2" {
		t.Fatalf("root nodes %+v", hn)
	}

	// A node going NotReady degrades its cluster, with the reason.
	kcs, _ := c.ListKubeClusters(ctx)
	for _, k := range kcs {
		if k.Status != api.KubeEnabled {
			t.Errorf("%s: %s (%s)", k.Name, k.Status, k.Reason)
		}
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func waitNoPods(t *testing.T, cs kubernetes.Interface, ns, selector string) {
	t.Helper()
	eventually(t, time.Minute, func() error {
		pl, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		if len(pl.Items) > 0 {
			return fmt.Errorf("%d pods left in %q, e.g. %s", len(pl.Items), ns, pl.Items[0].Name)
		}
		return nil
	})
}

const slaTemplate = `{"sla_version":"v2.0","customerID":"admin","applications":[{"application_name":"kapp","application_namespace":"test",
"application_desc":"on kubernetes","microservices":[{"microservice_name":"web","microservice_namespace":"test","virtualization":"container",
"code":"registry.invalid/web:1","memory":64,"vcpus":0.25,"port":"8080:80","constraints":[{"type":"clusters","allowed":["edge-a"]}]}]}]}`

func (s *suite) servicesAsDeployments(t *testing.T) {
	ctx := context.Background()
	c := s.h.client
	posted := time.Now()
	res, err := c.SubmitSLA(ctx, []byte(slaTemplate), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	svc := res.Services[0]
	cs := s.cs["edge-a"]
	name := kube.ObjectName(svc.ID, "web")
	waitInstances := func(n int) api.Service {
		t.Helper()
		var got api.Service
		eventually(t, 2*time.Minute, func() error {
			got, err = c.GetService(ctx, svc.ID)
			if err != nil {
				return err
			}
			if len(got.Instances) != n {
				return fmt.Errorf("%d instances", len(got.Instances))
			}
			for _, in := range got.Instances {
				if in.Status != api.StateRunning || in.ClusterName != "edge-a" || in.NodeName == "" {
					return fmt.Errorf("instance %d: %s on %s/%s (%s)", in.Number, in.Status, in.ClusterName, in.NodeName, in.Reason)
				}
			}
			pods, err := runningPods(ctx, cs, kube.Namespace, "hedge.io/service-id="+svc.ID)
			if err != nil || len(pods) != n {
				return fmt.Errorf("%d running pods (%v)", len(pods), err)
			}
			d, err := cs.AppsV1().Deployments(kube.Namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil || ptr.Deref(d.Spec.Replicas, -1) != int32(n) {
				return fmt.Errorf("deployment %s: %v", name, err)
			}
			return nil
		})
		return got
	}
	got := waitInstances(1)
	t.Logf("benchmark: SLA submit to RUNNING on a Kubernetes cluster: %v", time.Since(posted).Round(time.Millisecond))
	d, err := cs.AppsV1().Deployments(kube.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctr := d.Spec.Template.Spec.Containers[0]
	if ctr.Image != "registry.invalid/web:1" || ctr.Resources.Requests.Cpu().MilliValue() != 250 || ctr.Resources.Requests.Memory().Value() != 64<<20 {
		t.Errorf("container %+v", ctr)
	}
	sv, err := cs.CoreV1().Services(kube.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil || len(sv.Spec.Ports) != 1 || sv.Spec.Ports[0].Port != 8080 || sv.Spec.Ports[0].TargetPort.IntValue() != 80 {
		t.Fatalf("service %+v, %v", sv, err)
	}
	if got.Instances[0].NodeID == "" {
		t.Errorf("instance has no node id")
	}
	if _, err := c.Scale(ctx, svc.ID, 3); err != nil {
		t.Fatal(err)
	}
	three := waitInstances(3)
	s.drainNode(t, cs, svc.ID, three.Instances[0].NodeName)
	if _, err := c.Scale(ctx, svc.ID, 1); err != nil {
		t.Fatal(err)
	}
	waitInstances(1)
	// Logs come from the pod through the API server, which asks the node's
	// kubelet: KWOK's kubelet API, serving the suite's log file.
	logs, err := c.Logs(ctx, svc.ID, 0, 100)
	if err != nil || !strings.Contains(string(logs), podLogLine) {
		t.Errorf("logs = %q, %v; want %q", logs, err, podLogLine)
	}
	if err := c.DeleteApplication(ctx, res.Applications[0].ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		if _, err := cs.AppsV1().Deployments(kube.Namespace).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("deployment still there: %v", err)
		}
		if _, err := cs.CoreV1().Services(kube.Namespace).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("service still there: %v", err)
		}
		return nil
	})
	waitNoPods(t, cs, kube.Namespace, "")
}

func (s *suite) fadeplRegions(t *testing.T) {
	ctx := context.Background()
	m := s.h.Kube()
	app := &topology.FADepl{Name: "camapp", Microservices: []topology.Microservice{{
		Name:       "cam",
		Deployment: topology.Deployment{Replicas: 1, Containers: []topology.Container{{Name: "cam", Image: "registry.invalid/cam:1", CPUMillis: 100, MemoryBytes: 32 << 20}}},
		Regions:    []topology.RegionRequirement{{RegionRequired: "r1", Replicas: 2}, {RegionRequired: "r2", Image: "registry.invalid/cam:arm"}},
	}}}
	names, err := m.ApplyFADepl(ctx, "edge-a", "fog", app, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"cam.reg.r1", "cam.reg.r2"}) {
		t.Fatalf("deployments %v", names)
	}
	cs := s.cs["edge-a"]
	eventually(t, time.Minute, func() error {
		for _, tt := range []struct {
			region, node, image string
			n                   int
		}{{"r1", "a1", "registry.invalid/cam:1", 2}, {"r2", "a2", "registry.invalid/cam:arm", 1}} {
			d, err := cs.AppsV1().Deployments("fog").Get(ctx, "cam.reg."+tt.region, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if d.Spec.Template.Spec.NodeSelector["region"] != tt.region || d.Spec.Template.Spec.Containers[0].Image != tt.image {
				return fmt.Errorf("deployment %s: selector %v image %s", d.Name, d.Spec.Template.Spec.NodeSelector, d.Spec.Template.Spec.Containers[0].Image)
			}
			pods, err := runningPods(ctx, cs, "fog", "region="+tt.region)
			if err != nil || len(pods) != tt.n {
				return fmt.Errorf("region %s: %d running pods (%v)", tt.region, len(pods), err)
			}
			for _, p := range pods {
				if p.Spec.NodeName != tt.node {
					return fmt.Errorf("pod %s of region %s on %s, want %s", p.Name, tt.region, p.Spec.NodeName, tt.node)
				}
			}
		}
		return nil
	})
	// Placement keeps only r1: r2's Deployment goes.
	if _, err := m.ApplyFADepl(ctx, "edge-a", "fog", app, map[string][]topology.RegionRequirement{"cam": {{RegionRequired: "r1", Replicas: 2}}}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		if _, err := cs.AppsV1().Deployments("fog").Get(ctx, "cam.reg.r2", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("cam.reg.r2 still there: %v", err)
		}
		return nil
	})
	if err := cs.CoreV1().Namespaces().Delete(ctx, "fog", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNoPods(t, cs, "fog", "")
}

// drainNode drains node through Hedge's node API: the node is cordoned, the
// service's pods there are evicted and start again on the cluster's other
// node, Hedge shows them RUNNING there; uncordon opens the node again.
func (s *suite) drainNode(t *testing.T, cs kubernetes.Interface, serviceID, node string) {
	ctx := context.Background()
	c := s.h.client
	id := kube.NodeID(s.id["edge-a"], node)
	if _, err := c.ControlNode(ctx, id, "drain"); err != nil {
		t.Fatalf("drain %s: %v", node, err)
	}
	eventually(t, time.Minute, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil || !n.Spec.Unschedulable {
			return fmt.Errorf("node %s not cordoned (%v)", node, err)
		}
		pods, err := runningPods(ctx, cs, kube.Namespace, "hedge.io/service-id="+serviceID)
		if err != nil || len(pods) != 3 {
			return fmt.Errorf("%d running pods (%v)", len(pods), err)
		}
		for _, p := range pods {
			if p.Spec.NodeName == node {
				return fmt.Errorf("pod %s still on %s", p.Name, node)
			}
		}
		svc, err := c.GetService(ctx, serviceID)
		if err != nil {
			return err
		}
		for _, in := range svc.Instances {
			if in.Status != api.StateRunning || in.NodeName == node {
				return fmt.Errorf("instance %d %s on %s", in.Number, in.Status, in.NodeName)
			}
		}
		return nil
	})
	if _, err := c.ControlNode(ctx, id, "uncordon"); err != nil {
		t.Fatalf("uncordon %s: %v", node, err)
	}
	eventually(t, 30*time.Second, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil || n.Spec.Unschedulable || n.Annotations["hedge.io/cordoned"] != "" {
			return fmt.Errorf("node %s still cordoned (%v)", node, err)
		}
		return nil
	})
}

// pressureWorkloads puts Deployments of three priorities and a monitoring
// pod on edge-b's nodes b1 and b2, waits for them to run, and returns a
// function that lists the running pods by node and one that removes them.
func (s *suite) pressureWorkloads(t *testing.T) (podsOn func() map[string][]string, cleanup func()) {
	t.Helper()
	ctx := context.Background()
	cs := s.cs["edge-b"]
	mk := func(name string, replicas int32, prio string, sel map[string]string, spread bool) {
		t.Helper()
		lbl := map[string]string{"app": name, "hedge.priority": prio}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: corev1.PodSpec{NodeSelector: sel,
					Containers: []corev1.Container{{Name: "c", Image: "x", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: mustQ("100m")}}}}}}},
		}
		if spread {
			d.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
				WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}}}
		}
		if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("low", 2, "1", map[string]string{"pressure-test": "yes"}, true)            // one pod on b1, one on b2
	mk("high", 1, "10", map[string]string{"kubernetes.io/hostname": "b1"}, false) // on b1
	mk("other", 1, "0", map[string]string{"kubernetes.io/hostname": "b2"}, false) // on b2, lowest priority of all
	mon := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "glances", Namespace: "default", Labels: map[string]string{"hedge.role": "monitoring"}},
		Spec: corev1.PodSpec{NodeName: "b1", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, mon, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podsOn = func() map[string][]string {
		out := map[string][]string{}
		pl, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		for _, p := range pl.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Name)
			}
		}
		for _, v := range out {
			sort.Strings(v)
		}
		return out
	}
	eventually(t, time.Minute, func() error {
		on := podsOn()
		if len(on["b1"]) != 3 || len(on["b2"]) != 2 {
			return fmt.Errorf("pods by node %v", on)
		}
		return nil
	})
	cleanup = func() {
		for _, name := range []string{"low", "high", "other"} {
			_ = cs.AppsV1().Deployments("default").Delete(ctx, name, metav1.DeleteOptions{})
		}
		_ = cs.CoreV1().Pods("default").Delete(ctx, "glances", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		eventually(t, time.Minute, func() error {
			if on := podsOn(); len(on) != 0 {
				return fmt.Errorf("pods left %v", on)
			}
			return nil
		})
	}
	return podsOn, cleanup
}

// nodePressure drives the actuator directly: taint b1, evict its pods one
// by one (lowest priority first, b2 untouched), restore.
func (s *suite) nodePressure(t *testing.T) {
	ctx := context.Background()
	cs := s.cs["edge-b"]
	podsOn, cleanup := s.pressureWorkloads(t)
	defer cleanup()
	before := podsOn()
	act, err := s.h.Kube().Actuator("edge-b")
	if err != nil {
		t.Fatal(err)
	}
	if err := act.Limit(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if err := act.Taint(ctx, "b1"); err != nil { // idempotent
		t.Fatal(err)
	}
	n, _ := cs.CoreV1().Nodes().Get(ctx, "b1", metav1.GetOptions{})
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != kube.TaintPressure || n.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
		t.Fatalf("b1 taints %+v", n.Spec.Taints)
	}
	var evicted []string
	for range 5 {
		ev, err := act.Evict(ctx, "b1")
		if err != nil {
			t.Fatal(err)
		}
		if ev == "" {
			break
		}
		evicted = append(evicted, ev)
	}
	if len(evicted) != 2 || !strings.HasPrefix(evicted[0], "deployment default/low") || !strings.HasPrefix(evicted[1], "deployment default/high") {
		t.Fatalf("evicted %v, want low then high", evicted)
	}
	eventually(t, time.Minute, func() error {
		on := podsOn()
		if !slices.Equal(on["b1"], []string{"glances"}) || !slices.Equal(on["b2"], before["b2"]) {
			return fmt.Errorf("pods by node %v (before %v)", on, before)
		}
		return nil
	})
	for name, want := range map[string]int32{"low": 1, "high": 0, "other": 1} {
		d, _ := cs.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
		if ptr.Deref(d.Spec.Replicas, -1) != want {
			t.Errorf("%s replicas %d, want %d", name, ptr.Deref(d.Spec.Replicas, -1), want)
		}
	}
	// What a root restarted now would find to restore: b1, not b2.
	if !act.RestorePending("b1") || act.RestorePending("b2") {
		t.Errorf("RestorePending b1 %v, b2 %v; want true, false", act.RestorePending("b1"), act.RestorePending("b2"))
	}
	if err := act.Restore(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if act.RestorePending("b1") {
		t.Error("b1 still pending after Restore")
	}
	n, _ = cs.CoreV1().Nodes().Get(ctx, "b1", metav1.GetOptions{})
	if len(n.Spec.Taints) != 0 {
		t.Fatalf("b1 taints after restore %+v", n.Spec.Taints)
	}
	eventually(t, time.Minute, func() error {
		on := podsOn()
		if len(on["b1"]) != 3 || len(on["b2"]) != 2 {
			return fmt.Errorf("pods by node after restore %v", on)
		}
		return nil
	})
}

// pressureControl is the whole loop: b1's Glances reports 95 % cpu, the
// root's pressure controller limits then taints b1 and evicts its pods one
// per cycle, lowest priority first, never touching b2 or the monitoring;
// the events and the node's level show in Hedge's API; when the cpu falls
// the taint goes and the Deployments get their replicas back.
func (s *suite) pressureControl(t *testing.T) {
	ctx := context.Background()
	cs := s.cs["edge-b"]
	podsOn, cleanup := s.pressureWorkloads(t)
	defer cleanup()
	before := podsOn()
	start := time.Now()
	monitor("b1").setCPU(95)
	defer monitor("b1").setCPU(10)

	eventually(t, time.Minute, func() error {
		on := podsOn()
		if !slices.Equal(on["b1"], []string{"glances"}) || !slices.Equal(on["b2"], before["b2"]) {
			return fmt.Errorf("pods by node %v (before %v)", on, before)
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, "b1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != kube.TaintPressure {
			return fmt.Errorf("b1 taints %+v", n.Spec.Taints)
		}
		return nil
	})
	t.Logf("benchmark: kubernetes node at 95%% cpu to its pods moved off: %v", time.Since(start).Round(time.Millisecond))
	for name, want := range map[string]int32{"low": 1, "high": 0, "other": 1} {
		d, _ := cs.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
		if ptr.Deref(d.Spec.Replicas, -1) != want {
			t.Errorf("%s replicas %d, want %d", name, ptr.Deref(d.Spec.Replicas, -1), want)
		}
	}
	// What an operator sees: b1 tainted, and why.
	eventually(t, 10*time.Second, func() error {
		nodes, err := s.h.client.ListNodes(ctx)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Name == "b1" && n.Pressure != "tainted" {
				return fmt.Errorf("b1 pressure %q", n.Pressure)
			}
			if n.Name == "b2" && n.Pressure != "normal" {
				return fmt.Errorf("b2 pressure %q", n.Pressure)
			}
		}
		evs, err := s.h.client.ListEvents(ctx)
		if err != nil {
			return err
		}
		var got []string
		for _, e := range evs {
			if e.Cluster != "edge-b" || e.Node != "b1" {
				continue
			}
			switch {
			case e.Action == "limit" && e.Metric == "cpu" && e.Value == 95 && e.Threshold == 80:
				got = append(got, "limit")
			case e.Action == "taint" && e.To == "tainted":
				got = append(got, "taint")
			case e.Action == "evict" && e.Instance != "":
				got = append(got, "evict "+strings.Fields(e.Instance)[1])
			}
		}
		want := []string{"limit", "taint", "evict default/low", "evict default/high"}
		if !slices.Equal(got, want) {
			return fmt.Errorf("events of b1 %v, want %v", got, want)
		}
		return nil
	})

	monitor("b1").setCPU(10)
	eventually(t, time.Minute, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, "b1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(n.Spec.Taints) != 0 {
			return fmt.Errorf("b1 taints after calm %+v", n.Spec.Taints)
		}
		if on := podsOn(); len(on["b1"]) != 3 || !slices.Equal(on["b2"], before["b2"]) {
			return fmt.Errorf("pods by node after restore %v", on)
		}
		return nil
	})
	evs, _ := s.h.client.ListEvents(ctx)
	restored := false
	for _, e := range evs {
		restored = restored || (e.Node == "b1" && e.Action == "restore" && e.To == "normal" && e.Error == "")
	}
	if !restored {
		t.Errorf("no restore event for b1 in %+v", evs)
	}
}

func (s *suite) deleteCluster(t *testing.T) {
	ctx := context.Background()
	c := s.h.client
	// A node no kubelet serves never gets Ready: the next periodic check
	// (every 15 s) degrades the cluster and names the node.
	ghost := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ghost"}}
	if _, err := s.cs["cloud"].CoreV1().Nodes().Create(ctx, ghost, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 40*time.Second, func() error {
		kcs, err := c.ListKubeClusters(ctx)
		if err != nil {
			return err
		}
		for _, k := range kcs {
			if k.Name == "cloud" && (k.Status != api.KubeDegraded || !strings.Contains(k.Reason, "ghost") || k.ReadyNodes != 1 || k.Nodes != 2) {
				return fmt.Errorf("cloud: %s (%s) %d/%d", k.Status, k.Reason, k.ReadyNodes, k.Nodes)
			}
		}
		return nil
	})
	if err := c.DeleteKubeCluster(ctx, "cloud"); err != nil {
		t.Fatal(err)
	}
	kcs, _ := c.ListKubeClusters(ctx)
	cls, _ := c.ListClusters(ctx)
	if len(kcs) != 2 || len(cls) != 2 {
		t.Fatalf("after delete: %d kubernetes clusters, %d root clusters", len(kcs), len(cls))
	}
	if err := c.DeleteKubeCluster(ctx, "cloud"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
