// Package node defines node.k8s.io/v1 RuntimeClasses: the container
// runtime configurations a pod may ask for by name, with the overhead
// they add to the pod and where pods using them may run.
package node

import (
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/kinds/core"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the node.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor { return []*apiresource.Descriptor{RuntimeClasses()} }

// RuntimeClasses: cluster-scoped.
func RuntimeClasses() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(nodev1.SchemeGroupVersion, "runtimeclasses", &nodev1.RuntimeClass{}, &nodev1.RuntimeClassList{})
	d.Strategy = runtimeClassStrategy{}
	d.Table = printers.RuntimeClass()
	return d
}

// runtimeClassStrategy validates RuntimeClasses as Kubernetes'
// pkg/apis/node/validation does. The handler names the runtime
// configuration on every node, so it cannot change: pods already running
// with the class run with the old one.
type runtimeClassStrategy struct{ apiresource.DefaultStrategy }

func (runtimeClassStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateRuntimeClass(obj.(*nodev1.RuntimeClass))
}

func (runtimeClassStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	rc, was := obj.(*nodev1.RuntimeClass), old.(*nodev1.RuntimeClass)
	errs := validateRuntimeClass(rc)
	return append(errs, apivalidation.ValidateImmutableField(rc.Handler, was.Handler, field.NewPath("handler"))...)
}

func validateRuntimeClass(rc *nodev1.RuntimeClass) field.ErrorList {
	var errs field.ErrorList
	hpath := field.NewPath("handler")
	if rc.Handler == "" {
		errs = append(errs, field.Required(hpath, ""))
	} else {
		for _, msg := range apivalidation.NameIsDNSLabel(rc.Handler, false) {
			errs = append(errs, field.Invalid(hpath, rc.Handler, msg))
		}
	}
	if o := rc.Overhead; o != nil {
		// The fixed overhead is checked as a container's limits, and
		// reported under "overhead.limits" as Kubernetes reports it.
		errs = append(errs, core.ValidateResourceRequirements(&corev1.ResourceRequirements{Limits: o.PodFixed}, field.NewPath("overhead"))...)
	}
	if s := rc.Scheduling; s != nil {
		spath := field.NewPath("scheduling")
		errs = append(errs, metav1validation.ValidateLabels(s.NodeSelector, spath.Child("nodeSelector"))...)
		errs = append(errs, validateTolerations(s.Tolerations, spath.Child("tolerations"))...)
	}
	return errs
}

// validateTolerations checks each toleration as a pod's, and that none
// repeats another's key, operator, value and effect: the scheduler merges
// them into the pod's by those.
func validateTolerations(tolerations []corev1.Toleration, path *field.Path) field.ErrorList {
	errs := core.ValidateTolerations(tolerations, path)
	seen := map[corev1.Toleration]bool{}
	for i, t := range tolerations {
		key := corev1.Toleration{Key: t.Key, Operator: t.Operator, Value: t.Value, Effect: t.Effect}
		if seen[key] {
			errs = append(errs, field.Duplicate(path.Index(i), t))
		}
		seen[key] = true
	}
	return errs
}
