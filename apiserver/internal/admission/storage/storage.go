// Package storage holds kube-apiserver's storage admission plugins
// (plugin/pkg/admission/storage): DefaultStorageClass gives a new claim
// that names no class the cluster's default StorageClass,
// StorageObjectInUseProtection puts the protection finalizers on new
// claims and volumes so that the protection controllers can hold their
// deletion while they are in use, and PersistentVolumeClaimResize lets a
// claim's storage request grow only where its class allows expansion.
//
// The persistentvolume controller, not this package, gives the default
// class to claims created while there was none (upstream's retroactive
// default StorageClass assignment).
package storage

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"coracle.dev/apiserver/internal/admission"
)

// The annotations marking the default StorageClass, GA and beta.
const (
	IsDefaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	BetaIsDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// The protection finalizers, as pkg/volume/util names them.
const (
	PVCProtectionFinalizer = "kubernetes.io/pvc-protection"
	PVProtectionFinalizer  = "kubernetes.io/pv-protection"
)

var pvcsResource = schema.GroupResource{Resource: "persistentvolumeclaims"}

// Classes reads StorageClasses.
type Classes interface {
	// Get returns the class, or a NotFound error.
	Get(ctx context.Context, name string) (*storagev1.StorageClass, error)
	// List returns every class; the plugins do not modify them.
	List(ctx context.Context) ([]*storagev1.StorageClass, error)
}

// IsDefaultAnnotation reports whether a class is marked default, by the
// GA or the beta annotation; only the value "true" counts.
func IsDefaultAnnotation(m metav1.ObjectMeta) bool {
	return m.Annotations[IsDefaultStorageClassAnnotation] == "true" ||
		m.Annotations[BetaIsDefaultStorageClassAnnotation] == "true"
}

// DefaultClass picks the default class among classes, or nil when none is
// marked: of several, the newest, and of those created in the same
// instant the first by name, as Kubernetes' GetDefaultClass does, so that
// adding a new default takes over from an old one without a gap.
func DefaultClass(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	return admission.NewestDefault(classes, func(c *storagev1.StorageClass) bool { return IsDefaultAnnotation(c.ObjectMeta) })
}

// claimHasClass reports whether a claim asked for a class, even the empty
// one ("" means no class: a claim for a pre-made volume without one); the
// deprecated beta annotation counts as asking.
func claimHasClass(pvc *corev1.PersistentVolumeClaim) bool {
	if _, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return true
	}
	return pvc.Spec.StorageClassName != nil
}

// claimClass is the class a claim asked for, the beta annotation first,
// or "" for none.
func claimClass(pvc *corev1.PersistentVolumeClaim) string {
	if class, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return class
	}
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return ""
}
