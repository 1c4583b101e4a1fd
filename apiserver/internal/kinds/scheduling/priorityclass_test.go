package scheduling

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newClass(name string, value int32) *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
}

func TestPriorityClassDefaults(t *testing.T) {
	pc := newClass("high", 1000)
	PriorityClasses().Strategy.Default(pc)
	if pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("preemptionPolicy = %v, want PreemptLowerPriority", pc.PreemptionPolicy)
	}
	never := newClass("batch", 10)
	never.PreemptionPolicy = ptr.To(corev1.PreemptNever)
	PriorityClasses().Strategy.Default(never)
	if *never.PreemptionPolicy != corev1.PreemptNever {
		t.Errorf("a set preemptionPolicy was overwritten")
	}
}

func TestPriorityClassValidate(t *testing.T) {
	tests := []struct {
		name string
		pc   *schedulingv1.PriorityClass
		path string
		typ  field.ErrorType
	}{
		{"user class at the limit is valid", newClass("high", 1_000_000_000), "", ""},
		{"negative value is valid", newClass("low", -10), "", ""},
		{"global default is valid", func() *schedulingv1.PriorityClass {
			pc := newClass("default", 0)
			pc.GlobalDefault = true
			return pc
		}(), "", ""},
		{"user class above the limit is forbidden", newClass("higher", 1_000_000_001), "value", field.ErrorTypeForbidden},
		{"system-node-critical is valid", newClass("system-node-critical", 2_000_001_000), "", ""},
		{"system-cluster-critical is valid", newClass("system-cluster-critical", 2_000_000_000), "", ""},
		{"system class with another value is forbidden", newClass("system-cluster-critical", 5), "metadata.name", field.ErrorTypeForbidden},
		{"system class may not be the global default", func() *schedulingv1.PriorityClass {
			pc := newClass("system-node-critical", 2_000_001_000)
			pc.GlobalDefault = true
			return pc
		}(), "metadata.name", field.ErrorTypeForbidden},
		{"unknown system- name is forbidden", newClass("system-mine", 10), "metadata.name", field.ErrorTypeForbidden},
		{"unknown preemption policy is not supported", func() *schedulingv1.PriorityClass {
			pc := newClass("high", 10)
			pc.PreemptionPolicy = ptr.To(corev1.PreemptionPolicy("Always"))
			return pc
		}(), "preemptionPolicy", field.ErrorTypeNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := PriorityClasses().Strategy
			s.Default(tt.pc)
			kindstest.WantErr(t, s.Validate(tt.pc), tt.path, tt.typ)
		})
	}
}

func TestPriorityClassUpdate(t *testing.T) {
	high := func() *schedulingv1.PriorityClass { return newClass("high", 1000) }
	kindstest.Update(t, PriorityClasses().Strategy, high, "", []kindstest.Case[*schedulingv1.PriorityClass]{
		{Name: "description may change", Mutate: func(pc *schedulingv1.PriorityClass) { pc.Description = "for web" }},
		{Name: "globalDefault may change", Mutate: func(pc *schedulingv1.PriorityClass) { pc.GlobalDefault = true }},
		{Name: "value is immutable", Mutate: func(pc *schedulingv1.PriorityClass) { pc.Value = 2000 }, Path: "value", Type: field.ErrorTypeForbidden},
		{Name: "preemptionPolicy is immutable", Mutate: func(pc *schedulingv1.PriorityClass) {
			pc.PreemptionPolicy = ptr.To(corev1.PreemptNever)
		}, Path: "preemptionPolicy", Type: field.ErrorTypeInvalid},
	})
}
