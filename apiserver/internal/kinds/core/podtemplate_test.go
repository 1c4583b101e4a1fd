package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newPodTemplate() *corev1.PodTemplate {
	return &corev1.PodTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
		},
	}
}

func TestPodTemplateDefaults(t *testing.T) {
	pt := newPodTemplate()
	s := PodTemplates().Strategy
	s.Default(pt)
	s.PrepareForCreate(pt)
	eq(t, pt.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways)
	eq(t, pt.Template.Spec.Containers[0].ImagePullPolicy, corev1.PullAlways)
	eq(t, pt.Generation, int64(1))
}

func TestPodTemplateValidate(t *testing.T) {
	kindstest.Create(t, PodTemplates().Strategy, newPodTemplate, []kindstest.Case[*corev1.PodTemplate]{
		{Name: "defaulted template is valid", Mutate: func(*corev1.PodTemplate) {}},
		{Name: "a template may restart never", Mutate: func(pt *corev1.PodTemplate) { pt.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }},
		{Name: "containers are required", Mutate: func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers = nil },
			Path: "template.spec.containers", Type: field.ErrorTypeRequired},
		{Name: "an image is required", Mutate: func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers[0].Image = "" },
			Path: "template.spec.containers[0].image", Type: field.ErrorTypeRequired},
		{Name: "template labels are label values", Mutate: func(pt *corev1.PodTemplate) { pt.Template.Labels["app"] = "a b" },
			Path: "template.metadata.labels", Type: field.ErrorTypeInvalid},
	})
}

func TestPodTemplateUpdate(t *testing.T) {
	s := PodTemplates().Strategy
	kindstest.Update(t, s, newPodTemplate, "", []kindstest.Case[*corev1.PodTemplate]{
		{Name: "the template may change", Mutate: func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers[0].Image = "nginx:2" }},
		{Name: "an invalid template is refused", Mutate: func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers = nil },
			Path: "template.spec.containers", Type: field.ErrorTypeRequired},
	})
	old := newPodTemplate()
	s.Default(old)
	old.Generation = 3
	same := old.DeepCopy()
	same.Labels = map[string]string{"a": "b"}
	s.PrepareForUpdate(same, old)
	eq(t, same.Generation, int64(3))
	changed := old.DeepCopy()
	changed.Template.Spec.Containers[0].Image = "nginx:2"
	s.Default(changed)
	s.PrepareForUpdate(changed, old)
	eq(t, changed.Generation, int64(4))
}
