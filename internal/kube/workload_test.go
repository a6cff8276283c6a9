package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/topology"
)

func TestParsePortsUnit(t *testing.T) {
	got := ParsePorts("8080:80; 53:53/udp;9000;bad;70000:1")
	want := []Port{{8080, 80, corev1.ProtocolTCP}, {53, 53, corev1.ProtocolUDP}, {9000, 9000, corev1.ProtocolTCP}}
	if len(got) != len(want) {
		t.Fatalf("ports %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("port %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDeploymentUnit(t *testing.T) {
	spec := api.ServiceSpec{Name: "Web_Server", Virtualization: api.VirtContainer, Code: "nginx:1", VCPUs: 0.25, MemoryMB: 64,
		Environment: []string{"A=1", "B=x=y"}, Port: "8080:80", NodeSelector: map[string]string{"region": "r1"}}
	d := Deployment("0123456789abcdef", "shop", spec, 3)
	if d.Name != "web-server-0123456789" || d.Namespace != Namespace || *d.Spec.Replicas != 3 {
		t.Fatalf("deployment %s/%s x%d", d.Namespace, d.Name, *d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "nginx:1" || c.Resources.Requests.Cpu().MilliValue() != 250 || c.Resources.Requests.Memory().Value() != 64<<20 ||
		c.Env[1].Value != "x=y" || c.Ports[0].ContainerPort != 80 || d.Spec.Template.Spec.NodeSelector["region"] != "r1" {
		t.Fatalf("container %+v", c)
	}
	svc := Service("0123456789abcdef", spec)
	if svc == nil || svc.Name != d.Name || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.IntValue() != 80 {
		t.Fatalf("service %+v", svc)
	}
	spec.Port = ""
	if Service("x", spec) != nil {
		t.Error("a service without ports got a Service")
	}
	// The hash changes with the template, so an update is noticed.
	spec.Code = "nginx:2"
	if Deployment("0123456789abcdef", "shop", spec, 3).Annotations[annotationHash] == d.Annotations[annotationHash] {
		t.Error("template change kept the hash")
	}
	if d.Spec.Template.Spec.Affinity != nil {
		t.Errorf("affinity without a latency constraint: %+v", d.Spec.Template.Spec.Affinity)
	}
	// A latency constraint the root resolved keeps the pods in its regions.
	spec.Constraints = []api.Constraint{{Type: "latency", Area: "002-002", Threshold: 50, Regions: []string{"002-002", "003-003"}}}
	aff := Deployment("0123456789abcdef", "shop", spec, 1).Spec.Template.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil {
		t.Fatal("no node affinity for a latency constraint")
	}
	expr := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0]
	if expr.Key != "region" || expr.Operator != "In" || len(expr.Values) != 2 || expr.Values[1] != "003-003" {
		t.Errorf("affinity %+v", expr)
	}
}

func TestInstanceStatusUnit(t *testing.T) {
	it := link.Assignment{InstanceID: "s-0", Generation: 4}
	pod := func(phase corev1.PodPhase, node string, mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	tests := []struct {
		name   string
		pod    *corev1.Pod
		state  api.InstanceState
		reason string
	}{
		{"no pod", nil, api.StateScheduled, "waiting for Kubernetes to create the pod"},
		{"unschedulable", pod(corev1.PodPending, "", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Message: "0/3 nodes are available"}}
		}), api.StateScheduled, "kubernetes scheduler: 0/3 nodes are available"},
		{"pulling", pod(corev1.PodPending, "n1", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "no such image"}}}}
		}), api.StateStarting, "ErrImagePull: no such image"},
		{"running", pod(corev1.PodRunning, "n1", nil), api.StateRunning, ""},
		{"crashing", pod(corev1.PodRunning, "n1", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: 2, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}), api.StateFailed, "CrashLoopBackOff: "},
		{"failed", pod(corev1.PodFailed, "n1", func(p *corev1.Pod) { p.Status.Reason = "Evicted" }), api.StateFailed, "Evicted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := instanceStatus(it, tt.pod, "k8s-c-")
			if st.State != tt.state || st.Reason != tt.reason || st.Generation != 4 || st.InstanceID != "s-0" {
				t.Fatalf("status %+v, want %s %q", st, tt.state, tt.reason)
			}
			if tt.pod != nil && tt.pod.Spec.NodeName != "" && (st.NodeName != "n1" || st.NodeID != "k8s-c-n1") {
				t.Errorf("node %s / %s", st.NodeName, st.NodeID)
			}
		})
	}
}

func TestRegionDeploymentsUnit(t *testing.T) {
	ms := &topology.Microservice{Name: "cam", Deployment: topology.Deployment{Replicas: 1,
		NodeSelector: map[string]string{"accelerator": "tpu", "region": "ignored"},
		Containers:   []topology.Container{{Name: "cam", Image: "cam:1", CPUMillis: 200, MemoryBytes: 64 << 20}}}}
	ds := RegionDeployments("fog", "app", ms, []topology.RegionRequirement{{RegionRequired: "003-003", Replicas: 3}, {RegionRequired: "001-001", Image: "cam:arm"}},
		map[string]int64{"001-001": 500})
	if len(ds) != 2 {
		t.Fatalf("%d deployments", len(ds))
	}
	tests := []struct {
		name, region, image string
		replicas            int32
		cpu                 int64
	}{{"cam.reg.003-003", "003-003", "cam:1", 3, 200}, {"cam.reg.001-001", "001-001", "cam:arm", 1, 500}}
	for i, tt := range tests {
		d := ds[i]
		spec := d.Spec.Template.Spec
		if d.Name != tt.name || *d.Spec.Replicas != tt.replicas || spec.NodeSelector["region"] != tt.region || spec.NodeSelector["accelerator"] != "tpu" ||
			spec.Containers[0].Image != tt.image || spec.Containers[0].Resources.Requests.Cpu().MilliValue() != tt.cpu {
			t.Errorf("deployment %d: %s x%d selector %v image %s cpu %v", i, d.Name, *d.Spec.Replicas, spec.NodeSelector, spec.Containers[0].Image, spec.Containers[0].Resources.Requests.Cpu())
		}
	}
}
