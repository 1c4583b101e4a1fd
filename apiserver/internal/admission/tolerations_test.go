package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestDefaultTolerations(t *testing.T) {
	tests := []struct {
		name  string
		given []corev1.Toleration
		want  int // tolerations after admission
		check func(t *testing.T, tols []corev1.Toleration)
	}{
		{name: "none given: both added with 300s", want: 2, check: func(t *testing.T, tols []corev1.Toleration) {
			for _, tol := range tols {
				if *tol.TolerationSeconds != 300 || tol.Effect != corev1.TaintEffectNoExecute || tol.Operator != corev1.TolerationOpExists {
					t.Fatalf("toleration %+v", tol)
				}
			}
		}},
		{name: "own not-ready toleration kept", given: []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)}}, want: 2,
			check: func(t *testing.T, tols []corev1.Toleration) {
				if *tols[0].TolerationSeconds != 5 || tols[1].Key != corev1.TaintNodeUnreachable {
					t.Fatalf("tolerations %+v", tols)
				}
			}},
		{name: "tolerate everything", given: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, want: 1},
		{name: "a NoSchedule toleration does not count", given: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.given}}
			if err := (DefaultTolerations{}).AdmitCreate(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			if len(pod.Spec.Tolerations) != tt.want {
				t.Fatalf("got %d tolerations: %+v", len(pod.Spec.Tolerations), pod.Spec.Tolerations)
			}
			if tt.check != nil {
				tt.check(t, pod.Spec.Tolerations)
			}
		})
	}
}
