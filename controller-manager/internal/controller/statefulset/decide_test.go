package statefulset

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func set(replicas int32, parallel bool) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns", UID: "set-uid"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(replicas), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}}},
	}
	if parallel {
		s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	}
	return s
}

func withPartition(s *appsv1.StatefulSet, p int32) *appsv1.StatefulSet {
	s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To(p)
	return s
}

// pod makes member i in a state — "ready", "unready" (Running, not
// Ready), "pending", "terminating", "failed", "succeeded" or "young"
// (ready for one second) — at revision rev.
func pod(i int, state, rev string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d", i), Labels: map[string]string{RevisionLabel: rev}}}
	ready := func(since time.Time) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{
			Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)}}}
	}
	switch state {
	case "ready":
		p.Status = ready(now.Add(-time.Hour))
	case "young":
		p.Status = ready(now.Add(-time.Second))
	case "unready":
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}}
	case "pending":
		p.Status = corev1.PodStatus{Phase: corev1.PodPending}
	case "terminating":
		ts := metav1.NewTime(now)
		p.DeletionTimestamp = &ts
		p.Status = ready(now.Add(-time.Hour))
	case "failed":
		p.Status = corev1.PodStatus{Phase: corev1.PodFailed}
	case "succeeded":
		p.Status = corev1.PodStatus{Phase: corev1.PodSucceeded}
	default:
		panic("unknown pod state " + state)
	}
	return p
}

func names(pods []*corev1.Pod) string {
	out := []string{}
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return fmt.Sprint(out)
}

func pods(p ...*corev1.Pod) []*corev1.Pod { return p }

func TestDecide(t *testing.T) {
	onDelete := set(2, false)
	onDelete.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	minReady := set(3, false)
	minReady.Spec.MinReadySeconds = 10
	startAt := set(2, false)
	startAt.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	twoDown := set(4, false)
	twoDown.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
	parallelTwo := set(4, true)
	parallelTwo.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
	tests := []struct {
		name                   string
		set                    *appsv1.StatefulSet
		pods                   []*corev1.Pod
		create, delete, update string
	}{
		// Scaling up, OrderedReady.
		{"ordered: first pod first", set(3, false), nil, "[0]", "[]", "[]"},
		{"ordered: next only when the previous is ready", set(3, false), pods(pod(0, "pending", "new")), "[]", "[]", "[]"},
		{"ordered: then the next", set(3, false), pods(pod(0, "ready", "new")), "[1]", "[]", "[]"},
		{"ordered: scale up halts at an unready pod", set(3, false), pods(pod(0, "unready", "new")), "[]", "[]", "[]"},
		{"ordered: scale up waits for minReadySeconds", minReady, pods(pod(0, "young", "new")), "[]", "[]", "[]"},
		{"ordered: scale up waits for a terminating pod", set(3, false), pods(pod(0, "terminating", "new")), "[]", "[]", "[]"},
		{"ordered: a gap is filled first", set(3, false), pods(pod(0, "ready", "new"), pod(2, "ready", "new")), "[1]", "[]", "[]"},
		{"ordered: ordinals from spec.ordinals.start", startAt, pods(pod(5, "ready", "new")), "[6]", "[]", "[]"},
		{"parallel: all at once", set(3, true), nil, "[0 1 2]", "[]", "[]"},
		{"parallel: scale up does not halt at an unready pod", set(3, true), pods(pod(0, "unready", "new")), "[1 2]", "[]", "[]"},

		// Failed pods are replaced.
		{"failed pod is deleted, to be recreated", set(1, false), pods(pod(0, "failed", "new")), "[]", "[db-0]", "[]"},
		{"succeeded pod is deleted too", set(1, false), pods(pod(0, "succeeded", "new")), "[]", "[db-0]", "[]"},
		{"ordered: nothing else while a failed pod is replaced", set(3, false), pods(pod(0, "failed", "new"), pod(1, "ready", "new")), "[]", "[db-0]", "[]"},
		{"parallel: failed pods replaced while the rest goes on", set(3, true), pods(pod(0, "ready", "new"), pod(1, "failed", "new")), "[2]", "[db-1]", "[]"},
		{"a failed pod being deleted is waited for", set(1, false), pods(func() *corev1.Pod {
			p := pod(0, "failed", "new")
			p.DeletionTimestamp = &metav1.Time{Time: now}
			return p
		}()), "[]", "[]", "[]"},

		// Scaling down.
		{"ordered: scale down from the highest, one at a time", set(1, false),
			pods(pod(0, "ready", "new"), pod(1, "ready", "new"), pod(2, "ready", "new")), "[]", "[db-2]", "[]"},
		{"ordered: scale down waits for a terminating pod", set(1, false),
			pods(pod(0, "ready", "new"), pod(1, "ready", "new"), pod(2, "terminating", "new")), "[]", "[]", "[]"},
		{"ordered: scale down halts while every pod is unready", set(0, false),
			pods(pod(0, "unready", "new"), pod(1, "unready", "new"), pod(2, "unready", "new")), "[]", "[]", "[]"},
		{"ordered: scale down halts at an unready pod in range", set(1, false),
			pods(pod(0, "unready", "new"), pod(1, "ready", "new"), pod(2, "ready", "new")), "[]", "[]", "[]"},
		{"ordered: the lowest unhealthy pod may go", set(0, false),
			pods(pod(0, "ready", "new"), pod(1, "ready", "new"), pod(2, "unready", "new")), "[]", "[db-2]", "[]"},
		{"ordered: a healthy target goes even above an unhealthy one", set(0, false),
			pods(pod(0, "unready", "new"), pod(1, "ready", "new")), "[]", "[db-1]", "[]"},
		{"parallel: scale down all at once, unready or not", set(0, true),
			pods(pod(0, "unready", "new"), pod(1, "unready", "new"), pod(2, "ready", "new")), "[]", "[db-2 db-1 db-0]", "[]"},

		// Rolling updates.
		{"rolling update: highest outdated pod first", set(3, false),
			pods(pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "ready", "old")), "[]", "[]", "[db-2]"},
		{"rolling update: waits for the updated pod to be ready", set(3, false),
			pods(pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "pending", "new")), "[]", "[]", "[]"},
		{"rolling update: next lower once ready", set(3, false),
			pods(pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "ready", "new")), "[]", "[]", "[db-1]"},
		{"rolling update: an unready pod halts it", set(3, false),
			pods(pod(0, "ready", "old"), pod(1, "unready", "old"), pod(2, "ready", "old")), "[]", "[]", "[]"},
		{"partition: ordinals below it keep their revision", withPartition(set(3, false), 2),
			pods(pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "ready", "new")), "[]", "[]", "[]"},
		{"partition: the canary above it is updated", withPartition(set(3, false), 2),
			pods(pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "ready", "old")), "[]", "[]", "[db-2]"},
		{"partition above the replicas updates nothing", withPartition(set(3, false), 3),
			pods(pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "ready", "old")), "[]", "[]", "[]"},
		{"maxUnavailable 2: two at a time", twoDown,
			pods(pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "ready", "old"), pod(3, "ready", "old")), "[]", "[]", "[db-3 db-2]"},
		{"parallel: outdated unready pods go first, beyond the budget", parallelTwo,
			pods(pod(0, "unready", "old"), pod(1, "ready", "old"), pod(2, "unready", "old"), pod(3, "ready", "old")), "[]", "[]", "[db-2 db-0]"},
		{"OnDelete updates nothing", onDelete, pods(pod(0, "ready", "old"), pod(1, "ready", "old")), "[]", "[]", "[]"},
		{"scaling comes before updating", set(1, false),
			pods(pod(0, "ready", "old"), pod(1, "ready", "old")), "[]", "[db-1]", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Decide(tt.set, tt.pods, "new", now)
			create := fmt.Sprint(plan.Create)
			if plan.Create == nil {
				create = "[]"
			}
			if create != tt.create || names(plan.Delete) != tt.delete || names(plan.Update) != tt.update {
				t.Errorf("create %s delete %s update %s, want %s %s %s", create, names(plan.Delete), names(plan.Update), tt.create, tt.delete, tt.update)
			}
		})
	}
}

func TestUsesCurrentRevision(t *testing.T) {
	noRolling := set(3, false)
	noRolling.Spec.UpdateStrategy.RollingUpdate = nil
	noRolling.Status.CurrentReplicas = 1
	onDelete := set(3, false)
	onDelete.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	startAt := withPartition(set(3, false), 1)
	startAt.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	tests := []struct {
		name    string
		set     *appsv1.StatefulSet
		ordinal int
		want    bool
	}{
		{"below the partition: current", withPartition(set(3, false), 2), 1, true},
		{"at the partition: update", withPartition(set(3, false), 2), 2, false},
		{"no partition: update", set(3, false), 0, false},
		{"partition counts from the start ordinal", startAt, 5, true},
		{"partition counts from the start ordinal, above", startAt, 6, false},
		{"no rollingUpdate: the current replicas keep theirs", noRolling, 0, true},
		{"no rollingUpdate: beyond them update", noRolling, 1, false},
		{"OnDelete: new pods at the update revision", onDelete, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UsesCurrentRevision(tt.set, tt.ordinal); got != tt.want {
				t.Errorf("UsesCurrentRevision(%d) = %v, want %v", tt.ordinal, got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name string
		set  *appsv1.StatefulSet
		pods []*corev1.Pod
		want appsv1.StatefulSetStatus
	}{
		{"mid-update: revisions apart", set(3, false),
			pods(pod(0, "ready", "old"), pod(1, "pending", "old"), pod(2, "ready", "new")),
			appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 1, CurrentRevision: "old", UpdateRevision: "new"}},
		{"every pod updated and ready: the update is current", set(2, false),
			pods(pod(0, "ready", "new"), pod(1, "ready", "new")),
			appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 2, CurrentRevision: "new", UpdateRevision: "new"}},
		{"terminating pods are replicas but at no revision", set(1, false),
			pods(pod(0, "ready", "old"), pod(1, "terminating", "old")),
			appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 1, UpdatedReplicas: 0, CurrentRevision: "old", UpdateRevision: "new"}},
		{"unready pods are not ready", set(2, false),
			pods(pod(0, "unready", "new"), pod(1, "unready", "new")),
			appsv1.StatefulSetStatus{Replicas: 2, CurrentReplicas: 0, UpdatedReplicas: 2, CurrentRevision: "old", UpdateRevision: "new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.set.Generation = 4
			tt.want.ObservedGeneration = 4
			tt.want.CollisionCount = ptr.To[int32](1)
			got := Status(tt.set, tt.pods, "old", "new", 1, now)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("status\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNewPod(t *testing.T) {
	s := set(2, false)
	s.Spec.Template.Labels = map[string]string{"app": "db"}
	s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	template := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Name: "ignored", Labels: map[string]string{"app": "db", "v": "1"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "old"}}},
	}
	p := NewPod(s, template, 1, "db-abc")
	if p.Name != "db-1" || p.Namespace != "ns" || p.Spec.Hostname != "db-1" || p.Spec.Subdomain != "db" {
		t.Errorf("identity: name %s/%s hostname %s subdomain %s", p.Namespace, p.Name, p.Spec.Hostname, p.Spec.Subdomain)
	}
	if p.Labels[PodNameLabel] != "db-1" || p.Labels[PodIndexLabel] != "1" || p.Labels[RevisionLabel] != "db-abc" || p.Labels["v"] != "1" {
		t.Errorf("labels %v", p.Labels)
	}
	if p.Spec.Containers[0].Image != "old" {
		t.Errorf("image %s, want the given template's", p.Spec.Containers[0].Image)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.Kind != "StatefulSet" || ref.UID != "set-uid" {
		t.Errorf("controller %+v", ref)
	}
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-db-1" {
		t.Errorf("volumes %+v", p.Spec.Volumes)
	}
	if template.Labels[RevisionLabel] != "" {
		t.Errorf("the template was changed: %v", template.Labels)
	}
	claims := NewClaims(s, 1)
	if len(claims) != 1 || claims[0].Name != "data-db-1" || claims[0].Labels["app"] != "db" {
		t.Errorf("claims %+v", claims)
	}
}
