// Package apiextensions serves apiextensions.k8s.io/v1
// CustomResourceDefinitions. The rules are Kubernetes' own: the object is
// converted to apiextensions-apiserver's internal type and handed to its
// registry strategy (defaults kept, storedVersions, generation,
// disabled fields dropped) and validation package (names, versions,
// structural schemas, CEL rules, subresources, conversion), so a CRD
// Kubernetes refuses is refused here with the same field paths. Serving
// the custom resources a CRD defines is the server's crd controller's work.
package apiextensions

import (
	"context"
	"fmt"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdregistry "k8s.io/apiextensions-apiserver/pkg/registry/customresourcedefinition"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the group's kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{CustomResourceDefinitions()}
}

// CustomResourceDefinitions: cluster-scoped, status owned by /status,
// deletion held by the cleanup finalizer until the instances are gone.
func CustomResourceDefinitions() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(apiextensionsv1.SchemeGroupVersion, "customresourcedefinitions",
		&apiextensionsv1.CustomResourceDefinition{}, &apiextensionsv1.CustomResourceDefinitionList{})
	d.ShortNames = []string{"crd", "crds"}
	d.Categories = []string{"api-extensions"}
	d.Subresources = []string{apiresource.Status}
	d.TracksGeneration = true
	d.Strategy = crdStrategy{}
	d.Table = printers.CustomResourceDefinition()
	return d
}

// scheme converts between v1 and the internal type upstream's strategy
// and validation take.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := apiextensions.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

var upstream = crdregistry.NewStrategy(scheme)
var upstreamStatus = crdregistry.NewStatusStrategy(scheme)

// Internal converts a v1 CRD to apiextensions-apiserver's internal type.
func Internal(crd *apiextensionsv1.CustomResourceDefinition) (*apiextensions.CustomResourceDefinition, error) {
	out := &apiextensions.CustomResourceDefinition{}
	if err := scheme.Convert(crd, out, nil); err != nil {
		return nil, fmt.Errorf("convert CustomResourceDefinition %s: %w", crd.Name, err)
	}
	return out, nil
}

// external writes in back into crd after upstream's strategy changed it.
func external(in *apiextensions.CustomResourceDefinition, crd *apiextensionsv1.CustomResourceDefinition) {
	out := &apiextensionsv1.CustomResourceDefinition{}
	if err := scheme.Convert(in, out, nil); err != nil {
		// Both types are Kubernetes' own and convert both ways; failing
		// here is a programming error.
		panic(fmt.Sprintf("convert CustomResourceDefinition %s back: %v", in.Name, err))
	}
	*crd = *out
}

type crdStrategy struct{ apiresource.DefaultStrategy }

func (crdStrategy) Default(obj runtime.Object) {
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(obj.(*apiextensionsv1.CustomResourceDefinition))
}

// mutate runs one of upstream's preparations on the internal form.
func mutate(crd *apiextensionsv1.CustomResourceDefinition, old *apiextensionsv1.CustomResourceDefinition,
	f func(in, old *apiextensions.CustomResourceDefinition)) {
	in, err := Internal(crd)
	if err != nil {
		return // Validate reports it
	}
	var oldIn *apiextensions.CustomResourceDefinition
	if old != nil {
		if oldIn, err = Internal(old); err != nil {
			return
		}
	}
	f(in, oldIn)
	external(in, crd)
}

func (crdStrategy) PrepareForCreate(obj runtime.Object) {
	crd := obj.(*apiextensionsv1.CustomResourceDefinition)
	mutate(crd, nil, func(in, _ *apiextensions.CustomResourceDefinition) {
		upstream.PrepareForCreate(context.Background(), in)
	})
}

func (crdStrategy) PrepareForUpdate(obj, old runtime.Object) {
	crd := obj.(*apiextensionsv1.CustomResourceDefinition)
	mutate(crd, old.(*apiextensionsv1.CustomResourceDefinition), func(in, oldIn *apiextensions.CustomResourceDefinition) {
		upstream.PrepareForUpdate(context.Background(), in, oldIn)
	})
}

func (crdStrategy) Validate(obj runtime.Object) field.ErrorList {
	in, err := Internal(obj.(*apiextensionsv1.CustomResourceDefinition))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return upstream.Validate(context.Background(), in)
}

func (crdStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	in, err := Internal(obj.(*apiextensionsv1.CustomResourceDefinition))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	oldIn, err := Internal(old.(*apiextensionsv1.CustomResourceDefinition))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return upstream.ValidateUpdate(context.Background(), in, oldIn)
}

func (crdStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	in, err := Internal(obj.(*apiextensionsv1.CustomResourceDefinition))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	oldIn, err := Internal(old.(*apiextensionsv1.CustomResourceDefinition))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	upstreamStatus.PrepareForUpdate(context.Background(), in, oldIn)
	return upstreamStatus.ValidateUpdate(context.Background(), in, oldIn)
}

func (crdStrategy) Warnings(obj runtime.Object) []string {
	in, err := Internal(obj.(*apiextensionsv1.CustomResourceDefinition))
	if err != nil {
		return nil
	}
	return upstream.WarningsOnCreate(context.Background(), in)
}

// HoldsDeletion keeps a CRD until its cleanup finalizer is gone: the first
// delete adds it (MarkDeleting), and the crd controller removes it once
// every instance is deleted, as Kubernetes' CRD storage and finalizer
// controller do.
func (crdStrategy) HoldsDeletion(obj runtime.Object) bool {
	crd := obj.(*apiextensionsv1.CustomResourceDefinition)
	return crd.DeletionTimestamp == nil || HasCleanupFinalizer(crd)
}

// MarkDeleting adds the cleanup finalizer and the Terminating condition.
func (crdStrategy) MarkDeleting(obj runtime.Object) {
	crd := obj.(*apiextensionsv1.CustomResourceDefinition)
	if !HasCleanupFinalizer(crd) {
		crd.Finalizers = append(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer)
	}
	if FindCondition(crd, apiextensionsv1.Terminating) == nil {
		SetCondition(crd, apiextensionsv1.CustomResourceDefinitionCondition{
			Type: apiextensionsv1.Terminating, Status: apiextensionsv1.ConditionTrue, Reason: "InstanceDeletionPending",
			Message: "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
		})
	}
}

// HasCleanupFinalizer reports whether crd still waits for its instances to
// be deleted.
func HasCleanupFinalizer(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, f := range crd.Finalizers {
		if f == apiextensionsv1.CustomResourceCleanupFinalizer {
			return true
		}
	}
	return false
}

// FindCondition returns crd's condition of type t, nil if none.
func FindCondition(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) *apiextensionsv1.CustomResourceDefinitionCondition {
	for i := range crd.Status.Conditions {
		if crd.Status.Conditions[i].Type == t {
			return &crd.Status.Conditions[i]
		}
	}
	return nil
}

// SetCondition sets a condition, keeping lastTransitionTime when the
// status does not change.
func SetCondition(crd *apiextensionsv1.CustomResourceDefinition, c apiextensionsv1.CustomResourceDefinitionCondition) {
	c.LastTransitionTime = metav1.Now()
	if cur := FindCondition(crd, c.Type); cur != nil {
		if cur.Status == c.Status {
			c.LastTransitionTime = cur.LastTransitionTime
		}
		*cur = c
		return
	}
	crd.Status.Conditions = append(crd.Status.Conditions, c)
}

// IsConditionTrue reports whether crd's condition t is True.
func IsConditionTrue(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) bool {
	c := FindCondition(crd, t)
	return c != nil && c.Status == apiextensionsv1.ConditionTrue
}
