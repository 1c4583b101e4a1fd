package ttlafterfinished

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestExpireAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	finished := func(ct batchv1.JobConditionType, ttl *int32) *batchv1.Job {
		j := &batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ttl}}
		if ct != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: ct, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}
		}
		return j
	}
	tests := []struct {
		name   string
		job    *batchv1.Job
		wantOK bool
		want   time.Time
	}{
		{"complete with a TTL", finished(batchv1.JobComplete, ptr.To[int32](30)), true, t0.Add(30 * time.Second)},
		{"failed with a TTL", finished(batchv1.JobFailed, ptr.To[int32](0)), true, t0},
		{"running", finished("", ptr.To[int32](30)), false, time.Time{}},
		{"no TTL", finished(batchv1.JobComplete, nil), false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ExpireAt(tt.job)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("ExpireAt = %v %v, want %v %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
