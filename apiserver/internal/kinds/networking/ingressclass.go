package networking

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// IngressClasses: cluster-scoped; the annotation
// ingressclass.kubernetes.io/is-default-class marks the class of Ingresses
// that name none.
func IngressClasses() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(networkingv1.SchemeGroupVersion, "ingressclasses", &networkingv1.IngressClass{}, &networkingv1.IngressClassList{})
	d.TracksGeneration = true
	d.Strategy = ingressClassStrategy{}
	d.Table = printers.IngressClass()
	return d
}

// ingressClassStrategy defaults and validates IngressClasses as
// Kubernetes' networking.k8s.io/v1 API and pkg/apis/networking/validation
// do. The controller is fixed at creation: an Ingress controller claims
// the Ingresses of its classes, and a class changing hands would leave
// them served by two or none.
type ingressClassStrategy struct{ apiresource.DefaultStrategy }

// Default: parameters refer to a cluster-scoped object unless they say
// otherwise.
func (ingressClassStrategy) Default(obj runtime.Object) {
	if p := obj.(*networkingv1.IngressClass).Spec.Parameters; p != nil && p.Scope == nil {
		p.Scope = ptr.To(networkingv1.IngressClassParametersReferenceScopeCluster)
	}
}

func (ingressClassStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateIngressClassSpec(&obj.(*networkingv1.IngressClass).Spec)
}

func (ingressClassStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ic, was := obj.(*networkingv1.IngressClass), old.(*networkingv1.IngressClass)
	errs := apivalidation.ValidateImmutableField(ic.Spec.Controller, was.Spec.Controller, specPath.Child("controller"))
	return append(errs, validateIngressClassSpec(&ic.Spec)...)
}

// maxControllerLength bounds spec.controller.
const maxControllerLength = 250

var parameterScopes = sets.New(networkingv1.IngressClassParametersReferenceScopeNamespace, networkingv1.IngressClassParametersReferenceScopeCluster)

func validateIngressClassSpec(spec *networkingv1.IngressClassSpec) field.ErrorList {
	var errs field.ErrorList
	cpath := specPath.Child("controller")
	if len(spec.Controller) > maxControllerLength {
		errs = append(errs, field.TooLong(cpath, "", maxControllerLength))
	}
	errs = append(errs, validation.IsDomainPrefixedPath(cpath, spec.Controller)...)
	if p := spec.Parameters; p != nil {
		errs = append(errs, validateParameters(p, specPath.Child("parameters"))...)
	}
	return errs
}

// validateParameters checks the reference to the class's configuration:
// a kind and name, and a namespace exactly when the scope is Namespace.
func validateParameters(p *networkingv1.IngressClassParametersReference, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.APIGroup != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*p.APIGroup) {
			errs = append(errs, field.Invalid(path.Child("apiGroup"), *p.APIGroup, msg))
		}
	}
	for _, f := range []struct{ name, value string }{{"kind", p.Kind}, {"name", p.Name}} {
		if f.value == "" {
			errs = append(errs, field.Required(path.Child(f.name), ""))
			continue
		}
		for _, msg := range content.IsPathSegmentName(f.value) {
			errs = append(errs, field.Invalid(path.Child(f.name), f.value, msg))
		}
	}
	if p.Scope == nil {
		return append(errs, field.Required(path.Child("scope"), ""))
	}
	switch *p.Scope {
	case networkingv1.IngressClassParametersReferenceScopeNamespace:
		if p.Namespace == nil {
			errs = append(errs, field.Required(path.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
			break
		}
		for _, msg := range apivalidation.ValidateNamespaceName(*p.Namespace, false) {
			errs = append(errs, field.Invalid(path.Child("namespace"), *p.Namespace, msg))
		}
	case networkingv1.IngressClassParametersReferenceScopeCluster:
		if p.Namespace != nil {
			errs = append(errs, field.Forbidden(path.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("scope"), *p.Scope, sets.List(parameterScopes)))
	}
	return errs
}
