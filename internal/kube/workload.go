package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/link"
)

// Names Hedge gives the Kubernetes objects of its services.
const (
	// Namespace holds the Deployments and Services of Hedge services.
	Namespace = "hedge"
	// LabelManagedBy=ManagedBy marks every object Hedge created for a service.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "hedge"
	labelServiceID = "hedge.io/service-id"
	labelApp       = "hedge.io/app"
	annotationHash = "hedge.io/spec-hash"
	// annotationCordoned marks a node Hedge cordoned, so uncordon undoes
	// only Hedge's own cordon.
	annotationCordoned = "hedge.io/cordoned"
	containerName      = "main"
)

// workloads is a Kubernetes cluster's side of the link: it turns the
// instances the root assigns into Deployments (one replica per instance)
// and reports the cluster's nodes and the instances' pods.
type workloads struct {
	c   *kcluster
	log *slog.Logger

	changed chan struct{}

	mu      sync.Mutex
	desired map[string][]link.Assignment // by service id, by number
	nodes   corelisters.NodeLister
	pods    corelisters.PodLister
}

var _ link.Peer = (*workloads)(nil)

func newWorkloads(c *kcluster, log *slog.Logger) *workloads {
	return &workloads{c: c, log: log, changed: make(chan struct{}, 1), desired: map[string][]link.Assignment{}}
}

// watch sets up the informers the reports are built from; a change of a
// node or of a Hedge pod makes the next report go at once.
func (w *workloads) watch(f informers.SharedInformerFactory) {
	ni, pi := f.Core().V1().Nodes(), f.Core().V1().Pods()
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.poke() },
		DeleteFunc: func(any) { w.poke() },
		UpdateFunc: func(old, cur any) {
			if o, ok := old.(*corev1.Node); ok {
				n := cur.(*corev1.Node)
				if nodeReady(o) == nodeReady(n) && o.Spec.Unschedulable == n.Spec.Unschedulable && len(o.Spec.Taints) == len(n.Spec.Taints) {
					return
				}
			}
			if p, ok := cur.(*corev1.Pod); ok && p.Labels[labelServiceID] == "" {
				return
			}
			w.poke()
		},
	}
	_, _ = ni.Informer().AddEventHandler(poke)
	_, _ = pi.Informer().AddEventHandler(poke)
	w.mu.Lock()
	w.nodes, w.pods = ni.Lister(), pi.Lister()
	w.mu.Unlock()
}

func (w *workloads) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Changed implements link.Peer.
func (w *workloads) Changed() <-chan struct{} { return w.changed }

// Apply implements link.Peer: Kubernetes keeps the Deployments, so the
// desired set is persisted once they are written.
func (w *workloads) Apply(ctx context.Context, a *link.Assignments) error {
	desired := map[string][]link.Assignment{}
	for _, it := range a.Items {
		if it.Spec.Virtualization != api.VirtContainer {
			continue // placement sends only containers here; never run others
		}
		desired[it.ServiceID] = append(desired[it.ServiceID], it)
	}
	for _, items := range desired {
		sort.Slice(items, func(i, j int) bool { return items[i].Number < items[j].Number })
	}
	w.mu.Lock()
	w.desired = desired
	w.mu.Unlock()
	if err := w.reconcile(ctx, desired); err != nil {
		return err
	}
	if err := w.controlNodes(ctx, a.Nodes); err != nil {
		return err
	}
	w.poke()
	return nil
}

func (w *workloads) reconcile(ctx context.Context, desired map[string][]link.Assignment) error {
	cs := w.c.cs
	if len(desired) > 0 {
		if err := ensureNamespace(ctx, cs, Namespace); err != nil {
			return err
		}
	}
	for sid, items := range desired {
		d := Deployment(sid, items[0].AppName, items[0].Spec, len(items))
		if err := applyDeployment(ctx, cs, d); err != nil {
			return err
		}
		if svc := Service(sid, items[0].Spec); svc != nil {
			if err := applyService(ctx, cs, svc); err != nil {
				return err
			}
		}
	}
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy + "," + labelServiceID}
	ds, err := cs.AppsV1().Deployments(Namespace).List(ctx, sel)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("list deployments: %w", err)
	}
	bg := metav1.DeletePropagationBackground
	if ds != nil {
		for _, d := range ds.Items {
			if _, ok := desired[d.Labels[labelServiceID]]; ok {
				continue
			}
			err := cs.AppsV1().Deployments(Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete deployment %s: %w", d.Name, err)
			}
			w.log.Info("deployment deleted", "deployment", d.Name, "service_id", d.Labels[labelServiceID])
		}
	}
	svcs, err := cs.CoreV1().Services(Namespace).List(ctx, sel)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("list services: %w", err)
	}
	if svcs != nil {
		for _, s := range svcs.Items {
			if items, ok := desired[s.Labels[labelServiceID]]; ok && Service(s.Labels[labelServiceID], items[0].Spec) != nil {
				continue
			}
			if err := cs.CoreV1().Services(Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete service %s: %w", s.Name, err)
			}
		}
	}
	return nil
}

// ObjectName is the name of the Deployment and Service of a Hedge service:
// its microservice name as a DNS label, and the start of its id.
func ObjectName(serviceID, microservice string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(microservice) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if len(base) > 40 {
		base = strings.Trim(base[:40], "-")
	}
	if base == "" || base[0] < 'a' {
		base = "svc-" + base
	}
	id := serviceID
	if len(id) > 10 {
		id = id[:10]
	}
	return strings.ToLower(base + "-" + id)
}

// Deployment builds the Deployment of a Hedge service with replicas pods:
// the service's container with its command, environment, resources, ports
// and node selector.
func Deployment(serviceID, appName string, spec api.ServiceSpec, replicas int) *appsv1.Deployment {
	name := ObjectName(serviceID, spec.Name)
	lbl := map[string]string{LabelManagedBy: ManagedBy, labelServiceID: serviceID, labelApp: dnsLabelValue(appName)}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: lbl},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{labelServiceID: serviceID}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       podSpec(spec),
			},
		},
	}
	d.Annotations = map[string]string{annotationHash: specHash(d.Spec.Template)}
	return d
}

func podSpec(spec api.ServiceSpec) corev1.PodSpec {
	c := corev1.Container{Name: containerName, Image: spec.Code, Command: spec.Cmd, Args: spec.Args}
	for _, kv := range spec.Environment {
		k, v, _ := strings.Cut(kv, "=")
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
	}
	req := toQuantities(spec.Demand())
	if len(req) > 0 {
		c.Resources.Requests = req
		if m, ok := req[corev1.ResourceMemory]; ok {
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: m}
		}
	}
	for _, p := range ParsePorts(spec.Port) {
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: p.Container, Protocol: p.Protocol})
	}
	if spec.Privileged {
		c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	}
	ps := corev1.PodSpec{Containers: []corev1.Container{c}, NodeSelector: spec.NodeSelector, Affinity: latencyAffinity(spec)}
	if spec.OneShot || spec.RestartPolicy == api.RestartNever || spec.RestartPolicy == api.RestartOnFailure {
		// A Deployment's pods must restart always; a one_shot service that
		// exits is still shown COMPLETED from its container's exit code.
		ps.RestartPolicy = corev1.RestartPolicyAlways
	}
	return ps
}

// latencyAffinity keeps the pods in the regions the root resolved for the
// service's latency constraints (api.Constraint.Regions), by the nodes'
// region label; nil without latency constraints.
func latencyAffinity(spec api.ServiceSpec) *corev1.Affinity {
	var terms []corev1.NodeSelectorRequirement
	for _, con := range spec.Constraints {
		if con.Type == "latency" {
			terms = append(terms, corev1.NodeSelectorRequirement{Key: LabelRegion, Operator: corev1.NodeSelectorOpIn, Values: con.Regions})
		}
	}
	if terms == nil {
		return nil
	}
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: terms}},
	}}}
}

// Port is one "host:container/proto" entry of an SLA port string.
type Port struct {
	Host, Container int32
	Protocol        corev1.Protocol
}

// ParsePorts reads an SLA port string ("8080:80;53:53/udp;9000"); entries
// that do not parse are skipped (SLA validation rejects them earlier).
func ParsePorts(s string) []Port {
	var out []Port
	for _, e := range strings.Split(s, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		proto := corev1.ProtocolTCP
		if p, q, ok := strings.Cut(e, "/"); ok {
			e = p
			if strings.EqualFold(q, "udp") {
				proto = corev1.ProtocolUDP
			}
		}
		host, cont, ok := strings.Cut(e, ":")
		if !ok {
			cont = host
		}
		h, err1 := strconv.ParseInt(host, 10, 32)
		c, err2 := strconv.ParseInt(cont, 10, 32)
		if err1 != nil || err2 != nil || h < 1 || h > 65535 || c < 1 || c > 65535 {
			continue
		}
		out = append(out, Port{Host: int32(h), Container: int32(c), Protocol: proto})
	}
	return out
}

// Service builds the ClusterIP Service of a Hedge service's ports, or nil
// when it has none.
func Service(serviceID string, spec api.ServiceSpec) *corev1.Service {
	ports := ParsePorts(spec.Port)
	if len(ports) == 0 {
		return nil
	}
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(serviceID, spec.Name), Namespace: Namespace,
			Labels: map[string]string{LabelManagedBy: ManagedBy, labelServiceID: serviceID}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{labelServiceID: serviceID}},
	}
	for i, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{
			Name: fmt.Sprintf("p%d-%s", i, strings.ToLower(string(p.Protocol))), Port: p.Host,
			TargetPort: intstr.FromInt32(p.Container), Protocol: p.Protocol,
		})
	}
	return s
}

func specHash(t corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func dnsLabelValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && (r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	out := strings.Trim(b.String(), "-_.")
	if len(out) > 63 {
		out = strings.Trim(out[:63], "-_.")
	}
	return out
}

// Snapshot implements link.Peer: the cluster's aggregate and nodes, and a
// status for every assigned instance, read from the informers' caches.
func (w *workloads) Snapshot(ctx context.Context) *link.Report {
	w.mu.Lock()
	nl, pl := w.nodes, w.pods
	desired := w.desired
	w.mu.Unlock()
	var nodes []*corev1.Node
	var pods []*corev1.Pod
	if nl != nil {
		nodes, _ = nl.List(labels.Everything())
		pods, _ = pl.List(labels.Everything())
	}
	w.c.mu.Lock()
	healthy := w.c.status.Status == api.KubeEnabled || w.c.status.Status == api.KubeDegraded
	w.c.mu.Unlock()
	v := buildView(nodes, pods)
	levels, events := w.c.pressureView()
	agg := api.Cluster{Name: w.c.rec.Name, Runtimes: []string{api.VirtContainer}}
	archs := map[string]bool{}
	var apiNodes []api.Node
	var alloc, req api.Resources
	for _, n := range v.nodes {
		ready := nodeReady(n) && healthy
		an := api.Node{
			ID: NodeID(w.c.rec.ID, n.Name), Name: n.Name, State: api.NodeNotReady, Cordoned: !schedulable(n) && ready,
			Arch: n.Status.NodeInfo.Architecture, Runtimes: []string{api.VirtContainer}, Labels: n.Labels,
			Capacity: toResources(n.Status.Allocatable), Reserved: v.requested[n.Name], Instances: v.pods[n.Name],
			Metrics: api.HostMetrics{NetRxBytesPS: nodeNetRx(n)},
		}
		if lvl, ok := levels[n.Name]; ok {
			an.Pressure = lvl.String()
		}
		if a := n.Labels[corev1.LabelArchStable]; a != "" {
			an.Arch = a
		}
		if ready {
			an.State = api.NodeReady
			agg.ActiveNodes++
		}
		if ready && schedulable(n) {
			free := v.free(n)
			// The root subtracts what it placed itself, so Hedge's own pods
			// are left in the capacity it is told about.
			agg.Capacity = agg.Capacity.Add(free.Add(v.hedge[n.Name]))
			if free.VCPUs > agg.MaxNodeFree.VCPUs || (free.VCPUs == agg.MaxNodeFree.VCPUs && free.MemoryMB > agg.MaxNodeFree.MemoryMB) {
				agg.MaxNodeFree = free
			}
			alloc, req = alloc.Add(an.Capacity), req.Add(an.Reserved)
			if an.Arch != "" && !archs[an.Arch] {
				archs[an.Arch] = true
				agg.Arch = append(agg.Arch, an.Arch)
			}
		}
		apiNodes = append(apiNodes, an)
	}
	sort.Strings(agg.Arch)
	if alloc.VCPUs > 0 {
		agg.CPUPercent = 100 * req.VCPUs / alloc.VCPUs
	}
	if alloc.MemoryMB > 0 {
		agg.MemoryPercent = 100 * float64(req.MemoryMB) / float64(alloc.MemoryMB)
	}
	rep := &link.Report{Cluster: &link.ClusterReport{Name: w.c.rec.Name, Nodes: apiNodes, Events: events}}
	byService := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if sid := p.Labels[labelServiceID]; sid != "" && p.Namespace == Namespace && p.DeletionTimestamp == nil {
			byService[sid] = append(byService[sid], p)
		}
	}
	for sid, items := range desired {
		ps := byService[sid]
		sortPods(ps)
		for i, it := range items {
			var p *corev1.Pod
			if i < len(ps) {
				p = ps[i]
			}
			rep.Instances = append(rep.Instances, instanceStatus(it, p, NodeID(w.c.rec.ID, "")))
			agg.Instances++
		}
	}
	rep.Cluster.Aggregate = agg
	return rep
}

// NodeID is the Hedge node id of a Kubernetes node: unique across clusters
// and usable in a URL path.
func NodeID(clusterID, node string) string {
	if len(clusterID) > 8 {
		clusterID = clusterID[:8]
	}
	return "k8s-" + clusterID + "-" + node
}

// sortPods orders the pods of a service so that instance i keeps pod i:
// oldest first, then by name.
func sortPods(ps []*corev1.Pod) {
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i].CreationTimestamp, ps[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return ps[i].Name < ps[j].Name
	})
}

// instanceStatus reads an instance's state from its pod (nil: none yet).
func instanceStatus(it link.Assignment, p *corev1.Pod, nodePrefix string) link.InstanceStatus {
	st := link.InstanceStatus{InstanceID: it.InstanceID, Generation: it.Generation, State: api.StateScheduled}
	if p == nil {
		st.Reason = "waiting for Kubernetes to create the pod"
		return st
	}
	st.NodeName = p.Spec.NodeName
	if p.Spec.NodeName != "" {
		st.NodeID = nodePrefix + p.Spec.NodeName
	}
	for _, cs := range p.Status.ContainerStatuses {
		st.Restarts += int(cs.RestartCount)
	}
	if p.Status.StartTime != nil {
		t := p.Status.StartTime.Time
		st.StartedAt = &t
	}
	switch p.Status.Phase {
	case corev1.PodRunning:
		st.State = api.StateRunning
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				st.State, st.Reason = api.StateFailed, w.Reason+": "+w.Message
			}
			if t := cs.State.Terminated; t != nil {
				code := int(t.ExitCode)
				st.State, st.ExitCode, st.Reason = api.StateFailed, &code, t.Reason
				if code == 0 && it.Spec.OneShot {
					st.State = api.StateCompleted
				}
			}
		}
	case corev1.PodSucceeded:
		st.State = api.StateCompleted
	case corev1.PodFailed:
		st.State, st.Reason = api.StateFailed, strings.TrimSpace(p.Status.Reason+" "+p.Status.Message)
	default: // Pending, Unknown
		if p.Spec.NodeName == "" {
			st.State = api.StateScheduled
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
					st.Reason = "kubernetes scheduler: " + c.Message
				}
			}
			if st.Reason == "" {
				st.Reason = "waiting for the kubernetes scheduler"
			}
		} else {
			st.State = api.StateStarting
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && w.Reason != "" {
					st.Reason = strings.TrimSpace(w.Reason + ": " + w.Message)
				}
			}
		}
	}
	return st
}

// Handle implements link.Peer: the logs of an instance's pod.
func (w *workloads) Handle(ctx context.Context, r link.Request) link.Response {
	if r.Kind != link.KindLogs {
		return link.Response{Error: "unknown request kind " + r.Kind}
	}
	p, err := w.podOf(r.InstanceID)
	if err != nil {
		return link.Response{Error: err.Error(), NotFound: true}
	}
	b, err := w.c.cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: containerName, LimitBytes: ptr.To(int64(16 << 20))}).DoRaw(ctx)
	if err != nil {
		return link.Response{Error: fmt.Sprintf("logs of pod %s: %v", p.Name, err)}
	}
	if r.Tail > 0 && len(b) > r.Tail {
		b = b[len(b)-r.Tail:]
	}
	return link.Response{Data: b}
}

func (w *workloads) podOf(instanceID string) (*corev1.Pod, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for sid, items := range w.desired {
		for i, it := range items {
			if it.InstanceID != instanceID {
				continue
			}
			if w.pods == nil {
				return nil, fmt.Errorf("instance %s: cluster not watched yet", instanceID)
			}
			ps, _ := w.pods.Pods(Namespace).List(labels.SelectorFromSet(labels.Set{labelServiceID: sid}))
			live := ps[:0]
			for _, p := range ps {
				if p.DeletionTimestamp == nil {
					live = append(live, p)
				}
			}
			sortPods(live)
			if i >= len(live) {
				return nil, fmt.Errorf("instance %s has no pod yet", instanceID)
			}
			return live[i], nil
		}
	}
	return nil, fmt.Errorf("instance %s does not run on this cluster", instanceID)
}

// controlNodes carries out the root's cordon orders on the Kubernetes
// nodes: cordoned (or drained) nodes are made unschedulable; a node Hedge
// cordoned and no longer has an order for is made schedulable again.
func (w *workloads) controlNodes(ctx context.Context, ctl map[string]link.NodeControl) error {
	w.mu.Lock()
	nl := w.nodes
	w.mu.Unlock()
	if nl == nil {
		return nil
	}
	nodes, _ := nl.List(labels.Everything())
	for _, n := range nodes {
		order, ok := ctl[NodeID(w.c.rec.ID, n.Name)]
		want := ok && (order.Cordoned || order.Drained)
		ours := n.Annotations[annotationCordoned] == "true"
		if want == n.Spec.Unschedulable && (want == ours) {
			continue
		}
		if !want && !ours {
			continue // cordoned by someone else: leave it
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%s}},"spec":{"unschedulable":%t}}`, annotationCordoned, jsonOrNull(want), want)
		if _, err := w.c.cs.CoreV1().Nodes().Patch(ctx, n.Name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("cordon node %s: %w", n.Name, err)
		}
	}
	for _, n := range nodes {
		if order, ok := ctl[NodeID(w.c.rec.ID, n.Name)]; ok && order.Drained {
			if err := w.drain(ctx, n.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// drain evicts Hedge's pods from a cordoned node through the Eviction API
// (so PodDisruptionBudgets hold); their Deployments start them again on
// other nodes. Called on every apply while the order stands, it also
// catches pods that landed there before the cordon took effect.
func (w *workloads) drain(ctx context.Context, node string) error {
	pl, err := w.c.cs.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "spec.nodeName=" + node, LabelSelector: LabelManagedBy + "=" + ManagedBy})
	if err != nil {
		return fmt.Errorf("drain node %s: %w", node, err)
	}
	for _, p := range pl.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
		if err := w.c.cs.CoreV1().Pods(p.Namespace).EvictV1(ctx, ev); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("drain node %s: evict pod %s: %w", node, p.Name, err)
		}
		w.log.Info("drain: pod evicted", "node", node, "pod", p.Name)
	}
	return nil
}

func jsonOrNull(b bool) string {
	if b {
		return `"true"`
	}
	return "null"
}
