package namespace

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name         string
		r            Remaining
		wantFinalize bool
		wantTrue     []corev1.NamespaceConditionType
	}{
		{"empty namespace is finalized", Remaining{}, true, nil},
		{"remaining content waits", Remaining{Resources: map[string]int{"pods": 2}}, false,
			[]corev1.NamespaceConditionType{corev1.NamespaceContentRemaining}},
		{"remaining finalizers are reported", Remaining{Resources: map[string]int{"configmaps": 1}, Finalizers: map[string]int{"example.com/hold": 1}}, false,
			[]corev1.NamespaceConditionType{corev1.NamespaceContentRemaining, corev1.NamespaceFinalizersRemaining}},
		{"discovery failure waits", Remaining{DiscoveryFailed: "boom"}, false,
			[]corev1.NamespaceConditionType{corev1.NamespaceDeletionDiscoveryFailure}},
		{"deletion failure waits", Remaining{DeleteFailed: "boom"}, false,
			[]corev1.NamespaceConditionType{corev1.NamespaceDeletionContentFailure}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			finalize, conds := Decide(tt.r, metav1.Now())
			if finalize != tt.wantFinalize {
				t.Errorf("finalize = %v, want %v", finalize, tt.wantFinalize)
			}
			want := map[corev1.NamespaceConditionType]bool{}
			for _, c := range tt.wantTrue {
				want[c] = true
			}
			for _, c := range conds {
				if (c.Status == corev1.ConditionTrue) != want[c.Type] {
					t.Errorf("condition %s = %s, want true: %v", c.Type, c.Status, want[c.Type])
				}
			}
		})
	}
}
