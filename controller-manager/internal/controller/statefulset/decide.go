package statefulset

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"coracle.dev/controller-manager/internal/controllerkit/podstate"
	"coracle.dev/controller-manager/internal/controllerkit/templatehash"
)

// Labels on StatefulSet pods, as Kubernetes sets them.
const (
	PodNameLabel  = appsv1.StatefulSetPodNameLabel
	PodIndexLabel = appsv1.PodIndexLabel
	RevisionLabel = appsv1.ControllerRevisionHashLabelKey
)

// Revision names the StatefulSet's current template: name-hash.
func Revision(set *appsv1.StatefulSet) string {
	return set.Name + "-" + templatehash.Hash(&set.Spec.Template, set.Status.CollisionCount)
}

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

func monotonic(set *appsv1.StatefulSet) bool {
	return set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
}

func healthy(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && podstate.IsReady(p) && p.DeletionTimestamp == nil
}

// Plan is what one sync does: create the pods of these ordinals (and
// their claims), delete these pods.
type Plan struct {
	Create []int
	Delete []*corev1.Pod
}

// Decide is the pure part of a StatefulSet's sync, Kubernetes' order:
// replace failed pods; create missing ordinals (OrderedReady: lowest
// first, one at a time, each Running and Ready before the next; Parallel:
// all at once); delete ordinals beyond replicas (OrderedReady: highest
// first, one at a time, only while every other pod is healthy); then
// RollingUpdate: the highest ordinal at or above the partition not at the
// update revision, one at a time, once the others are healthy.
func Decide(set *appsv1.StatefulSet, pods []*corev1.Pod, updateRevision string) Plan {
	var plan Plan
	first, n := start(set), replicas(set)
	byOrdinal := map[int]*corev1.Pod{}
	var condemned []*corev1.Pod
	for _, p := range pods {
		i := Ordinal(set, p)
		if i < 0 {
			continue
		}
		if i < first || i >= first+n {
			condemned = append(condemned, p)
			continue
		}
		byOrdinal[i] = p
	}
	mono := monotonic(set)
	unhealthy := 0
	for i := first; i < first+n; i++ {
		if p := byOrdinal[i]; p == nil || !healthy(p) {
			unhealthy++
		}
	}
	for i := first; i < first+n; i++ {
		p := byOrdinal[i]
		switch {
		case p == nil:
			plan.Create = append(plan.Create, i)
			if mono {
				return plan
			}
			continue
		case podstate.IsTerminal(p) && p.DeletionTimestamp == nil:
			plan.Delete = append(plan.Delete, p)
			if mono {
				return plan
			}
			continue
		}
		if mono && !healthy(p) {
			// Wait for this one before going on.
			return plan
		}
	}
	sort.Slice(condemned, func(a, b int) bool { return Ordinal(set, condemned[a]) > Ordinal(set, condemned[b]) })
	for _, p := range condemned {
		if p.DeletionTimestamp != nil {
			if mono {
				return plan
			}
			continue
		}
		if mono && unhealthy > 0 {
			return plan
		}
		plan.Delete = append(plan.Delete, p)
		if mono {
			return plan
		}
	}
	if len(plan.Create) > 0 || len(plan.Delete) > 0 || len(condemned) > 0 {
		return plan
	}
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return plan
	}
	partition := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for i := first + n - 1; i >= first+partition; i-- {
		p := byOrdinal[i]
		if p.Labels[RevisionLabel] == updateRevision {
			if !healthy(p) {
				return plan
			}
			continue
		}
		if p.DeletionTimestamp != nil {
			return plan
		}
		if unhealthy > 0 {
			return plan
		}
		plan.Delete = append(plan.Delete, p)
		return plan
	}
	return plan
}

// Status counts what Kubernetes reports for a StatefulSet.
func Status(set *appsv1.StatefulSet, pods []*corev1.Pod, updateRevision string, now time.Time) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation, CollisionCount: set.Status.CollisionCount,
		UpdateRevision: updateRevision, CurrentRevision: set.Status.CurrentRevision, Conditions: set.Status.Conditions,
	}
	if st.CurrentRevision == "" {
		st.CurrentRevision = updateRevision
	}
	for _, p := range pods {
		if Ordinal(set, p) < 0 || p.DeletionTimestamp != nil {
			continue
		}
		st.Replicas++
		if podstate.IsReady(p) && p.Status.Phase == corev1.PodRunning {
			st.ReadyReplicas++
			if podstate.IsAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		rev := p.Labels[RevisionLabel]
		if rev == st.CurrentRevision {
			st.CurrentReplicas++
		}
		if rev == updateRevision {
			st.UpdatedReplicas++
		}
	}
	// The update is done when every pod runs it: it becomes current.
	if st.UpdatedReplicas == int32(replicas(set)) && st.Replicas == int32(replicas(set)) && st.ReadyReplicas == st.Replicas {
		st.CurrentRevision = updateRevision
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st
}

// NewPod is the pod of ordinal i: the template, its stable name,
// hostname and subdomain, identity labels, and one volume per claim.
func NewPod(set *appsv1.StatefulSet, i int, revision string) *corev1.Pod {
	t := set.Spec.Template.DeepCopy()
	name := PodName(set, i)
	p := &corev1.Pod{
		ObjectMeta: t.ObjectMeta,
		Spec:       t.Spec,
	}
	p.Name, p.Namespace, p.GenerateName = name, set.Namespace, ""
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
