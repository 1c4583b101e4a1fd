package deployment

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRolloutStatus(t *testing.T) {
	progressingSince := func(d *appsv1.Deployment, reason string, ago time.Duration) *appsv1.Deployment {
		at := metav1.NewTime(now.Add(-ago))
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reason, LastUpdateTime: at, LastTransitionTime: at}}
		return d
	}
	tests := []struct {
		name       string
		d          *appsv1.Deployment
		rs         []*appsv1.ReplicaSet
		wantReason string
		wantStatus corev1.ConditionStatus
	}{
		{"complete rollout", progressingSince(deploy(2, "1", "0"), ReasonReplicaSetUpdated, time.Second),
			[]*appsv1.ReplicaSet{replicaSet("new", 2, 2, 2, 1)}, ReasonNewRSAvailable, corev1.ConditionTrue},
		{"progress refreshes the condition", progressingSince(deploy(2, "1", "0"), ReasonReplicaSetUpdated, 50*time.Second),
			[]*appsv1.ReplicaSet{replicaSet("new", 2, 1, 1, 1)}, ReasonReplicaSetUpdated, corev1.ConditionTrue},
		{"no progress past the deadline times out", progressingSince(deploy(2, "1", "0"), ReasonReplicaSetUpdated, 2*time.Minute),
			[]*appsv1.ReplicaSet{replicaSet("new", 2, 0, 0, 1)}, ReasonTimedOut, corev1.ConditionFalse},
		{"no progress within the deadline keeps going", progressingSince(deploy(2, "1", "0"), ReasonReplicaSetUpdated, 30*time.Second),
			[]*appsv1.ReplicaSet{replicaSet("new", 2, 0, 0, 1)}, ReasonReplicaSetUpdated, corev1.ConditionTrue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newRS := tt.rs[len(tt.rs)-1]
			st := CalculateStatus(tt.d, tt.rs, newRS, now)
			st = RolloutStatus(tt.d, st, newRS, now)
			c := Condition(st, appsv1.DeploymentProgressing)
			if c == nil || c.Reason != tt.wantReason || c.Status != tt.wantStatus {
				t.Fatalf("Progressing = %+v, want %s %s", c, tt.wantStatus, tt.wantReason)
			}
			if tt.wantReason == ReasonReplicaSetUpdated && progressing(tt.d, &st) && !c.LastUpdateTime.Time.Equal(now) {
				t.Errorf("lastUpdateTime not refreshed: %v", c.LastUpdateTime)
			}
		})
	}
}

func TestAvailableCondition(t *testing.T) {
	d := deploy(4, "1", "1")
	st := CalculateStatus(d, []*appsv1.ReplicaSet{replicaSet("a", 4, 4, 3, 1)}, nil, now)
	if c := Condition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("3 of 4 available with maxUnavailable 1: Available = %+v", c)
	}
	st = CalculateStatus(d, []*appsv1.ReplicaSet{replicaSet("a", 4, 4, 2, 1)}, nil, now)
	if c := Condition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonMinimumReplicasUnavailable {
		t.Errorf("2 of 4 available with maxUnavailable 1: Available = %+v", c)
	}
	if st.UnavailableReplicas != 2 {
		t.Errorf("unavailableReplicas = %d, want 2", st.UnavailableReplicas)
	}
}
