package node

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newRuntimeClass() *nodev1.RuntimeClass {
	return &nodev1.RuntimeClass{
		ObjectMeta: metav1.ObjectMeta{Name: "gvisor"},
		Handler:    "runsc",
		Overhead:   &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
		Scheduling: &nodev1.Scheduling{
			NodeSelector: map[string]string{"runtime": "gvisor"},
			Tolerations:  []corev1.Toleration{{Key: "runtime", Operator: corev1.TolerationOpEqual, Value: "gvisor", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
}

func TestRuntimeClassValidate(t *testing.T) {
	kindstest.Create(t, RuntimeClasses().Strategy, newRuntimeClass, []kindstest.Case[*nodev1.RuntimeClass]{
		{Name: "class with overhead and scheduling is valid", Mutate: func(*nodev1.RuntimeClass) {}},
		{Name: "handler is required", Mutate: func(rc *nodev1.RuntimeClass) { rc.Handler = "" }, Path: "handler", Type: field.ErrorTypeRequired},
		{Name: "handler is a DNS label", Mutate: func(rc *nodev1.RuntimeClass) { rc.Handler = "run.sc" }, Path: "handler", Type: field.ErrorTypeInvalid},
		{Name: "overhead must be a container resource", Mutate: func(rc *nodev1.RuntimeClass) {
			rc.Overhead.PodFixed = corev1.ResourceList{"pods": resource.MustParse("1")}
		}, Path: "overhead.limits[pods]", Type: field.ErrorTypeInvalid},
		{Name: "overhead may not be negative", Mutate: func(rc *nodev1.RuntimeClass) {
			rc.Overhead.PodFixed = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Mi")}
		}, Path: "overhead.limits[memory]", Type: field.ErrorTypeInvalid},
		{Name: "node selector keys are label keys", Mutate: func(rc *nodev1.RuntimeClass) {
			rc.Scheduling.NodeSelector = map[string]string{"bad key": "x"}
		}, Path: "scheduling.nodeSelector", Type: field.ErrorTypeInvalid},
		{Name: "toleration operator must be known", Mutate: func(rc *nodev1.RuntimeClass) {
			rc.Scheduling.Tolerations[0].Operator = "Maybe"
		}, Path: "scheduling.tolerations[0].operator", Type: field.ErrorTypeNotSupported},
		{Name: "tolerations may not repeat", Mutate: func(rc *nodev1.RuntimeClass) {
			rc.Scheduling.Tolerations = append(rc.Scheduling.Tolerations, rc.Scheduling.Tolerations[0])
		}, Path: "scheduling.tolerations[1]", Type: field.ErrorTypeDuplicate},
	})
}

func TestRuntimeClassUpdate(t *testing.T) {
	kindstest.Update(t, RuntimeClasses().Strategy, newRuntimeClass, "", []kindstest.Case[*nodev1.RuntimeClass]{
		{Name: "overhead may change", Mutate: func(rc *nodev1.RuntimeClass) { rc.Overhead = nil }},
		{Name: "scheduling may change", Mutate: func(rc *nodev1.RuntimeClass) { rc.Scheduling.NodeSelector = nil }},
		{Name: "handler is immutable", Mutate: func(rc *nodev1.RuntimeClass) { rc.Handler = "kata" }, Path: "handler", Type: field.ErrorTypeInvalid},
	})
}
