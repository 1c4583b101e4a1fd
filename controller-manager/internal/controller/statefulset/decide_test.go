package statefulset

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func set(replicas int32, parallel bool) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(replicas), ServiceName: "db",
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
	}
	if parallel {
		s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	}
	return s
}

// pod makes member i: "ready", "pending" or "terminating", at revision rev.
func pod(i int, state, rev string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d", i), Labels: map[string]string{RevisionLabel: rev}}}
	switch state {
	case "ready":
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	case "pending":
		p.Status = corev1.PodStatus{Phase: corev1.PodPending}
	case "terminating":
		now := metav1.Now()
		p.DeletionTimestamp = &now
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning}
	case "failed":
		p.Status = corev1.PodStatus{Phase: corev1.PodFailed}
	}
	return p
}

func TestDecide(t *testing.T) {
	withPartition := set(3, false)
	withPartition.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}
	onDelete := set(2, false)
	onDelete.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	tests := []struct {
		name       string
		set        *appsv1.StatefulSet
		pods       []*corev1.Pod
		wantCreate string
		wantDelete string
	}{
		{"ordered: first pod first", set(3, false), nil, "[0]", "[]"},
		{"ordered: next only when the previous is ready", set(3, false), []*corev1.Pod{pod(0, "pending", "r")}, "[]", "[]"},
		{"ordered: then the next", set(3, false), []*corev1.Pod{pod(0, "ready", "r")}, "[1]", "[]"},
		{"parallel: all at once", set(3, true), nil, "[0 1 2]", "[]"},
		{"ordered: scale down from the highest, one at a time", set(1, false),
			[]*corev1.Pod{pod(0, "ready", "r"), pod(1, "ready", "r"), pod(2, "ready", "r")}, "[]", "[db-2]"},
		{"ordered: scale down waits for a terminating pod", set(1, false),
			[]*corev1.Pod{pod(0, "ready", "r"), pod(1, "ready", "r"), pod(2, "terminating", "r")}, "[]", "[]"},
		{"parallel: scale down all at once", set(1, true),
			[]*corev1.Pod{pod(0, "ready", "r"), pod(1, "ready", "r"), pod(2, "ready", "r")}, "[]", "[db-2 db-1]"},
		{"failed pod is replaced", set(1, false), []*corev1.Pod{pod(0, "failed", "r")}, "[]", "[db-0]"},
		{"rolling update: highest outdated pod first", set(3, false),
			[]*corev1.Pod{pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "ready", "old")}, "[]", "[db-2]"},
		{"rolling update: waits for the updated pod to be ready", set(3, false),
			[]*corev1.Pod{pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "pending", "new")}, "[]", "[]"},
		{"rolling update: next lower once ready", set(3, false),
			[]*corev1.Pod{pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "ready", "new")}, "[]", "[db-1]"},
		{"partition keeps lower ordinals", withPartition,
			[]*corev1.Pod{pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "ready", "new")}, "[]", "[]"},
		{"OnDelete updates nothing", onDelete, []*corev1.Pod{pod(0, "ready", "old"), pod(1, "ready", "old")}, "[]", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Decide(tt.set, tt.pods, "new")
			var del []string
			for _, p := range plan.Delete {
				del = append(del, p.Name)
			}
			if fmt.Sprint(plan.Create) != tt.wantCreate || fmt.Sprint(del) != tt.wantDelete && !(len(del) == 0 && tt.wantDelete == "[]") {
				t.Errorf("create %v delete %v, want %s %s", plan.Create, del, tt.wantCreate, tt.wantDelete)
			}
		})
	}
}

func TestNewPod(t *testing.T) {
	s := set(2, false)
	s.Spec.Template.Labels = map[string]string{"app": "db"}
	s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	p := NewPod(s, 1, "db-abc")
	if p.Name != "db-1" || p.Spec.Hostname != "db-1" || p.Spec.Subdomain != "db" {
		t.Errorf("identity: name %s hostname %s subdomain %s", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
	}
	if p.Labels[PodNameLabel] != "db-1" || p.Labels[PodIndexLabel] != "1" || p.Labels[RevisionLabel] != "db-abc" {
		t.Errorf("labels %v", p.Labels)
	}
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-db-1" {
		t.Errorf("volumes %+v", p.Spec.Volumes)
	}
	claims := NewClaims(s, 1)
	if len(claims) != 1 || claims[0].Name != "data-db-1" || claims[0].Labels["app"] != "db" {
		t.Errorf("claims %+v", claims)
	}
}
