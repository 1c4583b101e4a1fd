package core

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// namespaceStrategy: a new namespace is Active with the "kubernetes"
// finalizer; deleting it makes it Terminating until the namespace
// controller empties it and clears spec.finalizers through /finalize.
type namespaceStrategy struct{ apiresource.DefaultStrategy }

var _ apiresource.DeletionHolder = namespaceStrategy{}

func (namespaceStrategy) PrepareForCreate(obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	if !hasFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
}

// Default labels every namespace with its own name, as Kubernetes does on
// every write: webhooks' and NetworkPolicies' namespaceSelectors select
// namespaces by it, so a client may neither remove nor change it.
func (namespaceStrategy) Default(obj runtime.Object) {
	setNameLabel(obj.(*corev1.Namespace))
}

func setNameLabel(ns *corev1.Namespace) {
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

func (namespaceStrategy) PrepareForUpdate(obj, old runtime.Object) {
	// spec.finalizers change only through /finalize.
	obj.(*corev1.Namespace).Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
}

// standardFinalizers are the finalizer names Kubernetes allows without a
// domain prefix.
var standardFinalizers = sets.New(string(corev1.FinalizerKubernetes), metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents)

// Validate checks spec.finalizers: qualified names, unprefixed only when
// standard.
func (namespaceStrategy) Validate(obj runtime.Object) field.ErrorList {
	ns := obj.(*corev1.Namespace)
	var errs field.ErrorList
	for i, f := range ns.Spec.Finalizers {
		p := field.NewPath("spec", "finalizers").Index(i)
		if fe := apivalidation.ValidateFinalizerName(string(f), p); len(fe) > 0 {
			errs = append(errs, fe...)
			continue
		}
		if !strings.Contains(string(f), "/") && !standardFinalizers.Has(string(f)) {
			errs = append(errs, field.Invalid(p, string(f), "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

// ValidateStatusUpdate also puts the name label back: a status write may
// change labels, and the store defaults nothing on it, so this is the one
// place before storage where the label can be kept (Kubernetes does it in
// the strategy's Canonicalize, which runs on every write).
func (namespaceStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	setNameLabel(ns)
	var errs field.ErrorList
	if oldNS.DeletionTimestamp != nil && ns.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(field.NewPath("status", "phase"), ns.Status.Phase, "a namespace being deleted must stay Terminating"))
	}
	return errs
}

func (namespaceStrategy) HoldsDeletion(obj runtime.Object) bool {
	return len(obj.(*corev1.Namespace).Spec.Finalizers) > 0
}

func (namespaceStrategy) MarkDeleting(obj runtime.Object) {
	obj.(*corev1.Namespace).Status.Phase = corev1.NamespaceTerminating
}

func hasFinalizer(list []corev1.FinalizerName, f corev1.FinalizerName) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}
