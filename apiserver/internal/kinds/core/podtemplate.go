package core

import (
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// PodTemplates: pod templates stored on their own, for controllers and
// tools that stamp pods out of a named template.
func PodTemplates() *apiresource.Descriptor {
	d := core("podtemplates", &corev1.PodTemplate{}, &corev1.PodTemplateList{})
	d.Strategy = podTemplateStrategy{}
	d.Table = printers.PodTemplate()
	return d
}

// podTemplateStrategy is Kubernetes' PodTemplate strategy
// (pkg/registry/core/podtemplate): the template is defaulted and
// validated as any workload's, without a restart policy of its own, and
// metadata.generation counts its changes, since a PodTemplate has no spec
// for the store to watch.
type podTemplateStrategy struct{ apiresource.DefaultStrategy }

func (podTemplateStrategy) Default(obj runtime.Object) {
	DefaultPodTemplateSpec(&obj.(*corev1.PodTemplate).Template)
}

func (podTemplateStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*corev1.PodTemplate).Generation = 1
}

func (podTemplateStrategy) PrepareForUpdate(obj, old runtime.Object) {
	pt, was := obj.(*corev1.PodTemplate), old.(*corev1.PodTemplate)
	if !apiequality.Semantic.DeepEqual(pt.Template, was.Template) {
		pt.Generation = was.Generation + 1
	}
}

func (podTemplateStrategy) Validate(obj runtime.Object) field.ErrorList {
	return ValidatePodTemplateSpec(&obj.(*corev1.PodTemplate).Template, field.NewPath("template"))
}

func (podTemplateStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return ValidatePodTemplateSpec(&obj.(*corev1.PodTemplate).Template, field.NewPath("template"))
}
