package podstate

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func pod(name, node string, phase corev1.PodPhase, ready bool, readySince, created time.Time) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(readySince)}}
	return p
}

func TestSortForDeletion(t *testing.T) {
	tests := []struct {
		name  string
		pods  []*corev1.Pod
		first string
	}{
		{"unscheduled before scheduled", []*corev1.Pod{
			pod("scheduled", "n1", corev1.PodPending, false, t0, t0),
			pod("unscheduled", "", corev1.PodPending, false, t0, t0),
		}, "unscheduled"},
		{"pending before running", []*corev1.Pod{
			pod("running", "n1", corev1.PodRunning, false, t0, t0),
			pod("pending", "n2", corev1.PodPending, false, t0, t0),
		}, "pending"},
		{"not ready before ready", []*corev1.Pod{
			pod("ready", "n1", corev1.PodRunning, true, t0, t0),
			pod("notready", "n2", corev1.PodRunning, false, t0, t0),
		}, "notready"},
		{"crowded node first", []*corev1.Pod{
			pod("alone", "n1", corev1.PodRunning, true, t0, t0),
			pod("crowd-a", "n2", corev1.PodRunning, true, t0, t0),
			pod("crowd-b", "n2", corev1.PodRunning, true, t0, t0),
		}, "crowd-b"},
		{"ready for less time first", []*corev1.Pod{
			pod("old", "n1", corev1.PodRunning, true, t0, t0),
			pod("recent", "n2", corev1.PodRunning, true, t0.Add(time.Minute), t0),
		}, "recent"},
		{"newest first", []*corev1.Pod{
			pod("older", "n1", corev1.PodRunning, true, t0, t0),
			pod("newer", "n2", corev1.PodRunning, true, t0, t0.Add(time.Hour)),
		}, "newer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			SortForDeletion(tt.pods)
			if tt.pods[0].Name != tt.first {
				t.Errorf("first = %s, want %s", tt.pods[0].Name, tt.first)
			}
		})
	}
}

func TestIsAvailable(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		min  int32
		now  time.Time
		want bool
	}{
		{"ready with no minReadySeconds", pod("p", "n", corev1.PodRunning, true, t0, t0), 0, t0, true},
		{"ready for less than minReadySeconds", pod("p", "n", corev1.PodRunning, true, t0, t0), 10, t0.Add(9 * time.Second), false},
		{"ready for exactly minReadySeconds", pod("p", "n", corev1.PodRunning, true, t0, t0), 10, t0.Add(10 * time.Second), true},
		{"not ready", pod("p", "n", corev1.PodRunning, false, t0, t0), 0, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsAvailable(tt.pod, tt.min, tt.now); got != tt.want {
				t.Errorf("IsAvailable = %v, want %v", got, tt.want)
			}
		})
	}
}
