// Package schedtest builds pods, nodes and single-plugin frameworks for
// the scheduler's tests, so that each table reads as the situation it
// sets up: MakePod("web").Req("500m", "1Gi").Node("node-1").Obj().
package schedtest

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/scheduler/internal/cache"
	"coracle.dev/scheduler/internal/framework"
)

// PodWrapper builds a pod.
type PodWrapper struct{ p v1.Pod }

// MakePod starts a pod in namespace default whose UID is its name.
func MakePod(name string) *PodWrapper {
	return &PodWrapper{p: v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "app:1"}}},
	}}
}

// Obj returns the pod.
func (w *PodWrapper) Obj() *v1.Pod { p := w.p.DeepCopy(); return p }

// Namespace sets the namespace.
func (w *PodWrapper) Namespace(ns string) *PodWrapper { w.p.Namespace = ns; return w }

// Label adds a label.
func (w *PodWrapper) Label(k, v string) *PodWrapper {
	if w.p.Labels == nil {
		w.p.Labels = map[string]string{}
	}
	w.p.Labels[k] = v
	return w
}

// Req sets the first container's cpu and memory requests ("" leaves one out).
func (w *PodWrapper) Req(cpu, mem string) *PodWrapper {
	rl := v1.ResourceList{}
	if cpu != "" {
		rl[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		rl[v1.ResourceMemory] = resource.MustParse(mem)
	}
	w.p.Spec.Containers[0].Resources.Requests = rl
	return w
}

// ReqRes sets one resource request on the first container.
func (w *PodWrapper) ReqRes(name v1.ResourceName, q string) *PodWrapper {
	c := &w.p.Spec.Containers[0]
	if c.Resources.Requests == nil {
		c.Resources.Requests = v1.ResourceList{}
	}
	c.Resources.Requests[name] = resource.MustParse(q)
	return w
}

// Container adds a container requesting cpu.
func (w *PodWrapper) Container(cpu string) *PodWrapper {
	w.p.Spec.Containers = append(w.p.Spec.Containers, v1.Container{Name: "c" + string(rune('0'+len(w.p.Spec.Containers))), Image: "app:1",
		Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}})
	return w
}

// Init adds an init container requesting cpu; sidecar makes it a
// restartable (sidecar) init container.
func (w *PodWrapper) Init(cpu string, sidecar bool) *PodWrapper {
	c := v1.Container{Name: "init" + string(rune('0'+len(w.p.Spec.InitContainers))), Image: "init:1",
		Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}}
	if sidecar {
		always := v1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	w.p.Spec.InitContainers = append(w.p.Spec.InitContainers, c)
	return w
}

// Overhead sets the pod overhead's cpu.
func (w *PodWrapper) Overhead(cpu string) *PodWrapper {
	w.p.Spec.Overhead = v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}
	return w
}

// Image sets the first container's image and adds containers for more.
func (w *PodWrapper) Image(images ...string) *PodWrapper {
	w.p.Spec.Containers = nil
	for i, img := range images {
		w.p.Spec.Containers = append(w.p.Spec.Containers, v1.Container{Name: "c" + string(rune('0'+i)), Image: img})
	}
	return w
}

// Node binds the pod to node.
func (w *PodWrapper) Node(node string) *PodWrapper { w.p.Spec.NodeName = node; return w }

// Priority sets spec.priority.
func (w *PodWrapper) Priority(p int32) *PodWrapper { w.p.Spec.Priority = &p; return w }

// PreemptNever sets preemptionPolicy Never.
func (w *PodWrapper) PreemptNever() *PodWrapper {
	never := v1.PreemptNever
	w.p.Spec.PreemptionPolicy = &never
	return w
}

// NominatedNode sets status.nominatedNodeName.
func (w *PodWrapper) NominatedNode(n string) *PodWrapper { w.p.Status.NominatedNodeName = n; return w }

// Terminating sets a deletionTimestamp.
func (w *PodWrapper) Terminating() *PodWrapper {
	now := metav1.Now()
	w.p.DeletionTimestamp = &now
	return w
}

// Created sets the creation timestamp.
func (w *PodWrapper) Created(t time.Time) *PodWrapper {
	w.p.CreationTimestamp = metav1.NewTime(t)
	return w
}

// StartTime sets status.startTime.
func (w *PodWrapper) StartTime(t time.Time) *PodWrapper {
	st := metav1.NewTime(t)
	w.p.Status.StartTime = &st
	return w
}

// NodeSelector adds k=v to the nodeSelector.
func (w *PodWrapper) NodeSelector(k, v string) *PodWrapper {
	if w.p.Spec.NodeSelector == nil {
		w.p.Spec.NodeSelector = map[string]string{}
	}
	w.p.Spec.NodeSelector[k] = v
	return w
}

// NodeName sets spec.nodeName without other effect (the pod is pending
// with a requested node when used with the NodeName plugin).
func (w *PodWrapper) NodeName(n string) *PodWrapper { return w.Node(n) }

func (w *PodWrapper) affinity() *v1.Affinity {
	if w.p.Spec.Affinity == nil {
		w.p.Spec.Affinity = &v1.Affinity{}
	}
	return w.p.Spec.Affinity
}

// RequiredNodeAffinityIn requires node label key in values.
func (w *PodWrapper) RequiredNodeAffinityIn(key string, values ...string) *PodWrapper {
	a := w.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
		MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}},
	}}}
	return w
}

// PreferredNodeAffinity prefers node label key=value with weight.
func (w *PodWrapper) PreferredNodeAffinity(weight int32, key, value string) *PodWrapper {
	a := w.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.PreferredSchedulingTerm{Weight: weight, Preference: v1.NodeSelectorTerm{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOpIn, Values: []string{value}}},
		}})
	return w
}

func term(labelKey, labelValue, topologyKey string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelKey: labelValue}},
		TopologyKey:   topologyKey,
	}
}

// PodAffinity requires a pod labelled k=v in the same topologyKey domain.
func (w *PodWrapper) PodAffinity(k, v, topologyKey string) *PodWrapper {
	a := w.affinity()
	if a.PodAffinity == nil {
		a.PodAffinity = &v1.PodAffinity{}
	}
	a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term(k, v, topologyKey))
	return w
}

// PodAntiAffinity forbids pods labelled k=v in the same domain.
func (w *PodWrapper) PodAntiAffinity(k, v, topologyKey string) *PodWrapper {
	a := w.affinity()
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &v1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term(k, v, topologyKey))
	return w
}

// PreferredPodAffinity prefers pods labelled k=v in the same domain.
func (w *PodWrapper) PreferredPodAffinity(weight int32, k, v, topologyKey string) *PodWrapper {
	a := w.affinity()
	if a.PodAffinity == nil {
		a.PodAffinity = &v1.PodAffinity{}
	}
	a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term(k, v, topologyKey)})
	return w
}

// PreferredPodAntiAffinity prefers no pods labelled k=v in the domain.
func (w *PodWrapper) PreferredPodAntiAffinity(weight int32, k, v, topologyKey string) *PodWrapper {
	a := w.affinity()
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &v1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term(k, v, topologyKey)})
	return w
}

// Toleration adds a toleration (operator Equal, or Exists when value is "").
func (w *PodWrapper) Toleration(key, value string, effect v1.TaintEffect) *PodWrapper {
	t := v1.Toleration{Key: key, Value: value, Effect: effect, Operator: v1.TolerationOpEqual}
	if value == "" {
		t.Operator = v1.TolerationOpExists
	}
	w.p.Spec.Tolerations = append(w.p.Spec.Tolerations, t)
	return w
}

// HostPort adds a container port taking hostPort on hostIP ("" for all).
func (w *PodWrapper) HostPort(hostIP string, port int32, proto v1.Protocol) *PodWrapper {
	c := &w.p.Spec.Containers[0]
	c.Ports = append(c.Ports, v1.ContainerPort{ContainerPort: port, HostPort: port, HostIP: hostIP, Protocol: proto})
	return w
}

// Spread adds a topology spread constraint over pods labelled k=v.
func (w *PodWrapper) Spread(maxSkew int32, topologyKey string, when v1.UnsatisfiableConstraintAction, k, v string) *PodWrapper {
	w.p.Spec.TopologySpreadConstraints = append(w.p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: topologyKey, WhenUnsatisfiable: when,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{k: v}},
	})
	return w
}

// MinDomains sets the last spread constraint's minDomains.
func (w *PodWrapper) MinDomains(n int32) *PodWrapper {
	cs := w.p.Spec.TopologySpreadConstraints
	cs[len(cs)-1].MinDomains = &n
	return w
}

// OwnedBy sets a controller owner reference (apps/v1 kind).
func (w *PodWrapper) OwnedBy(kind, name string) *PodWrapper {
	t := true
	w.p.OwnerReferences = append(w.p.OwnerReferences, metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID(name), Controller: &t})
	return w
}

// SchedulingGate adds a scheduling gate.
func (w *PodWrapper) SchedulingGate(name string) *PodWrapper {
	w.p.Spec.SchedulingGates = append(w.p.Spec.SchedulingGates, v1.PodSchedulingGate{Name: name})
	return w
}

// NodeWrapper builds a node.
type NodeWrapper struct{ n v1.Node }

// MakeNode starts a ready node with 4 cpus, 16Gi, 110 pods and its
// hostname label.
func MakeNode(name string) *NodeWrapper {
	w := &NodeWrapper{n: v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}}}}
	w.n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
	return w.Capacity("4", "16Gi", "110")
}

// Obj returns the node.
func (w *NodeWrapper) Obj() *v1.Node { return w.n.DeepCopy() }

// Capacity sets capacity and allocatable.
func (w *NodeWrapper) Capacity(cpu, mem, pods string) *NodeWrapper {
	rl := v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem), v1.ResourcePods: resource.MustParse(pods)}
	w.n.Status.Capacity, w.n.Status.Allocatable = rl, rl.DeepCopy()
	return w
}

// Allocatable sets one allocatable resource.
func (w *NodeWrapper) Allocatable(name v1.ResourceName, q string) *NodeWrapper {
	w.n.Status.Allocatable[name] = resource.MustParse(q)
	return w
}

// Label adds a label.
func (w *NodeWrapper) Label(k, v string) *NodeWrapper { w.n.Labels[k] = v; return w }

// Taint adds a taint.
func (w *NodeWrapper) Taint(key, value string, effect v1.TaintEffect) *NodeWrapper {
	w.n.Spec.Taints = append(w.n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	return w
}

// Unschedulable cordons the node.
func (w *NodeWrapper) Unschedulable() *NodeWrapper { w.n.Spec.Unschedulable = true; return w }

// Ready sets the Ready condition's status.
func (w *NodeWrapper) Ready(s v1.ConditionStatus) *NodeWrapper {
	w.n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: s}}
	return w
}

// Image records an image of size bytes on the node.
func (w *NodeWrapper) Image(size int64, names ...string) *NodeWrapper {
	w.n.Status.Images = append(w.n.Status.Images, v1.ContainerImage{Names: names, SizeBytes: size})
	return w
}

// Plugin builds a framework running only the named plugin (weight 1) over
// a snapshot of nodes and the pods bound to them.
func Plugin(t testing.TB, name string, factory framework.PluginFactory, pods []*v1.Pod, nodes []*v1.Node, listers framework.Listers) *framework.Framework {
	t.Helper()
	reg := framework.NewRegistry()
	if err := reg.Register(name, factory); err != nil {
		t.Fatal(err)
	}
	f, err := framework.New(reg, framework.Options{
		Plugins: []framework.PluginConfig{{Name: name}}, Snapshot: cache.NewSnapshot(pods, nodes), Listers: listers, Parallelism: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Filter runs PreFilter and then Filter on every node and returns each
// node's status (a PreFilter rejection applies to all).
func Filter(t testing.TB, f *framework.Framework, pod *v1.Pod) map[string]*framework.Status {
	t.Helper()
	ctx := context.Background()
	pi := framework.NewPodInfo(pod)
	state := framework.NewCycleState()
	out := map[string]*framework.Status{}
	pre := f.RunPreFilterPlugins(ctx, state, pi)
	for _, ni := range f.SnapshotSharedLister().List() {
		if !pre.IsSuccess() {
			out[ni.Name] = pre
			continue
		}
		s, _ := f.RunFilterPlugins(ctx, state, pi, ni)
		out[ni.Name] = s
	}
	return out
}

// Scores runs PreScore and Score (normalised) with every node feasible.
func Scores(t testing.TB, f *framework.Framework, pod *v1.Pod) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	pi := framework.NewPodInfo(pod)
	state := framework.NewCycleState()
	nodes := f.SnapshotSharedLister().List()
	if s := f.RunPreScorePlugins(ctx, state, pi, nodes); !s.IsSuccess() {
		t.Fatalf("prescore: %v", s)
	}
	totals := make([]int64, len(nodes))
	if s := f.RunScorePlugins(ctx, state, pi, nodes, totals); !s.IsSuccess() {
		t.Fatalf("score: %v", s)
	}
	out := map[string]int64{}
	for i, ni := range nodes {
		out[ni.Name] = totals[i]
	}
	return out
}

// Fits is nil; Rejected builds a status for expectations.
var Fits *framework.Status

// Rejected is the expected status of a rejection.
func Rejected(code framework.Code, reasons ...string) *framework.Status {
	return framework.NewStatus(code, reasons...)
}

// CheckStatuses compares statuses node by node.
func CheckStatuses(t testing.TB, got, want map[string]*framework.Status) {
	t.Helper()
	for node, w := range want {
		if g := got[node]; !g.Equal(w) {
			t.Errorf("node %s: got %v, want %v", node, g, w)
		}
	}
	for node := range got {
		if _, ok := want[node]; !ok && !got[node].IsSuccess() {
			t.Errorf("node %s: unexpected %v", node, got[node])
		}
	}
}
