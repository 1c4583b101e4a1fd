package replicaset

import (
	"errors"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func rs(replicas int32, minReady int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 3},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas), MinReadySeconds: minReady,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}}},
		},
	}
}

// pod makes a pod; readyFor < 0 means not ready.
func pod(name, node string, readyFor time.Duration, lbls map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if node == "" {
		p.Status.Phase = corev1.PodPending
	}
	status := corev1.ConditionFalse
	if readyFor >= 0 {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(now.Add(-readyFor))}}
	return p
}

func pods(n int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := 0; i < n; i++ {
		out = append(out, pod(fmt.Sprintf("p%d", i), "n1", time.Minute, map[string]string{"app": "web", "tier": "front"}))
	}
	return out
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		rs         *appsv1.ReplicaSet
		pods       []*corev1.Pod
		wantCreate int
		wantDelete []string
	}{
		{"creates the missing pods", rs(3, 0), pods(1), 2, nil},
		{"nothing to do at replicas", rs(2, 0), pods(2), 0, nil},
		{"caps creations at the burst", rs(2000, 0), nil, BurstReplicas, nil},
		{"scale to zero deletes all", rs(0, 0), pods(2), 0, []string{"p1", "p0"}},
		{"deletes unscheduled then not ready first", rs(1, 0), []*corev1.Pod{
			pod("ready", "n1", time.Minute, nil),
			pod("notready", "n2", -1, nil),
			pod("unscheduled", "", -1, nil),
		}, 0, []string{"unscheduled", "notready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Decide(tt.rs, tt.pods)
			if plan.Create != tt.wantCreate {
				t.Errorf("create = %d, want %d", plan.Create, tt.wantCreate)
			}
			var got []string
			for _, p := range plan.Delete {
				got = append(got, p.Name)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantDelete) {
				t.Errorf("delete = %v, want %v", got, tt.wantDelete)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	full := map[string]string{"app": "web", "tier": "front"}
	tests := []struct {
		name                              string
		rs                                *appsv1.ReplicaSet
		pods                              []*corev1.Pod
		err                               error
		replicas, fully, ready, available int32
		wantFailure                       bool
	}{
		{"counts ready and available", rs(3, 0), []*corev1.Pod{
			pod("a", "n", time.Minute, full), pod("b", "n", -1, full), pod("c", "n", time.Second, map[string]string{"app": "web"}),
		}, nil, 3, 2, 2, 2, false},
		{"minReadySeconds holds back availability", rs(2, 30), []*corev1.Pod{
			pod("a", "n", time.Minute, full), pod("b", "n", 10*time.Second, full),
		}, nil, 2, 2, 2, 1, false},
		{"a failed create is a ReplicaFailure", rs(2, 0), nil, errors.New("quota"), 0, 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Status(tt.rs, tt.pods, tt.err, ReasonFailedCreate, now)
			if st.Replicas != tt.replicas || st.FullyLabeledReplicas != tt.fully || st.ReadyReplicas != tt.ready || st.AvailableReplicas != tt.available {
				t.Errorf("status = %d/%d/%d/%d, want %d/%d/%d/%d", st.Replicas, st.FullyLabeledReplicas, st.ReadyReplicas, st.AvailableReplicas,
					tt.replicas, tt.fully, tt.ready, tt.available)
			}
			if st.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", st.ObservedGeneration)
			}
			if got := len(st.Conditions) == 1 && st.Conditions[0].Type == appsv1.ReplicaSetReplicaFailure; got != tt.wantFailure {
				t.Errorf("ReplicaFailure = %v, want %v (%v)", got, tt.wantFailure, st.Conditions)
			}
		})
	}
}
