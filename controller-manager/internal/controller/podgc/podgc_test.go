package podgc

import (
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func pod(name, node string, phase corev1.PodPhase, age int, deleting bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Duration(age) * time.Minute))},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
	if deleting {
		now := metav1.NewTime(t0)
		p.DeletionTimestamp = &now
	}
	return p
}

func TestDecide(t *testing.T) {
	gone := func(n string) bool { return n == "gone" }
	tests := []struct {
		name      string
		pods      []*corev1.Pod
		threshold int
		want      []string
	}{
		{"nothing to do", []*corev1.Pod{pod("a", "n1", corev1.PodRunning, 1, false)}, 10, nil},
		{"oldest finished pods over the threshold", []*corev1.Pod{
			pod("new", "n1", corev1.PodSucceeded, 1, false),
			pod("old", "n1", corev1.PodFailed, 10, false),
			pod("mid", "n1", corev1.PodSucceeded, 5, false),
			pod("running", "n1", corev1.PodRunning, 20, false),
		}, 1, []string{"mid: " + ReasonTerminated, "old: " + ReasonTerminated}},
		{"threshold zero keeps all", []*corev1.Pod{pod("old", "n1", corev1.PodFailed, 10, false)}, 0, nil},
		{"pods of a deleted node", []*corev1.Pod{pod("orphan", "gone", corev1.PodRunning, 1, false)}, 10, []string{"orphan: " + ReasonOrphaned}},
		{"unscheduled pods being deleted", []*corev1.Pod{
			pod("stuck", "", corev1.PodPending, 1, true),
			pod("waiting", "", corev1.PodPending, 1, false),
		}, 10, []string{"stuck: " + ReasonUnscheduledDeleted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range Decide(tt.pods, gone, tt.threshold) {
				got = append(got, v.Pod.Name+": "+v.Reason)
			}
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Decide = %v, want %v", got, tt.want)
			}
		})
	}
}
