package apps

import (
	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// ControllerRevisions record the templates DaemonSets and StatefulSets
// rolled out, for their rollout history and undo.
func ControllerRevisions() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(appsv1.SchemeGroupVersion, "controllerrevisions", &appsv1.ControllerRevision{}, &appsv1.ControllerRevisionList{})
	d.Namespaced = true
	d.Strategy = controllerRevisionStrategy{}
	d.Table = printers.ControllerRevision()
	return d
}

type controllerRevisionStrategy struct{ apiresource.DefaultStrategy }

func (controllerRevisionStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateControllerRevision(obj.(*appsv1.ControllerRevision))
}

// ValidateUpdate: a revision's data is immutable, as in Kubernetes.
func (controllerRevisionStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	cr, was := obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
	errs := validateControllerRevision(cr)
	if !apiequality.Semantic.DeepEqual(cr.Data, was.Data) {
		errs = append(errs, field.Invalid(field.NewPath("data"), "", "field is immutable"))
	}
	return errs
}

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	var errs field.ErrorList
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	if cr.Revision < 0 {
		errs = append(errs, field.Invalid(field.NewPath("revision"), cr.Revision, "must be greater than or equal to 0"))
	}
	return errs
}
