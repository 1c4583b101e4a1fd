package statefulset

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"coracle.dev/controller-manager/internal/controllerkit/podcontrol"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Labels on StatefulSet pods, as Kubernetes sets them.
const (
	PodNameLabel  = appsv1.StatefulSetPodNameLabel
	PodIndexLabel = appsv1.PodIndexLabel
	RevisionLabel = appsv1.ControllerRevisionHashLabelKey
)

// PodName is the name of the pod with ordinal i.
func PodName(set *appsv1.StatefulSet, i int) string { return fmt.Sprintf("%s-%d", set.Name, i) }

// Ordinal is a pod's ordinal in set, -1 if its name is not one of set's.
func Ordinal(set *appsv1.StatefulSet, p *corev1.Pod) int {
	rest, ok := strings.CutPrefix(p.Name, set.Name+"-")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || strconv.Itoa(i) != rest {
		return -1
	}
	return i
}

// ClaimName is the PVC of claim template t for ordinal i.
func ClaimName(set *appsv1.StatefulSet, t string, i int) string {
	return fmt.Sprintf("%s-%s-%d", t, set.Name, i)
}

func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

func start(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func partition(set *appsv1.StatefulSet) int {
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return int(*ru.Partition)
	}
	return 0
}

// maxUnavailable is how many pods a rolling update may have down at
// once: rollingUpdate.maxUnavailable scaled to the replicas and rounded
// down, at least 1 (Kubernetes' MaxUnavailableStatefulSet, on by default
// since 1.37).
func maxUnavailable(set *appsv1.StatefulSet) int {
	var v *intstr.IntOrString
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		v = ru.MaxUnavailable
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(v, intstr.FromInt32(1)), replicas(set), false)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// monotonic is OrderedReady pod management: one pod at a time, in order.
func monotonic(set *appsv1.StatefulSet) bool {
	return set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
}

// runningAndReady is what OrderedReady waits for before the next ordinal.
func runningAndReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && podstate.IsReady(p)
}

// unavailable is a pod not ready for minReadySeconds, or terminating.
func unavailable(set *appsv1.StatefulSet, p *corev1.Pod, now time.Time) bool {
	return !podstate.IsAvailable(p, set.Spec.MinReadySeconds, now) || p.DeletionTimestamp != nil
}

func revisionOf(p *corev1.Pod) string { return p.Labels[RevisionLabel] }

// Plan is what one sync does: create the pods of these ordinals (and
// their claims); give the claims of these pods the owners the set's
// retention policy wants (before any deletion); delete these pods
// (failed ones, to be recreated, and those beyond the replicas); delete
// these others to recreate them at the update revision.
type Plan struct {
	Create []int
	Claims []*corev1.Pod
	Delete []*corev1.Pod
	Update []*corev1.Pod
}

// Decide is the pure part of a StatefulSet's sync, in Kubernetes' order
// (stateful_set_control.go's updateStatefulSet):
//
//  1. Each ordinal in range, lowest first: a Failed or Succeeded pod is
//     deleted (it is recreated once gone); a missing one is created.
//     OrderedReady stops at the first pod it acts on, and at the first
//     that is terminating, not Running and Ready, or not yet available.
//     The claims of each pod reached are set to the retention policy:
//     OrderedReady only those of pods it passes, and of a Pending one.
//  2. Pods beyond the range: first the claims of every one are set to
//     the retention policy; then, highest first, they are deleted,
//     OrderedReady one at a time and only when the target is healthy or
//     is the lowest unhealthy pod of the set, so a set with unhealthy
//     pods halts.
//  3. RollingUpdate: pods at or above the partition not at the update
//     revision are deleted, highest first, while fewer than
//     maxUnavailable pods are unavailable (Parallel: old unavailable
//     pods go first, outside that budget).
//
// updateRevision names the revision pods should end at; now dates
// availability.
func Decide(set *appsv1.StatefulSet, pods []*corev1.Pod, updateRevision string, now time.Time) Plan {
	var plan Plan
	first, n := start(set), replicas(set)
	inRange := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, p := range pods {
		i := Ordinal(set, p)
		switch {
		case i < 0:
		case i >= first && i < first+n:
			inRange[i-first] = p
		default:
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(a, b int) bool { return Ordinal(set, condemned[a]) > Ordinal(set, condemned[b]) })

	// The lowest unhealthy pod: of the range first, then of the
	// condemned from the lowest ordinal up.
	var firstUnhealthy *corev1.Pod
	for _, p := range inRange {
		if p != nil && unavailable(set, p, now) {
			firstUnhealthy = p
			break
		}
	}
	for i := len(condemned) - 1; i >= 0 && firstUnhealthy == nil; i-- {
		if unavailable(set, condemned[i], now) {
			firstUnhealthy = condemned[i]
		}
	}

	mono := monotonic(set)
	for idx, p := range inRange {
		switch {
		case p == nil:
			plan.Create = append(plan.Create, first+idx)
			if mono {
				return plan
			}
			continue
		case podstate.IsTerminal(p):
			// Evicted, rejected by its node, or finished: replace it.
			if p.DeletionTimestamp == nil {
				plan.Delete = append(plan.Delete, p)
			}
			if mono {
				return plan
			}
			continue
		}
		passes := p.DeletionTimestamp == nil && runningAndReady(p) && podstate.IsAvailable(p, set.Spec.MinReadySeconds, now)
		if !mono || passes || p.Status.Phase == corev1.PodPending {
			plan.Claims = append(plan.Claims, p)
		}
		if mono && !passes {
			return plan
		}
	}

	plan.Claims = append(plan.Claims, condemned...)
	for _, p := range condemned {
		if p.DeletionTimestamp != nil {
			if mono {
				return plan
			}
			continue
		}
		if mono && p != firstUnhealthy && (!runningAndReady(p) || !podstate.IsAvailable(p, set.Spec.MinReadySeconds, now)) {
			return plan
		}
		plan.Delete = append(plan.Delete, p)
		if mono {
			return plan
		}
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return plan
	}
	plan.Update = rollingUpdate(set, inRange, updateRevision, now)
	return plan
}

// rollingUpdate picks the pods to delete for the update revision.
// Ordinals that step 1 is still creating count as unavailable.
func rollingUpdate(set *appsv1.StatefulSet, inRange []*corev1.Pod, updateRevision string, now time.Time) []*corev1.Pod {
	budget := maxUnavailable(set)
	updateMin := partition(set)
	parallel := !monotonic(set)
	down, oldDown := 0, 0
	for _, p := range inRange {
		if p == nil || unavailable(set, p, now) {
			down++
			if parallel && p != nil && revisionOf(p) != updateRevision && p.DeletionTimestamp == nil {
				oldDown++
			}
		}
	}
	if down >= budget && oldDown == 0 {
		return nil
	}
	var out []*corev1.Pod
	outdated := func(p *corev1.Pod) bool {
		return p != nil && revisionOf(p) != updateRevision && p.DeletionTimestamp == nil
	}
	if parallel {
		// Old pods that are down already cost nothing more to replace.
		for i := len(inRange) - 1; i >= updateMin; i-- {
			if p := inRange[i]; outdated(p) && !podstate.IsAvailable(p, set.Spec.MinReadySeconds, now) {
				out = append(out, p)
			}
		}
	}
	left := budget - down
	for i := len(inRange) - 1; i >= updateMin && left > 0; i-- {
		p := inRange[i]
		if !outdated(p) || (parallel && unavailable(set, p, now)) {
			continue
		}
		out = append(out, p)
		left--
	}
	return out
}

// UsesCurrentRevision reports whether the pod of ordinal i is created at
// the current revision rather than the update revision: below the
// partition of a RollingUpdate, or, with no rollingUpdate, among the
// first status.currentReplicas.
func UsesCurrentRevision(set *appsv1.StatefulSet, i int) bool {
	if set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return false
	}
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return i < start(set)+int(*ru.Partition)
	}
	return i < start(set)+int(set.Status.CurrentReplicas)
}

// Status counts what Kubernetes reports for a StatefulSet: every pod the
// apiserver has given a phase is a replica (terminating ones too),
// Running and Ready ones are ready, and those ready for minReadySeconds
// available; pods not terminating count at the revision they run. When
// every replica runs the update revision and is ready, it becomes the
// current revision.
func Status(set *appsv1.StatefulSet, pods []*corev1.Pod, currentRevision, updateRevision string, collisionCount int32, now time.Time) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation, CollisionCount: &collisionCount,
		CurrentRevision: currentRevision, UpdateRevision: updateRevision, Conditions: set.Status.Conditions,
	}
	for _, p := range pods {
		if Ordinal(set, p) < 0 || p.Status.Phase == "" {
			continue
		}
		st.Replicas++
		if runningAndReady(p) {
			st.ReadyReplicas++
			if podstate.IsAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		rev := revisionOf(p)
		if rev == currentRevision {
			st.CurrentReplicas++
		}
		if rev == updateRevision {
			st.UpdatedReplicas++
		}
	}
	want := int32(replicas(set))
	if st.UpdatedReplicas == want && st.ReadyReplicas == want && st.Replicas == want {
		st.CurrentRevision = updateRevision
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st
}

// NewPod is the pod of ordinal i at a revision: template's labels,
// annotations, finalizers and spec (as every controller makes its pods),
// its stable name, hostname and subdomain, identity and revision labels,
// one volume per claim template, and set as its controller.
func NewPod(set *appsv1.StatefulSet, template *corev1.PodTemplateSpec, i int, revision string) *corev1.Pod {
	p := podcontrol.FromTemplate(template, set.Namespace, set.Name, metav1.NewControllerRef(set, kind))
	name := PodName(set, i)
	p.Name = name
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[PodNameLabel] = name
	p.Labels[PodIndexLabel] = strconv.Itoa(i)
	p.Labels[RevisionLabel] = revision
	p.Spec.Hostname = name
	p.Spec.Subdomain = set.Spec.ServiceName
	for _, claim := range set.Spec.VolumeClaimTemplates {
		vol := corev1.Volume{Name: claim.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(set, claim.Name, i)},
		}}
		replaced := false
		for j := range p.Spec.Volumes {
			if p.Spec.Volumes[j].Name == claim.Name {
				p.Spec.Volumes[j] = vol
				replaced = true
			}
		}
		if !replaced {
			p.Spec.Volumes = append(p.Spec.Volumes, vol)
		}
	}
	return p
}

// NewClaims are the PVCs of ordinal i.
func NewClaims(set *appsv1.StatefulSet, i int) []*corev1.PersistentVolumeClaim {
	var out []*corev1.PersistentVolumeClaim
	for _, t := range set.Spec.VolumeClaimTemplates {
		c := t.DeepCopy()
		c.Name = ClaimName(set, t.Name, i)
		c.Namespace = set.Namespace
		c.ResourceVersion, c.UID = "", ""
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				c.Labels[k] = v
			}
		}
		out = append(out, &corev1.PersistentVolumeClaim{ObjectMeta: c.ObjectMeta, Spec: c.Spec})
	}
	return out
}
