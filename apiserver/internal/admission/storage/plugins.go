package storage

import (
	"context"
	"errors"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
)

// DefaultStorageClass sets a new claim's spec.storageClassName to the
// default class when the claim names none (nil, not ""), as Kubernetes'
// DefaultStorageClass plugin does. With no default class the claim is
// left without one.
type DefaultStorageClass struct {
	Classes Classes
}

// AdmitCreate implements genericstore.Admitter.
func (d *DefaultStorageClass) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || claimHasClass(pvc) {
		return nil
	}
	classes, err := d.Classes.List(ctx)
	if err != nil {
		return apierrors.NewForbidden(pvcsResource, pvc.Name, err)
	}
	if def := DefaultClass(classes); def != nil {
		pvc.Spec.StorageClassName = &def.Name
	}
	return nil
}

// ObjectInUseProtection adds the protection finalizer to every new claim
// and volume, as Kubernetes' StorageObjectInUseProtection plugin does:
// the pvc-protection controller removes it once no pod uses the claim,
// the pv-protection controller once the volume is not bound.
type ObjectInUseProtection struct{}

// AdmitCreate implements genericstore.Admitter.
func (ObjectInUseProtection) AdmitCreate(_ context.Context, obj runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.PersistentVolumeClaim:
		o.Finalizers = addFinalizer(o.Finalizers, PVCProtectionFinalizer)
	case *corev1.PersistentVolume:
		o.Finalizers = addFinalizer(o.Finalizers, PVProtectionFinalizer)
	}
	return nil
}

func addFinalizer(finalizers []string, f string) []string {
	if slices.Contains(finalizers, f) {
		return finalizers
	}
	return append(finalizers, f)
}

// PersistentVolumeClaimResize refuses a larger storage request on a claim
// unless the claim is bound and its StorageClass allows expansion, as
// Kubernetes' PersistentVolumeClaimResize plugin does. It is a validating
// plugin: it judges an update already valid (a smaller request is the
// validation's to refuse).
type PersistentVolumeClaimResize struct {
	Classes Classes
}

// AdmitCreate implements genericstore.Admitter: creates are not judged.
func (*PersistentVolumeClaimResize) AdmitCreate(context.Context, runtime.Object) error { return nil }

// AdmitUpdate implements genericstore.UpdateAdmitter.
func (r *PersistentVolumeClaimResize) AdmitUpdate(ctx context.Context, subresource string, obj, old runtime.Object) error {
	if subresource != "" {
		return nil
	}
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	oldPVC, ok := old.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	newSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	oldSize := oldPVC.Spec.Resources.Requests[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) <= 0 {
		return nil
	}
	if oldPVC.Status.Phase != corev1.ClaimBound {
		return apierrors.NewForbidden(pvcsResource, pvc.Name, errors.New("Only bound persistent volume claims can be expanded"))
	}
	if !r.allowResize(ctx, pvc, oldPVC) {
		return apierrors.NewForbidden(pvcsResource, pvc.Name, errors.New("only dynamically provisioned pvc can be resized and "+
			"the storageclass that provisions the pvc must support resize"))
	}
	return nil
}

// allowResize: the claim keeps naming one class, and that class exists and
// says allowVolumeExpansion: true.
func (r *PersistentVolumeClaimResize) allowResize(ctx context.Context, pvc, oldPVC *corev1.PersistentVolumeClaim) bool {
	class, oldClass := claimClass(pvc), claimClass(oldPVC)
	if class == "" || oldClass == "" || class != oldClass {
		return false
	}
	sc, err := r.Classes.Get(ctx, class)
	if err != nil {
		return false
	}
	return sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
}
