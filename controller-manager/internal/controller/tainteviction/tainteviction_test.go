package tainteviction

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	added := metav1.NewTime(t0.Add(-10 * time.Second))
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	noSchedule := corev1.Taint{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}
	tolerate := func(secs *int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
	}
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		taints      []corev1.Taint
		want        Verdict
	}{
		{"no NoExecute taint: stay", nil, []corev1.Taint{noSchedule}, Verdict{}},
		{"untolerated: evict now", nil, []corev1.Taint{unreachable}, Verdict{Now: true}},
		{"tolerated for ever: stay", []corev1.Toleration{tolerate(nil)}, []corev1.Taint{unreachable}, Verdict{}},
		{"tolerated for 300s from timeAdded", []corev1.Toleration{tolerate(ptr.To[int64](300))}, []corev1.Taint{unreachable},
			Verdict{At: t0.Add(290 * time.Second)}},
		{"toleration expired: evict now", []corev1.Toleration{tolerate(ptr.To[int64](5))}, []corev1.Taint{unreachable}, Verdict{Now: true}},
		{"the first matching toleration counts", []corev1.Toleration{tolerate(ptr.To[int64](60)), tolerate(ptr.To[int64](5))}, []corev1.Taint{unreachable},
			Verdict{At: t0.Add(50 * time.Second)}},
		{"the shortest of two taints' tolerations counts", []corev1.Toleration{tolerate(ptr.To[int64](60)),
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](20)}},
			[]corev1.Taint{unreachable, {Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}},
			Verdict{At: t0.Add(10 * time.Second)}},
		{"an untolerated second taint evicts", []corev1.Toleration{tolerate(nil)},
			[]corev1.Taint{unreachable, {Key: "x", Effect: corev1.TaintEffectNoExecute}}, Verdict{Now: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.tolerations, tt.taints, t0)
			if got.Now != tt.want.Now || !got.At.Equal(tt.want.At) {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}
