package admission

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// classes is an in-memory PriorityClasses: the real one reads the watch
// cache, exercised by the integration tests.
type classes map[string]*schedulingv1.PriorityClass

func (c classes) Get(_ context.Context, name string) (*schedulingv1.PriorityClass, error) {
	if pc, ok := c[name]; ok {
		return pc, nil
	}
	return nil, apierrors.NewNotFound(schedulingv1.Resource("priorityclasses"), name)
}

func (c classes) GlobalDefault(context.Context) (*schedulingv1.PriorityClass, error) {
	for _, pc := range c {
		if pc.GlobalDefault {
			return pc, nil
		}
	}
	return nil, nil
}

func TestPriority(t *testing.T) {
	never := corev1.PreemptNever
	base := classes{
		"high":  {ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000},
		"quiet": {ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, Value: 50, PreemptionPolicy: &never},
	}
	withDefault := classes{"low": {ObjectMeta: metav1.ObjectMeta{Name: "low"}, Value: -5, GlobalDefault: true}}
	tests := []struct {
		name      string
		classes   classes
		pod       corev1.PodSpec
		priority  int32
		policy    corev1.PreemptionPolicy
		className string
		forbidden string
	}{
		{"no class, no default: zero", base, corev1.PodSpec{}, 0, corev1.PreemptLowerPriority, "", ""},
		{"named class", base, corev1.PodSpec{PriorityClassName: "high"}, 1000, corev1.PreemptLowerPriority, "high", ""},
		{"class preemption policy", base, corev1.PodSpec{PriorityClassName: "quiet"}, 50, corev1.PreemptNever, "quiet", ""},
		{"global default applies", withDefault, corev1.PodSpec{}, -5, corev1.PreemptLowerPriority, "low", ""},
		{"missing class", base, corev1.PodSpec{PriorityClassName: "nope"}, 0, "", "", "no PriorityClass with name nope was found"},
		{"conflicting priority", base, corev1.PodSpec{PriorityClassName: "high", Priority: ptr.To[int32](5)}, 0, "", "", "must not be provided in pod spec"},
		{"matching priority is fine", base, corev1.PodSpec{PriorityClassName: "high", Priority: ptr.To[int32](1000)}, 1000, corev1.PreemptLowerPriority, "high", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tt.pod}
			err := (&Priority{Classes: tt.classes}).AdmitCreate(context.Background(), pod)
			if tt.forbidden != "" {
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.forbidden) {
					t.Fatalf("want Forbidden %q, got %v", tt.forbidden, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *pod.Spec.Priority != tt.priority || *pod.Spec.PreemptionPolicy != tt.policy || pod.Spec.PriorityClassName != tt.className {
				t.Fatalf("priority %d policy %s class %q", *pod.Spec.Priority, *pod.Spec.PreemptionPolicy, pod.Spec.PriorityClassName)
			}
		})
	}
}
