package daemonset

import (
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	schedcorev1 "k8s.io/component-helpers/scheduling/corev1"

	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Labels on daemon pods, as Kubernetes sets them.
const (
	HashLabel       = appsv1.ControllerRevisionHashLabelKey
	GenerationLabel = appsv1.DeprecatedTemplateGeneration
)

// Tolerations Kubernetes adds to every daemon pod, so that daemons run
// on nodes that are not ready, unreachable, under pressure or cordoned.
func Tolerations(hostNetwork bool) []corev1.Toleration {
	out := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		out = append(out, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// withTolerations adds the daemon tolerations the list lacks.
func withTolerations(list []corev1.Toleration, hostNetwork bool) []corev1.Toleration {
	out := append([]corev1.Toleration(nil), list...)
	for _, t := range Tolerations(hostNetwork) {
		found := false
		for _, have := range out {
			if have.Key == t.Key && have.Effect == t.Effect && have.Operator == t.Operator {
				found = true
			}
		}
		if !found {
			out = append(out, t)
		}
	}
	return out
}

// NodeFit is the pure placement rule: whether a daemon pod should be
// created on node (run) and whether one there may stay (stay). A node the
// selector, affinity or a NoSchedule taint rules out gets no new pod; one
// with an untolerated NoExecute taint keeps none.
func NodeFit(ds *appsv1.DaemonSet, node *corev1.Node) (run, stay bool) {
	pod := &corev1.Pod{Spec: *ds.Spec.Template.Spec.DeepCopy()}
	pod.Spec.Tolerations = withTolerations(pod.Spec.Tolerations, pod.Spec.HostNetwork)
	if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !ok {
		return false, false
	}
	if _, untolerated := schedcorev1.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations,
		func(t *corev1.Taint) bool { return t.Effect == corev1.TaintEffectNoExecute }, false); untolerated {
		return false, false
	}
	if _, untolerated := schedcorev1.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations,
		func(t *corev1.Taint) bool { return t.Effect == corev1.TaintEffectNoSchedule }, false); untolerated {
		return false, true
	}
	return true, true
}

// Plan is what a sync does to a DaemonSet's pods.
type Plan struct {
	// Create names the nodes that get a new pod.
	Create []string
	// Delete are the pods to delete.
	Delete []*corev1.Pod
	// Failed are the failed pods among Delete, for events.
	Failed []*corev1.Pod
}

// TemplateGeneration is the generation of ds's template, which the
// apiserver keeps in the deprecated.daemonset.template.generation
// annotation; "" if there is none.
func TemplateGeneration(ds *appsv1.DaemonSet) string {
	if _, err := strconv.ParseInt(ds.Annotations[GenerationLabel], 10, 64); err != nil {
		return ""
	}
	return ds.Annotations[GenerationLabel]
}

// isUpdated reports whether p runs ds's current template: it carries the
// current revision's hash or the template's generation, as Kubernetes
// tells (the generation keeps pods current when only the revision that
// names them was replaced by a copy).
func isUpdated(ds *appsv1.DaemonSet, p *corev1.Pod, hash string) bool {
	if hash != "" && p.Labels[HashLabel] == hash {
		return true
	}
	gen := TemplateGeneration(ds)
	return gen != "" && p.Labels[GenerationLabel] == gen
}

func maxUnavailableSurge(ds *appsv1.DaemonSet, desired int) (int, int) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	one := intstr.FromInt32(1)
	zero := intstr.FromInt32(0)
	mu, ms := &one, &zero
	if ru != nil {
		if ru.MaxUnavailable != nil {
			mu = ru.MaxUnavailable
		}
		if ru.MaxSurge != nil {
			ms = ru.MaxSurge
		}
	}
	surge, _ := intstr.GetScaledValueFromIntOrPercent(ms, desired, true)
	unavailable, _ := intstr.GetScaledValueFromIntOrPercent(mu, desired, true)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return unavailable, surge
}

// Decide is the pure part of a DaemonSet's sync: one pod on every node
// that should run one; failed and surplus pods deleted; pods on nodes
// that must not keep one deleted; and, with RollingUpdate, old pods
// replaced at most maxUnavailable at a time (or, with maxSurge, a new pod
// started beside the old one, which goes when the new one is available).
func Decide(ds *appsv1.DaemonSet, nodes []*corev1.Node, podsByNode map[string][]*corev1.Pod, hash string, now time.Time) Plan {
	var plan Plan
	type nodeState struct {
		name string
		pods []*corev1.Pod
	}
	var desired []nodeState
	names := make([]*corev1.Node, len(nodes))
	copy(names, nodes)
	sort.Slice(names, func(i, j int) bool { return names[i].Name < names[j].Name })
	for _, node := range names {
		run, stay := NodeFit(ds, node)
		pods := podsByNode[node.Name]
		var alive []*corev1.Pod
		failedHere := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodFailed {
				plan.Delete = append(plan.Delete, p)
				plan.Failed = append(plan.Failed, p)
				failedHere++
				continue
			}
			alive = append(alive, p)
		}
		switch {
		case run && len(alive) == 0 && failedHere == 0:
			plan.Create = append(plan.Create, node.Name)
		case run && len(alive) == 0:
			// A failed pod is deleted first; the next sync creates.
		case !stay:
			plan.Delete = append(plan.Delete, alive...)
			continue
		case !run:
			// May stay, but no new pod.
		}
		if run {
			desired = append(desired, nodeState{name: node.Name, pods: alive})
		}
	}
	for name, pods := range podsByNode {
		known := false
		for _, n := range nodes {
			if n.Name == name {
				known = true
			}
		}
		if !known {
			plan.Delete = append(plan.Delete, pods...)
		}
	}
	if ds.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		for _, ns := range desired {
			plan.Delete = append(plan.Delete, surplus(ds, ns.pods, hash, now)...)
		}
		return plan
	}

	// RollingUpdate.
	maxUnavailable, maxSurge := maxUnavailableSurge(ds, len(desired))
	unavailable := 0
	for _, ns := range desired {
		if !anyAvailable(ns.pods, ds.Spec.MinReadySeconds, now) {
			unavailable++
		}
	}
	surged := 0
	for _, ns := range desired {
		var old, updated []*corev1.Pod
		for _, p := range ns.pods {
			if isUpdated(ds, p, hash) {
				updated = append(updated, p)
			} else {
				old = append(old, p)
			}
		}
		if len(updated) > 0 && len(old) == 0 {
			plan.Delete = append(plan.Delete, surplus(ds, ns.pods, hash, now)...)
			continue
		}
		if len(old) == 0 {
			continue
		}
		if maxSurge == 0 {
			if !anyAvailable(old, ds.Spec.MinReadySeconds, now) {
				// Already unavailable: replacing it costs nothing.
				plan.Delete = append(plan.Delete, old...)
				continue
			}
			if unavailable < maxUnavailable {
				plan.Delete = append(plan.Delete, old...)
				unavailable++
			}
			continue
		}
		// Surge: a new pod beside the old, then the old goes.
		switch {
		case len(updated) == 0 && !anyAvailable(old, ds.Spec.MinReadySeconds, now):
			plan.Delete = append(plan.Delete, old...)
		case len(updated) == 0 && surged < maxSurge:
			plan.Create = append(plan.Create, ns.name)
			surged++
		case len(updated) > 0 && anyAvailable(updated, ds.Spec.MinReadySeconds, now):
			plan.Delete = append(plan.Delete, old...)
		case len(updated) > 0:
			surged++
		}
	}
	return plan
}

func anyAvailable(pods []*corev1.Pod, minReady int32, now time.Time) bool {
	for _, p := range pods {
		if p.DeletionTimestamp == nil && podstate.IsAvailable(p, minReady, now) {
			return true
		}
	}
	return false
}

// surplus returns all but one pod of a node, keeping an updated and
// available one if there is, else the oldest.
func surplus(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string, now time.Time) []*corev1.Pod {
	minReady := ds.Spec.MinReadySeconds
	if len(pods) <= 1 {
		return nil
	}
	sorted := append([]*corev1.Pod(nil), pods...)
	rank := func(p *corev1.Pod) int {
		r := 0
		if isUpdated(ds, p, hash) {
			r += 2
		}
		if podstate.IsAvailable(p, minReady, now) {
			r++
		}
		return r
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		if rank(sorted[i]) != rank(sorted[j]) {
			return rank(sorted[i]) > rank(sorted[j])
		}
		return sorted[i].CreationTimestamp.Before(&sorted[j].CreationTimestamp)
	})
	return sorted[1:]
}

// Status counts what Kubernetes reports for a DaemonSet.
func Status(ds *appsv1.DaemonSet, nodes []*corev1.Node, podsByNode map[string][]*corev1.Pod, hash string, now time.Time) appsv1.DaemonSetStatus {
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	for _, node := range nodes {
		run, _ := NodeFit(ds, node)
		pods := podsByNode[node.Name]
		if run {
			st.DesiredNumberScheduled++
		}
		if len(pods) == 0 {
			continue
		}
		if !run {
			st.NumberMisscheduled++
			continue
		}
		st.CurrentNumberScheduled++
		var best *corev1.Pod
		for _, p := range pods {
			if best == nil || isUpdated(ds, p, hash) && !isUpdated(ds, best, hash) {
				best = p
			}
		}
		if podstate.IsReady(best) {
			st.NumberReady++
			if podstate.IsAvailable(best, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		if isUpdated(ds, best, hash) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = max(st.DesiredNumberScheduled-st.NumberAvailable, 0)
	return st
}

// TargetNode is the node a daemon pod is for: its nodeName, or the node
// its affinity pins it to before the scheduler binds it.
func TargetNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// PinToNode replaces the pod's required node affinity with one term that
// selects node by name, as Kubernetes does: the scheduler then binds the
// pod there and nowhere else.
func PinToNode(p *corev1.Pod, node string) {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &corev1.Affinity{}
	}
	if p.Spec.Affinity.NodeAffinity == nil {
		p.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{
			Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node},
		}}}},
	}
	p.Spec.Tolerations = withTolerations(p.Spec.Tolerations, p.Spec.HostNetwork)
}
